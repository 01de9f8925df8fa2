// Two DOM helpers the page's modules share. Elements are built with createElement and
// textContent only, never from HTML strings. The document is a parameter (node tests
// pass a small fake).

/** ``make(tag, props, ...children)``: createElement with properties, attributes and
 *  text or element children, in ``doc``. */
export function elementMaker(doc) {
  return function make(tag, props = {}, ...children) {
    const el = doc.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value == null || value === false) continue;
      if (key === "className") el.className = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key === "text") el.textContent = value;
      else if (key === "hidden") el.hidden = Boolean(value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child == null || child === false) continue;
      el.append(typeof child === "object" ? child : doc.createTextNode(String(child)));
    }
    return el;
  };
}

/** Play a CSS animation class ("changed", "found") on ``el`` again from its start. */
export function highlight(el, className) {
  el.classList.remove("changed", "found");
  void el.offsetWidth; // restart the animation
  el.classList.add(className);
}

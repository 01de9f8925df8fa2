// A small stand-in for the browser's document, enough for the page's modules that build
// elements (createElement, textContent, classList, dataset...). Not a test file itself.

class FakeText {
  constructor(text) {
    this.data = String(text);
    this.parentNode = null;
  }

  get textContent() {
    return this.data;
  }
}

export class FakeElement {
  constructor(doc, tagName, namespaceURI = "http://www.w3.org/1999/xhtml") {
    this.ownerDocument = doc;
    this.tagName = tagName.toUpperCase();
    this.namespaceURI = namespaceURI;
    this.childNodes = [];
    this.parentNode = null;
    this.attributes = new Map();
    this.dataset = {};
    this.style = {};
    this.hidden = false;
    this.listeners = new Map();
    this.focused = 0;
    this.scrolled = [];
    this.offsetWidth = 100;
    const classes = new Set();
    this.classList = {
      add: (...names) => names.forEach((n) => classes.add(n)),
      remove: (...names) => names.forEach((n) => classes.delete(n)),
      toggle: (name, force = !classes.has(name)) => {
        if (force) classes.add(name);
        else classes.delete(name);
        return force;
      },
      contains: (name) => classes.has(name),
      get size() {
        return classes.size;
      },
      values: () => [...classes],
    };
    this._classes = classes;
  }

  get className() {
    return [...this._classes].join(" ");
  }

  set className(value) {
    this._classes.clear();
    for (const name of String(value).split(/\s+/)) if (name) this._classes.add(name);
  }

  get children() {
    return this.childNodes.filter((n) => n instanceof FakeElement);
  }

  get textContent() {
    return this.childNodes.map((n) => n.textContent).join("");
  }

  set textContent(value) {
    this.replaceChildren();
    if (value !== "" && value != null) this.append(new FakeText(value));
  }

  setAttribute(name, value) {
    if (name === "class") this.className = value;
    this.attributes.set(name, String(value));
  }

  getAttribute(name) {
    if (name === "class") return this.className;
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }

  hasAttribute(name) {
    return this.attributes.has(name);
  }

  removeAttribute(name) {
    this.attributes.delete(name);
  }

  get id() {
    return this.getAttribute("id") ?? "";
  }

  #adopt(node) {
    if (typeof node === "string") node = new FakeText(node);
    if (node.parentNode) node.parentNode.childNodes.splice(node.parentNode.childNodes.indexOf(node), 1);
    node.parentNode = this;
    return node;
  }

  append(...nodes) {
    for (const node of nodes) this.childNodes.push(this.#adopt(node));
  }

  replaceChildren(...nodes) {
    for (const node of this.childNodes) node.parentNode = null;
    this.childNodes = [];
    this.append(...nodes);
  }

  insertBefore(node, before) {
    const adopted = this.#adopt(node);
    const at = before ? this.childNodes.indexOf(before) : -1;
    if (at < 0) this.childNodes.push(adopted);
    else this.childNodes.splice(at, 0, adopted);
    return adopted;
  }

  remove() {
    if (!this.parentNode) return;
    this.parentNode.childNodes.splice(this.parentNode.childNodes.indexOf(this), 1);
    this.parentNode = null;
  }

  #sibling(step) {
    if (!this.parentNode) return null;
    const siblings = this.parentNode.children;
    return siblings[siblings.indexOf(this) + step] ?? null;
  }

  get nextElementSibling() {
    return this.#sibling(1);
  }

  get previousElementSibling() {
    return this.#sibling(-1);
  }

  /** Every element below, depth first. */
  *descendants() {
    for (const child of this.children) {
      yield child;
      yield* child.descendants();
    }
  }

  /** Only ".class" and "tag" selectors. */
  querySelectorAll(selector) {
    const match = selector.startsWith(".")
      ? (el) => el.classList.contains(selector.slice(1))
      : (el) => el.tagName === selector.toUpperCase();
    return [...this.descendants()].filter(match);
  }

  querySelector(selector) {
    return this.querySelectorAll(selector)[0] ?? null;
  }

  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }

  /** Test control: call the listeners of ``type``. */
  fire(type, event = {}) {
    const full = { type, target: this, preventDefault() {}, ...event };
    for (const fn of this.listeners.get(type) || []) fn(full);
  }

  focus() {
    this.focused += 1;
    this.ownerDocument.activeElement = this;
  }

  scrollIntoView(options) {
    this.scrolled.push(options);
  }
}

export function fakeDocument() {
  const doc = {
    activeElement: null,
    createElement: (tag) => new FakeElement(doc, tag),
    createElementNS: (ns, tag) => new FakeElement(doc, tag, ns),
    createTextNode: (text) => new FakeText(text),
  };
  return doc;
}

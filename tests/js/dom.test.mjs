import assert from "node:assert/strict";
import { test } from "node:test";

import { elementMaker, highlight } from "../../src/weatherstream/static/weatherstream/js/dom.js";
import { fakeDocument } from "./fake-dom.mjs";

test("elementMaker sets class, dataset, text, hidden and attributes; skips null and false", () => {
  const h = elementMaker(fakeDocument());
  const el = h(
    "button",
    { className: "a b", dataset: { location: "7" }, type: "button", "aria-label": "Remove", title: null, disabled: false, autofocus: true },
    "x ",
    null,
    false,
    h("span", { text: "<b>y</b>", hidden: 1 }),
    3,
  );
  assert.equal(el.tagName, "BUTTON");
  assert.equal(el.className, "a b");
  assert.equal(el.dataset.location, "7");
  assert.equal(el.getAttribute("type"), "button");
  assert.equal(el.getAttribute("aria-label"), "Remove");
  assert.equal(el.getAttribute("autofocus"), "");
  assert.equal(el.hasAttribute("title"), false);
  assert.equal(el.hasAttribute("disabled"), false);
  assert.equal(el.textContent, "x <b>y</b>3"); // text, never markup
  assert.equal(el.children.length, 1);
  assert.equal(el.children[0].hidden, true);
});

test("highlight restarts an animation class, one at a time", () => {
  const el = fakeDocument().createElement("article");
  el.classList.add("card", "changed");
  highlight(el, "found");
  assert.deepEqual(el.classList.values(), ["card", "found"]);
  highlight(el, "changed");
  assert.deepEqual(el.classList.values(), ["card", "changed"]);
});

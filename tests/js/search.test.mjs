import assert from "node:assert/strict";
import { test } from "node:test";

import {
  HINT,
  didYouMean,
  isRetrying,
  meantLabel,
  nextActive,
  parseErrorText,
  parseQuery,
  pickedQuery,
  refusal,
  searchBox,
  suggestionList,
  suggestionWhere,
  wantsSuggestions,
} from "../../src/weatherstream/static/weatherstream/js/search.js";
import { fakeDocument } from "./fake-dom.mjs";

test("a typed text is coordinates or a city", () => {
  assert.deepEqual(parseQuery("52.52, 13.405"), { lat: 52.52, lon: 13.405 });
  assert.deepEqual(parseQuery("-33.9 151.2"), { lat: -33.9, lon: 151.2 });
  assert.deepEqual(parseQuery("  São   Paulo "), { city: "São Paulo" });
  assert.deepEqual(parseQuery("Paris, FR"), { city: "Paris, FR" });
  assert.deepEqual(parseQuery("52.52"), { city: "52.52" });
  assert.deepEqual(parseQuery("station:st-1a2b3c4d5e6f"), { station: "st-1a2b3c4d5e6f" });
  assert.deepEqual(parseQuery(" ST-1A2B3C4D5E6F "), { station: "st-1a2b3c4d5e6f" });
  assert.deepEqual(parseQuery("Station Road"), { city: "Station Road" });
});

test("what is wrong with a text is said in words", () => {
  let err;
  try {
    parseQuery("95, 10");
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof RangeError);
  assert.equal(parseErrorText(err), "Latitude must be between -90 and 90, longitude between -180 and 180.");
  try {
    parseQuery("   ");
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof TypeError);
  assert.equal(parseErrorText(err), "Type a city name or “lat, lon”.");
  assert.equal(HINT, "Type a city name or “lat, lon”.");
});

test("suggestions are asked for from two letters on, never for coordinates", () => {
  assert.equal(wantsSuggestions("Be", "/api/locations"), true);
  assert.equal(wantsSuggestions("B", "/api/locations"), false);
  assert.equal(wantsSuggestions("Berlin", ""), false);
  assert.equal(wantsSuggestions("52.5, 13.4", "/api/locations"), false);
  assert.equal(wantsSuggestions("52.5", "/api/locations"), true);
});

test("the suggestion list: named places only, at most eight", () => {
  const many = Array.from({ length: 12 }, (_, i) => ({ name: `Place ${i}` }));
  assert.deepEqual(suggestionList({ results: many }).map((r) => r.name), many.slice(0, 8).map((r) => r.name));
  assert.deepEqual(suggestionList({ results: [null, { name: "" }, { id: 1 }, { name: "Oslo" }] }), [{ name: "Oslo" }]);
  assert.deepEqual(suggestionList({ results: "Oslo" }), []);
  assert.deepEqual(suggestionList(null), []);
  assert.equal(suggestionList({ results: many }, 3).length, 3);
});

test("a suggestion's second line: region and country, without the name again", () => {
  assert.equal(suggestionWhere({ name: "Berlin", region: "Germany", country: "DE" }), "Germany, DE");
  assert.equal(suggestionWhere({ name: "Paris", region: "Texas", country: "US" }), "Texas, US");
  assert.equal(suggestionWhere({ name: "Singapore", region: "Singapore", country: "SG" }), "SG");
  assert.equal(suggestionWhere({ name: "Somewhere" }), "");
});

test("the arrow keys move through the list and wrap around", () => {
  assert.equal(nextActive(-1, 3, 1), 0);
  assert.equal(nextActive(0, 3, 1), 1);
  assert.equal(nextActive(2, 3, 1), 0);
  assert.equal(nextActive(-1, 3, -1), 2);
  assert.equal(nextActive(0, 3, -1), 2);
  assert.equal(nextActive(2, 3, -1), 1);
});

test("a picked place subscribes by coordinates, by name and country, or with its region", () => {
  assert.deepEqual(pickedQuery({ id: "52.52,13.405", name: "52.52, 13.405", lat: "52.52", lon: 13.405 }), {
    text: "52.52, 13.405",
    fallback: null,
  });
  assert.deepEqual(pickedQuery({ id: 2950159, name: "Berlin", region: "Germany", country: "DE" }), {
    text: "Berlin, Germany, DE",
    fallback: "Berlin, DE",
  });
  assert.deepEqual(pickedQuery({ id: 4717560, name: "Paris", region: "Texas", country: "US" }), {
    text: "Paris, Texas, US",
    fallback: "Paris, US",
  });
  assert.deepEqual(pickedQuery({ id: 1, name: "Monaco", region: "Monaco", country: "MC" }), { text: "Monaco, MC", fallback: null });
  assert.deepEqual(pickedQuery({ id: 2, name: "Vaduz", region: "LI", country: "LI" }), { text: "Vaduz, LI", fallback: null });
  assert.deepEqual(pickedQuery({ id: 3, name: "Atlantis", region: "Ocean" }), { text: "Atlantis", fallback: null });
  // a registered weather station (the API marks it): by its id, whatever its name
  assert.deepEqual(
    pickedQuery({ id: "st-1a2b3c4d5e6f", name: "Garden", region: "near Berlin", country: "DE", station: true }),
    { text: "station:st-1a2b3c4d5e6f", fallback: null },
  );
  assert.deepEqual(parseQuery(pickedQuery({ id: "st-1a2b3c4d5e6f", name: "Garden", station: true }).text), {
    station: "st-1a2b3c4d5e6f",
  });
  // an id that looks like coordinates but no numbers to go with it: by name
  assert.deepEqual(pickedQuery({ id: "1,2", name: "Odd", lat: "x", lon: 2, country: "ZZ" }), { text: "Odd, ZZ", fallback: null });
});

test("did you mean: usable places only, at most three, labelled by region or country", () => {
  const places = [
    { name: "Paris", region: "Île-de-France", country: "France", query: "Paris, FR" },
    { name: "Paris", region: "Texas", country: "United States", query: "Paris, Texas, US" },
    { name: "Broken" },
    { name: "Blank", query: "  " },
    { name: "Parys", country: "South Africa", query: "Parys, ZA" },
    { name: "Pari", query: "Pari" },
  ];
  assert.deepEqual(
    didYouMean(places).map((p) => p.query),
    ["Paris, FR", "Paris, Texas, US", "Parys, ZA"],
  );
  assert.deepEqual(didYouMean("Paris"), []);
  assert.equal(meantLabel(places[1]), "Paris, Texas");
  assert.equal(meantLabel(places[4]), "Parys, South Africa");
  assert.equal(meantLabel({ name: "Monaco", region: "Monaco" }), "Monaco");
  assert.equal(meantLabel({ name: "Pari" }), "Pari");
});

test("what the box says for each refusal", () => {
  const typed = { text: "Pariss", fromSearch: true };
  const stored = { text: "Atlantis", fromSearch: false };
  const meant = [{ name: "Paris", region: "Texas", query: "Paris, Texas, US" }];
  assert.equal(isRetrying("rate_limited"), true);
  assert.equal(isRetrying("unavailable"), true);
  assert.equal(isRetrying("unknown_city"), false);
  assert.deepEqual(refusal({ code: "unavailable", message: "Busy." }, typed), { text: "“Pariss”: Busy. Retrying shortly…", places: [] });
  assert.deepEqual(refusal({ code: "rate_limited" }, typed), {
    text: "“Pariss”: The server could not do that. Retrying shortly…",
    places: [],
  });
  assert.equal(refusal({ code: "rate_limited" }, stored), null);
  assert.deepEqual(refusal({ code: "unknown_city", message: "No such city.", suggestions: meant }, typed), {
    text: "No city called “Pariss”.",
    places: meant,
  });
  assert.deepEqual(refusal({ code: "unknown_city", message: "No such city.", suggestions: [] }, typed), {
    text: "No such city.",
    places: [],
  });
  assert.deepEqual(refusal({ code: "too_many_subscriptions", suggestions: meant }, typed), { text: "Couldn’t add “Pariss”.", places: [] });
  assert.deepEqual(refusal({ code: "unknown_city", message: "No such city.", suggestions: meant }, stored), {
    text: "Couldn’t restore “Atlantis”: No such city.",
    places: [],
  });
  assert.deepEqual(refusal({ code: "bad_request" }, stored), {
    text: "Couldn’t restore “Atlantis”: The server could not do that.",
    places: [],
  });
});

function fakeBox() {
  const doc = fakeDocument();
  const [form, input, list, error] = ["form", "input", "ul", "p"].map((tag) => doc.createElement(tag));
  input.value = "";
  input.selected = 0;
  input.select = () => (input.selected += 1);
  list.hidden = true;
  const asked = [];
  const box = searchBox({ doc, form, input, list, error, locationsUrl: "", subscribe: (...args) => asked.push(args) });
  return { doc, form, input, list, error, asked, box };
}

test("the box: submitting a text subscribes it, an empty one gets the hint", () => {
  const b = fakeBox();
  b.input.value = "  Oslo ";
  b.form.fire("submit");
  assert.deepEqual(b.asked, [["Oslo", { fromSearch: true }]]);
  assert.equal(b.input.value, "");
  b.form.fire("submit");
  assert.equal(b.error.textContent, HINT);
  assert.equal(b.input.getAttribute("aria-invalid"), "true");
  assert.equal(b.doc.activeElement, b.input);
  assert.equal(b.asked.length, 1);
  b.input.fire("input"); // typing clears the error
  assert.equal(b.error.textContent, "");
  assert.equal(b.input.hasAttribute("aria-invalid"), false);
  assert.equal(b.input.getAttribute("aria-expanded"), "false");
});

test("the box: did-you-mean buttons add the place they name", () => {
  const b = fakeBox();
  b.input.value = "Pariss";
  b.box.showError("No city called “Pariss”.", [
    { name: "Paris", region: "France", query: "Paris, FR" },
    { name: "Paris", region: "Texas", query: "Paris, Texas, US" },
  ]);
  const buttons = b.error.querySelectorAll("button");
  assert.equal(b.error.textContent, "No city called “Pariss”. Did you mean: Paris, France Paris, Texas");
  assert.deepEqual(buttons.map((x) => [x.getAttribute("type"), x.className]), [
    ["button", "search__meant"],
    ["button", "search__meant"],
  ]);
  buttons[1].fire("click");
  assert.deepEqual(b.asked, [["Paris, Texas, US", { fromSearch: true }]]);
  assert.equal(b.input.value, "");
  assert.equal(b.doc.activeElement, b.input);
  b.box.showError("Plain.");
  assert.equal(b.error.textContent, "Plain.");
  assert.equal(b.error.querySelectorAll("button").length, 0);
});

test("the box: a refused text comes back into an empty box, selected when focused", () => {
  const b = fakeBox();
  b.box.restore("Atlantis");
  assert.equal(b.input.value, "Atlantis");
  assert.equal(b.input.selected, 0);
  b.box.restore("Elsewhere"); // not over what is there
  assert.equal(b.input.value, "Atlantis");
  b.input.value = "";
  b.input.focus();
  b.box.restore("Atlantis");
  assert.equal(b.input.selected, 1);
});

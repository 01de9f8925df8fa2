import assert from "node:assert/strict";
import { test } from "node:test";

import {
  CITIES_KEY,
  cleanQueries,
  keyOf,
  pageStorage,
} from "../../src/weatherstream/static/weatherstream/js/storage.js";
import { stationText } from "../../src/weatherstream/static/weatherstream/js/place.js";
import { parseQuery } from "../../src/weatherstream/static/weatherstream/js/search.js";

/** localStorage's interface over a Map; ``writes`` counts setItem calls. */
function fakeStorage(initial = {}) {
  const items = new Map(Object.entries(initial));
  return {
    items,
    writes: 0,
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem(key, value) {
      this.writes += 1;
      items.set(key, String(value));
    },
  };
}

const stored = (storage, key = CITIES_KEY) => JSON.parse(storage.items.get(key));

test("keyOf joins spellings that differ in spaces or letter case only", () => {
  assert.equal(keyOf("  New   York "), "new york");
  assert.equal(keyOf("BERLIN"), "berlin");
  assert.equal(keyOf(52.5), "52.5");
  assert.notEqual(keyOf("Paris, FR"), keyOf("Paris FR"));
});

test("a stored list is cleaned: strings, older {city} and {lat, lon} entries, once each", () => {
  assert.deepEqual(
    cleanQueries([" Berlin ", { city: "Paris" }, { lat: 52.5, lon: 13.4 }, "berlin", "  ", 7, null, { lat: 1 }, "PARIS"]),
    ["Berlin", "Paris", "52.5, 13.4"],
  );
  assert.deepEqual(cleanQueries({ city: "Berlin" }), []);
  assert.deepEqual(cleanQueries(null), []);
});

test("queries are read back in order; nothing or garbage stored reads as none", () => {
  assert.deepEqual(pageStorage(() => fakeStorage()).queries(), []);
  assert.deepEqual(pageStorage(() => fakeStorage({ [CITIES_KEY]: "not json" })).queries(), []);
  assert.deepEqual(pageStorage(() => fakeStorage({ [CITIES_KEY]: '"Berlin"' })).queries(), []);
  const storage = fakeStorage({ [CITIES_KEY]: '["Oslo", "Rome"]' });
  assert.deepEqual(pageStorage(() => storage).queries(), ["Oslo", "Rome"]);
});

test("remember adds a new query at the end, once in any spelling", () => {
  const storage = fakeStorage({ [CITIES_KEY]: '["Oslo"]' });
  const memory = pageStorage(() => storage);
  memory.remember("Rome");
  assert.deepEqual(stored(storage), ["Oslo", "Rome"]);
  memory.remember(" rome ");
  memory.remember("OSLO");
  assert.deepEqual(stored(storage), ["Oslo", "Rome"]);
  assert.equal(storage.writes, 1);
});

test("forget drops a query in any spelling and writes only when it was there", () => {
  const storage = fakeStorage({ [CITIES_KEY]: '["Oslo", "New York", "Rome"]' });
  const memory = pageStorage(() => storage);
  memory.forget("new  york");
  assert.deepEqual(stored(storage), ["Oslo", "Rome"]);
  memory.forget("Paris");
  assert.equal(storage.writes, 1);
  assert.deepEqual(memory.queries(), ["Oslo", "Rome"]);
});

test("units: remembered, cleaned when stored or read, defaults when none", () => {
  const storage = fakeStorage();
  const memory = pageStorage(() => storage);
  assert.deepEqual(memory.units(), { temperature: "C", speed: "kmh" });
  assert.deepEqual(memory.setUnits({ temperature: "F", speed: "knots" }), { temperature: "F", speed: "kmh" });
  assert.equal(storage.items.get("weatherstream.units"), '{"temperature":"F","speed":"kmh"}');
  assert.deepEqual(memory.units(), { temperature: "F", speed: "kmh" });
  storage.items.set("weatherstream.units", '{"temperature":"K","speed":"mph"}');
  assert.deepEqual(memory.units(), { temperature: "C", speed: "mph" });
});

test("a storage that throws (private mode, full, blocked) is a storage that forgets", () => {
  const throwing = {
    getItem() {
      throw new Error("SecurityError");
    },
    setItem() {
      throw new Error("QuotaExceededError");
    },
  };
  for (const getStorage of [
    () => throwing,
    () => {
      throw new Error("SecurityError: localStorage is blocked");
    },
  ]) {
    const memory = pageStorage(getStorage);
    assert.deepEqual(memory.queries(), []);
    assert.doesNotThrow(() => memory.remember("Berlin"));
    assert.doesNotThrow(() => memory.forget("Berlin"));
    assert.deepEqual(memory.units(), { temperature: "C", speed: "kmh" });
    assert.deepEqual(memory.setUnits({ temperature: "F" }), { temperature: "F", speed: "kmh" });
  }
});

test("by default it is the page's localStorage", () => {
  const storage = fakeStorage({ [CITIES_KEY]: '["Lima"]' });
  globalThis.localStorage = storage;
  try {
    assert.deepEqual(pageStorage().queries(), ["Lima"]);
  } finally {
    delete globalThis.localStorage;
  }
});

test("a station is remembered as station:<id> and read back as the same station", () => {
  const storage = fakeStorage();
  const memory = pageStorage(() => storage);
  memory.remember("Berlin");
  memory.remember(stationText("st-1a2b3c4d5e6f"));
  memory.remember("STATION:st-1A2B3C4D5E6F"); // the same station: not twice
  assert.deepEqual(stored(storage), ["Berlin", "station:st-1a2b3c4d5e6f"]);
  const [, text] = pageStorage(() => fakeStorage({ [CITIES_KEY]: storage.items.get(CITIES_KEY) })).queries();
  assert.deepEqual(parseQuery(text), { station: "st-1a2b3c4d5e6f" });
  memory.forget("station:st-1a2b3c4d5e6f");
  assert.deepEqual(stored(storage), ["Berlin"]);
});

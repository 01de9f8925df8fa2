import assert from "node:assert/strict";
import { test } from "node:test";

import {
  COORDS,
  RANGE_MESSAGE,
  looksLikeCoords,
  parseCoords,
  validCoords,
} from "../../src/weatherstream/static/weatherstream/js/place.js";

test("validCoords takes numbers or numeric strings within -90..90 and -180..180", () => {
  assert.deepEqual(validCoords(52.52, 13.405), { lat: 52.52, lon: 13.405 });
  assert.deepEqual(validCoords("-33.9", "151.2"), { lat: -33.9, lon: 151.2 });
  assert.deepEqual(validCoords(90, -180), { lat: 90, lon: -180 });
  assert.deepEqual(validCoords(-90, 180), { lat: -90, lon: 180 });
  assert.equal(validCoords(90.0001, 0), null);
  assert.equal(validCoords(-90.5, 0), null);
  assert.equal(validCoords(0, 180.5), null);
  assert.equal(validCoords(0, -181), null);
  assert.equal(validCoords("north", 0), null);
  assert.equal(validCoords(0, Infinity), null);
  assert.equal(validCoords(NaN, 0), null);
});

test("every accepted way of writing coordinates", () => {
  for (const text of ["52.52, 13.405", "52.52,13.405", "52.52;13.405", "52.52 13.405", " 52.52 ,  13.405 ", "+52.52, +13.405"]) {
    assert.deepEqual(parseCoords(text), { lat: 52.52, lon: 13.405 }, text);
    assert.equal(looksLikeCoords(text), true, text);
  }
  assert.deepEqual(parseCoords("-33, -70"), { lat: -33, lon: -70 });
  assert.deepEqual(parseCoords("0 0"), { lat: 0, lon: 0 });
});

test("anything else is not coordinates: null, so it can be a city", () => {
  for (const text of ["Berlin", "52.52", "52.52, 13.405, 7", "52,52 13,4", "52.52, east", ".5, 1", "1., 2", "", "1e3, 2"]) {
    assert.equal(parseCoords(text), null, text);
    assert.equal(looksLikeCoords(text), false, text);
  }
  assert.equal(COORDS.test("5 - 6"), false);
});

test("coordinates out of range are a RangeError that says the ranges", () => {
  for (const text of ["91, 0", "-90.01, 0", "0, 181", "0, -180.5", "200 200"]) {
    assert.equal(looksLikeCoords(text), true, text);
    assert.throws(() => parseCoords(text), (err) => err instanceof RangeError && err.message === RANGE_MESSAGE, text);
  }
  assert.equal(RANGE_MESSAGE, "Latitude must be between -90 and 90, longitude between -180 and 180.");
});

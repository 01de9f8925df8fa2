import assert from "node:assert/strict";
import { test } from "node:test";

import {
  COORDS,
  RANGE_MESSAGE,
  isStationId,
  looksLikeCoords,
  parseCoords,
  parseStationText,
  stationText,
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

test("a station's text form round-trips: station:<id>, or the id alone", () => {
  assert.equal(stationText("st-1a2b3c4d5e6f"), "station:st-1a2b3c4d5e6f");
  assert.equal(stationText(" ST-1A2B3C4D5E6F "), "station:st-1a2b3c4d5e6f");
  assert.equal(parseStationText(stationText("st-1a2b3c4d5e6f")), "st-1a2b3c4d5e6f");
  assert.equal(parseStationText("  Station: ST-1A2B3C4D5E6F "), "st-1a2b3c4d5e6f");
  assert.equal(parseStationText("st-1a2b3c4d5e6f"), "st-1a2b3c4d5e6f");
  assert.equal(parseStationText("station:anything"), "anything", "the server says whether it is one");
  for (const text of ["Berlin", "Station Road", "station:", "station: a b", "st-12", "st-1a2b3c4d5e6g", "52.5, 13.4"]) {
    assert.equal(parseStationText(text), null, text);
  }
});

test("a station's location id is told from a city's and a point's", () => {
  assert.equal(isStationId("st-1a2b3c4d5e6f"), true);
  assert.equal(isStationId("ST-1A2B3C4D5E6F"), true);
  for (const id of ["2950159", 2950159, "52.52,13.41", "", null, undefined, "best-1"]) {
    assert.equal(isStationId(id), false, String(id));
  }
});

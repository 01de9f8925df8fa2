import assert from "node:assert/strict";
import { test } from "node:test";

import * as fmt from "../../src/weatherstream/static/weatherstream/js/format.js";

test("temperatures convert from the metric wire", () => {
  assert.equal(fmt.temperature(0, "C"), 0);
  assert.equal(fmt.temperature(0, "F"), 32);
  assert.equal(fmt.temperature(-40, "F"), -40);
  assert.equal(fmt.temperature(37, "F"), 98.6);
  assert.equal(fmt.temperature(null, "F"), null);
  assert.equal(fmt.temperature("warm", "C"), null);
});

test("speeds convert from km/h", () => {
  assert.equal(fmt.speed(36, "kmh"), 36);
  assert.equal(fmt.speed(36, "ms"), 10);
  assert.ok(Math.abs(fmt.speed(100, "mph") - 62.137) < 0.001);
  assert.equal(fmt.speed(undefined, "mph"), null);
});

test("stored units are cleaned, unknown ones fall back to metric", () => {
  assert.deepEqual(fmt.cleanUnits(null), { temperature: "C", speed: "kmh" });
  assert.deepEqual(fmt.cleanUnits({ temperature: "F", speed: "knots" }), { temperature: "F", speed: "kmh" });
  assert.deepEqual(fmt.cleanUnits({ temperature: "K", speed: "mph" }), { temperature: "C", speed: "mph" });
  assert.deepEqual(fmt.cleanUnits("F"), { temperature: "C", speed: "kmh" });
});

test("every WMO code Open-Meteo sends has an icon and words", () => {
  for (const code of [0, 1, 2, 3, 45, 48, 51, 53, 55, 56, 57, 61, 63, 65, 66, 67, 71, 73, 75, 77, 80, 81, 82, 85, 86, 95, 96, 99]) {
    const icon = fmt.weatherIcon(code, true);
    assert.notEqual(icon.label, "Unknown conditions", `code ${code}`);
    assert.notEqual(icon.name, "unknown");
  }
  assert.deepEqual(fmt.weatherIcon(0, false), { name: "clear", label: "Clear", night: true });
  assert.equal(fmt.weatherIcon(95, true).name, "thunder");
  for (const code of [68, 69, 83, 84]) {  // MET Norway's sleet: rain and snow
    assert.deepEqual(fmt.weatherIcon(code, true), { name: "snow", label: "Rain and snow", night: false });
  }
  assert.equal(fmt.weatherIcon(1234).label, "Unknown conditions");
  assert.equal(fmt.weatherIcon(null).label, "Unknown conditions");
});

test("ages read naturally", () => {
  assert.equal(fmt.age(5), "5 s");
  assert.equal(fmt.age(125), "2 min");
  assert.equal(fmt.age(7200), "2 h");
  assert.equal(fmt.age(3 * 86400), "3 d");
  assert.equal(fmt.age(-3), "0 s");
});

import assert from "node:assert/strict";
import { test } from "node:test";

// Importing the widget module in node starts nothing: it mounts only where there is a document.
import { widgetView } from "../../src/weatherstream/static/weatherstream/js/widget.js";

test("a widget shows the temperature in its unit, one decimal", () => {
  const w = { temperature: 3.46, summary: "Overcast", weather_code: 3, is_day: true, source: "open-meteo" };
  assert.deepEqual(widgetView(w, "C"), {
    temperature: "3.5 °C",
    summary: "Overcast",
    marker: "",
    icon: { name: "cloudy", label: "Overcast", night: false },
    state: "live",
    source: "open-meteo",
  });
  assert.equal(widgetView(w, "F").temperature, "38.2 °F");
  assert.equal(widgetView({ temperature: null }, "C").temperature, "–");
  assert.equal(widgetView({ temperature: 1 }, "C").summary, "");
  assert.equal(widgetView({ temperature: 1 }, "C").source, "");
});

test("simulated and stale readings are marked, with the age", () => {
  assert.equal(widgetView({ temperature: 1, source: "simulated" }, "C").marker, "simulated");
  assert.equal(widgetView({ temperature: 1, stale: true }, "C").marker, "stale");
  assert.equal(widgetView({ temperature: 1, stale: true, age: 300 }, "C").marker, "stale, 5 min old");
  const both = widgetView({ temperature: 1, stale: true, age: 30, source: "simulated" }, "C");
  assert.equal(both.marker, "simulated · stale, 30 s old");
  assert.equal(both.state, "stale");
  assert.equal(widgetView({ temperature: 1, age: 30 }, "C").marker, "");
});

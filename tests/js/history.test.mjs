import assert from "node:assert/strict";
import { test } from "node:test";

import * as history from "../../src/weatherstream/static/weatherstream/js/history.js";

const at = (hour, temperature, source = "open-meteo") => ({
  observed_at: `2026-12-01T${String(hour).padStart(2, "0")}:00:00Z`,
  temperature,
  source,
});

test("points stay ordered, once each, within the window", () => {
  const h = history.emptyHistory();
  assert.equal(history.addPoint(h, at(1, 5)), true);
  assert.equal(history.addPoint(h, at(1, 6)), false); // the same time again
  assert.equal(history.addPoint(h, at(0, 4)), true); // older: put in its place
  assert.deepEqual(h.celsius, [4, 5]);
  assert.equal(history.addPoint(h, { ...at(2, null) }), false);
  assert.equal(history.addPoint(h, at(3, 7), 1), true); // a 1-hour window drops 00:00 and 01:00
  assert.deepEqual(h.celsius, [7]);
});

test("a real reading older than the newest simulated point replaces the made-up ones after it", () => {
  const h = history.emptyHistory();
  history.addPoint(h, at(1, 3)); // real
  history.addPoint(h, at(2, 20, "simulated")); // the auto fallback, stamped "now"
  history.addPoint(h, at(4, 21, "simulated"));
  assert.equal(history.addPoint(h, at(3, 4)), true); // real weather is back, for 03:00
  assert.deepEqual(h.celsius, [3, 20, 4]);
  assert.deepEqual(h.simulated, [false, true, false]);
  assert.deepEqual(history.chartSeries(h).real, [3, 4]);
});

test("simulated points are left out when real ones exist", () => {
  const h = history.emptyHistory();
  history.addPoint(h, at(1, 10, "simulated"));
  history.addPoint(h, at(2, 3));
  history.addPoint(h, at(3, 11, "simulated"));
  const s = history.chartSeries(h);
  assert.deepEqual(s.real, [3]);
  assert.deepEqual(s.simulated, [null]);
  assert.equal(s.times.length, 1);
  assert.equal(s.anyReal, true);
});

test("with only simulated points they form their own series, never the real one", () => {
  const h = history.emptyHistory();
  history.addPoint(h, at(1, 10, "simulated"));
  history.addPoint(h, at(2, 11, "simulated"));
  const s = history.chartSeries(h, (c) => c * 2);
  assert.deepEqual(s.real, [null, null]);
  assert.deepEqual(s.simulated, [20, 22]);
  assert.equal(s.anyReal, false);
});

test("the time axis spans the last 24 hours, even for a single point", () => {
  const now = Date.parse("2026-12-01T12:00:00Z") / 1000;
  assert.deepEqual(history.timeWindow([now - 60], now), [now - 86400, now]);
  assert.deepEqual(history.timeWindow([], now), [now - 86400, now]);
  assert.deepEqual(history.timeWindow([now + 30], now), [now + 30 - 86400, now + 30]);
});

test("past readings merge with the live points taken while they loaded", () => {
  const live = history.emptyHistory();
  history.addPoint(live, at(1, 99, "simulated")); // a time the past has: the past's point stays
  history.addPoint(live, at(2, 6)); // real: drops the past's simulated point after it
  history.addPoint(live, at(5, 8, "simulated")); // still simulated once merged
  const past = [at(0, 4), at(1, 5), at(3, 9, "simulated")];
  const merged = history.merged(past, live);
  assert.deepEqual(merged.celsius, [4, 5, 6, 8]);
  assert.deepEqual(merged.simulated, [false, false, false, true]);
  assert.deepEqual(merged.times, [0, 1, 2, 5].map((h) => Date.parse(at(h, 0).observed_at) / 1000));
  assert.deepEqual(history.merged([], history.emptyHistory()), history.emptyHistory());
  assert.deepEqual(live.celsius, [99, 6, 8], "the live series is left as it was");
});

test("isNewer: by observed_at; anything valid is newer than nothing shown", () => {
  assert.equal(history.isNewer(at(11, 1), at(10, 1)), true);
  assert.equal(history.isNewer(at(10, 1), at(10, 2)), false);
  assert.equal(history.isNewer(at(9, 1), at(10, 1)), false);
  assert.equal(history.isNewer(at(9, 1), undefined), true);
  assert.equal(history.isNewer(at(9, 1), { observed_at: null }), true);
  assert.equal(history.isNewer({ observed_at: "soon" }, at(9, 1)), false);
  assert.equal(history.isNewer(null, null), false);
});

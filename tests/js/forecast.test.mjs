import assert from "node:assert/strict";
import { test } from "node:test";

import { numberFormat } from "../../src/weatherstream/static/weatherstream/js/cards.js";
import * as forecast from "../../src/weatherstream/static/weatherstream/js/forecast.js";
import { fakeDocument } from "./fake-dom.mjs";
import { days, hours } from "./fake-forecast.mjs";

const number = numberFormat("en-US");
const metric = { temperature: "C", speed: "kmh" };
const imperial = { temperature: "F", speed: "mph" };
const HOUR = 3600 * 1000;

test("the strip: 48 hours from the hour now is in, converted, nulls kept", () => {
  const now = Date.parse("2026-12-01T09:20:00Z");
  const items = hours("2026-12-01T06:00:00Z", 72, (i) => (i === 5 ? { temperature: null, precipitation: null } : {}));
  const series = forecast.hourlySeries(items.slice().reverse(), { unit: "F", now });
  assert.equal(series.times.length, 48);
  assert.equal(series.times[0], Date.parse("2026-12-01T09:00:00Z") / 1000, "09:00, the hour 09:20 is in");
  assert.equal(series.times[47], Date.parse("2026-12-03T08:00:00Z") / 1000);
  assert.ok(series.times.every((t, i) => i === 0 || t - series.times[i - 1] === 3600), "in time order");
  // 09:00 is item 3: -0.5 °C = 31.1 °F; 10:00 = 32 °F; 11:00 (item 5) unknown
  assert.deepEqual(series.temperature.slice(0, 4).map((t) => (t == null ? t : Math.round(t * 10) / 10)), [31.1, 32, null, 33.8]);
  assert.deepEqual(series.precipitation.slice(0, 4), [0, 0.4, null, 0]);
  assert.equal(series.probability[0], 10);
  assert.deepEqual(forecast.hourlySeries(items, { now }).temperature.slice(0, 2), [-0.5, 0]);
  assert.equal(forecast.hourlySeries(items, { now: now + 70 * HOUR }).times.length, 0);
  assert.deepEqual(forecast.hourlySeries(null, { now }).times, []);
});

test("the strip in words and its heading", () => {
  const series = { times: [1, 2, 3], temperature: [-0.4, 5.26, null], precipitation: [0.4, null, 2] };
  assert.equal(forecast.hourlyText(series, "C", number), "0 to 5 °C, 2.4 mm precipitation");
  assert.equal(forecast.hourlyText({ ...series, precipitation: [null, null, null] }, "F", number), "0 to 5 °F");
  assert.equal(forecast.hourlyText({ times: [], temperature: [], precipitation: [] }, "C", number), "–");
  assert.equal(forecast.heading(48, "hour"), "Next 48 hours");
  assert.equal(forecast.heading(1, "day"), "Next 1 day");
});

test("the place's date, not the browser's or UTC's", () => {
  const now = Date.parse("2026-12-01T20:00:00Z");
  assert.equal(forecast.localDate(now, "Asia/Tokyo"), "2026-12-02");
  assert.equal(forecast.localDate(now, "America/Los_Angeles"), "2026-12-01");
  assert.equal(forecast.localDate(now, "Mars/Olympus_Mons"), "2026-12-01");
  assert.equal(forecast.localDate(now, ""), "2026-12-01");
});

test("what a day says, in the chosen units and on the place's clock", () => {
  const [item] = days("2026-12-01", 1);
  const view = forecast.dayView(item, imperial, { timeZone: "Asia/Tokyo", today: "2026-11-30", number, locale: "en-GB" });
  assert.deepEqual(
    { ...view, icon: view.icon.name },
    {
      date: "2026-12-01",
      name: "Tue",
      title: "Tuesday 1 December",
      icon: "rain",
      summary: "Slight rain",
      max: "40 °F",
      min: "30 °F",
      precipitation: "1.2 mm · 40 %",
      sunrise: { iso: "2026-12-01T06:58:00.000Z", text: "15:58" },
      sunset: { iso: "2026-12-01T14:55:00.000Z", text: "23:55" },
    },
  );
  const berlin = forecast.dayView(item, metric, { timeZone: "Europe/Berlin", today: "2026-12-01", number, locale: "en-GB" });
  assert.equal(berlin.name, "Today");
  assert.equal(berlin.max, "4 °C");
  assert.equal(berlin.min, "-1 °C");
  assert.equal(berlin.sunrise.text, "07:58");
  // MET Norway knows no probability; polar night has no sunrise
  const bare = forecast.dayView(
    { date: "2026-12-01", temperature_max: null, precipitation_sum: 0, sunrise: null, sunset: null, weather_code: 2 },
    metric,
    { today: "2026-12-01", number },
  );
  assert.equal(bare.max, null);
  assert.equal(bare.precipitation, "0.0 mm");
  assert.equal(bare.sunrise, null);
  assert.equal(bare.summary, "Weather code 2");
  assert.equal(forecast.dayView({ date: "2026-12-01" }, metric, { number }).precipitation, null);
  const likely = { date: "2026-12-01", precipitation_probability_max: 5 };
  assert.equal(forecast.dayView(likely, metric, { number }).precipitation, "5 %");
});

test("the list: 7 days from the place's today, the old list replaced", () => {
  const doc = fakeDocument();
  const part = forecast.createForecast(doc);
  assert.equal(part.el.hidden, true, "nothing shown before a forecast");
  assert.equal(part.refs.daily.hidden, true);
  // 05:00 on 2 December in Tokyo, still 1 December in UTC
  const now = Date.parse("2026-12-01T20:00:00Z");
  const frame = { kind: "daily", source: "open-meteo", issued_at: "2026-12-01T18:00:00Z", forecast: days("2026-12-01", 8) };
  const options = { timeZone: "Asia/Tokyo", now, number, locale: "en-GB" };
  forecast.showDaily(doc, part, frame, imperial, options);
  const items = part.el.querySelectorAll("li");
  assert.equal(items.length, 7);
  assert.deepEqual(
    items.map((li) => li.dataset.date),
    ["2026-12-02", "2026-12-03", "2026-12-04", "2026-12-05", "2026-12-06", "2026-12-07", "2026-12-08"],
  );
  const text = (li, name) => li.querySelector(`.forecast-day__${name}`)?.textContent;
  assert.deepEqual(
    ["name", "summary", "max", "min", "precipitation", "sunrise", "sunset"].map((n) => text(items[0], n)),
    ["Today", "Slight rain", "41 °F", "32 °F", "1.2 mm · 40 %", "↑ 15:58", "↓ 23:55"],
  );
  assert.equal(text(items[1], "name"), "Thu");
  assert.equal(items[0].querySelector(".forecast-day__icon").getAttribute("aria-label"), "Rain");
  assert.equal(part.refs.dailyTitle.textContent, "Next 7 days");
  assert.equal(part.refs.daily.dataset.days, "7");
  assert.equal(part.refs.daily.hidden, false);
  assert.equal(part.el.hidden, false);
  assert.equal(part.refs.hourly.hidden, true, "the strip waits for its own kind");

  const wetter = { ...frame, forecast: days("2026-12-02", 7, () => ({ precipitation_sum: 9, sunrise: null, sunset: null })) };
  forecast.showDaily(doc, part, wetter, metric, options);
  const again = part.el.querySelectorAll("li");
  assert.equal(again.length, 7, "replaced, not added to");
  assert.equal(text(again[0], "max"), "4 °C");
  assert.equal(text(again[0], "precipitation"), "9.0 mm · 40 %");
  assert.equal(again[0].querySelector(".forecast-day__sun"), null, "no sun line when the times are unknown");
});

test("where a forecast comes from; a simulated one is marked as such", () => {
  const doc = fakeDocument();
  const part = forecast.createForecast(doc);
  const frame = { kind: "daily", source: "simulated", issued_at: "2026-12-01T09:00:00Z", forecast: days("2026-12-01") };
  const options = { now: Date.parse("2026-12-01T10:00:00Z"), number };
  forecast.showDaily(doc, part, frame, metric, options);
  const source = part.refs.dailySource;
  assert.equal(source.textContent, "via simulated");
  assert.equal(source.classList.contains("card__source--simulated"), true);
  assert.equal(part.refs.daily.dataset.simulated, "true");
  assert.equal(part.refs.daily.dataset.source, "simulated");
  assert.equal(part.refs.daily.dataset.issuedAt, "2026-12-01T09:00:00.000Z");
  assert.match(source.getAttribute("title"), /^Issued /);
  forecast.showDaily(doc, part, { ...frame, source: "open-meteo" }, metric, options);
  assert.equal(source.textContent, "via open-meteo");
  assert.equal(source.classList.contains("card__source--simulated"), false);
  assert.equal(part.refs.daily.dataset.simulated, "false");
});

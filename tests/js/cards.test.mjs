import assert from "node:assert/strict";
import { test } from "node:test";

import {
  bannerState,
  compass,
  createCard,
  numberFormat,
  readingView,
  showReading,
  showWatchers,
  timeFormatter,
  trend,
  watchersText,
} from "../../src/weatherstream/static/weatherstream/js/cards.js";
import { fakeDocument } from "./fake-dom.mjs";

const number = numberFormat("en-US");
const berlinTime = () => timeFormatter("Europe/Berlin", "en-GB");
const metric = { temperature: "C", speed: "kmh" };
const imperial = { temperature: "F", speed: "mph" };

const reading = (extra = {}) => ({
  temperature: 3.46,
  feels_like: -0.04,
  humidity: 81.4,
  pressure: 1013.2,
  precipitation: 0.25,
  cloud_cover: 75,
  wind_speed: 14.6,
  wind_gusts: 30.2,
  wind_direction: 250,
  weather_code: 3,
  is_day: true,
  summary: "Overcast",
  observed_at: "2026-01-15T12:00:00Z",
  source: "open-meteo",
  ...extra,
});

test("numbers: the locale's digits, a dash for no number, never minus zero", () => {
  assert.equal(number(3.46, 1), "3.5");
  assert.equal(number(1013.2), "1,013");
  assert.equal(number(-0.04, 1), "0.0");
  assert.equal(number(-0.4), "0");
  assert.equal(number(-2.5, 1), "-2.5");
  assert.equal(number(null), "–");
  assert.equal(number("warm"), "–");
  assert.equal(numberFormat("de-DE")(-0.04, 1), "0,0");
  assert.equal(numberFormat("de-DE")(1.25, 1), "1,3");
});

test("compass points, all 16 and wrapped", () => {
  assert.equal(compass(0), "N");
  assert.equal(compass(11.24), "N");
  assert.equal(compass(11.25), "NNE");
  assert.equal(compass(90), "E");
  assert.equal(compass(250), "WSW");
  assert.equal(compass(349), "N");
  assert.equal(compass(360), "N");
  assert.equal(compass(-90), "W");
  assert.equal(compass(405), "NE");
  assert.deepEqual(
    Array.from({ length: 16 }, (_, i) => compass(i * 22.5)),
    ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"],
  );
});

test("trend: up or down only when both temperatures are known and differ", () => {
  assert.equal(trend(3, 4), "up");
  assert.equal(trend(3, -1), "down");
  assert.equal(trend(3, 3), null);
  assert.equal(trend(null, 3), null);
  assert.equal(trend(3, null), null);
});

test("what a card says for a full reading, metric", () => {
  assert.deepEqual(readingView(reading(), metric, { number, formatter: berlinTime }), {
    temperature: "3.5",
    unit: "°C",
    celsius: "3.46",
    summary: "Overcast",
    stale: false,
    staleText: "stale",
    day: "day",
    icon: { name: "cloudy", label: "Overcast", night: false },
    feels: "0.0 °C",
    humidity: "81 %",
    pressure: "1,013 hPa",
    precipitation: "0.3 mm",
    clouds: "75 %",
    wind: "15 km/h, gusts 30 km/h, from WSW",
    arrow: { transform: "rotate(70deg)", title: "Wind from WSW (250°)" },
    time: { iso: "2026-01-15T12:00:00.000Z", text: "13:00 CET", title: "15 Jan 2026, 13:00:00 CET" },
    source: "open-meteo",
    sourceText: "via open-meteo",
    simulated: false,
    staleTitle: "The latest update failed; this is the last good reading.",
    station: false,
  });
});

test("the same reading in °F and mph", () => {
  const view = readingView(reading(), imperial, { number, formatter: berlinTime });
  assert.equal(view.temperature, "38.2");
  assert.equal(view.unit, "°F");
  assert.equal(view.celsius, "3.46");
  assert.equal(view.feels, "31.9 °F");
  assert.equal(view.wind, "9 mph, gusts 19 mph, from WSW");
  assert.equal(readingView(reading(), { temperature: "C", speed: "ms" }, { number }).wind, "4 m/s, gusts 8 m/s, from WSW");
});

test("a simulated reading is marked as such", () => {
  const view = readingView(reading({ source: "simulated" }), metric, { number, formatter: berlinTime });
  assert.equal(view.sourceText, "via simulated");
  assert.equal(view.simulated, true);
  assert.equal(readingView(reading({ source: "" }), metric, { number }).sourceText, "");
  assert.equal(readingView(reading({ source: undefined }), metric, { number }).simulated, false);
});

test("a stale reading says how old it is", () => {
  const stale = (age) => readingView(reading({ stale: true, age }), metric, { number, formatter: berlinTime });
  assert.equal(stale(42).stale, true);
  assert.equal(stale(42).staleText, "stale · 42 s old");
  assert.equal(stale(600).staleText, "stale · 10 min old");
  assert.equal(stale(7200).staleText, "stale · 2 h old");
  assert.equal(stale(undefined).staleText, "stale");
  assert.equal(readingView(reading({ stale: false, age: 42 }), metric, { number }).staleText, "stale");
});

test("a reading with nothing but a temperature: dashes, no arrow, no time", () => {
  let asked = 0;
  const view = readingView({ temperature: -2 }, metric, { number, formatter: () => asked++ });
  assert.deepEqual(
    { ...view, icon: view.icon.name },
    {
      temperature: "-2.0",
      unit: "°C",
      celsius: "-2",
      summary: "–",
      stale: false,
      staleText: "stale",
      day: null,
      icon: "unknown",
      feels: "–",
      humidity: "–",
      pressure: "–",
      precipitation: "–",
      clouds: "–",
      wind: "–",
      arrow: null,
      time: null,
      source: "",
      sourceText: "",
      simulated: false,
      staleTitle: "The latest update failed; this is the last good reading.",
      station: false,
    },
  );
  assert.equal(asked, 0, "no time formatter made for no time");
  assert.equal(readingView({ temperature: null }, metric, { number }).celsius, null);
  assert.equal(readingView({ temperature: null }, metric, { number }).temperature, "–");
  assert.equal(readingView({ weather_code: 61, is_day: false }, metric, { number }).summary, "Weather code 61");
  assert.equal(readingView({ is_day: false }, metric, { number }).day, "night");
  assert.equal(readingView({ observed_at: "yesterday" }, metric, { number }).time, null);
  assert.equal(readingView({ wind_direction: "gusty", wind_speed: 5 }, metric, { number }).arrow, null);
  assert.equal(readingView({ wind_direction: "gusty", wind_speed: 5 }, metric, { number }).wind, "5 km/h");
  assert.equal(readingView({ wind_direction: 0 }, metric, { number }).wind, "from N");
});

test("an unknown time zone reads in UTC", () => {
  const f = timeFormatter("Mars/Olympus_Mons", "en-GB");
  assert.equal(f.short.format(new Date("2026-01-15T12:00:00Z")), "12:00 UTC");
  assert.equal(timeFormatter("", "en-GB").short.format(new Date("2026-01-15T12:00:00Z")), "12:00 UTC");
});

// A weather station's reading: measured values only, no weather code, summary, cloud cover
// or feels-like (the server sends them as null), is_day from the sun.
const stationReading = (extra = {}) => ({
  temperature: 10,
  feels_like: null,
  humidity: 80,
  pressure: 1015.9,
  precipitation: null,
  cloud_cover: null,
  wind_speed: null,
  wind_gusts: null,
  wind_direction: null,
  weather_code: null,
  summary: null,
  is_day: true,
  observed_at: "2026-01-15T12:00:00Z",
  source: "station:st-1a2b3c4d5e6f",
  stale: false,
  ...extra,
});

test("a station's reading: no summary or weather icon invented, its source named", () => {
  const view = readingView(stationReading(), metric, { number, formatter: berlinTime });
  assert.equal(view.temperature, "10.0");
  assert.equal(view.summary, "", "no 'Weather code' or dash where the station says nothing");
  assert.deepEqual(view.icon, { name: "station", label: "Weather station", night: false });
  assert.equal(view.feels, "–");
  assert.equal(view.clouds, "–");
  assert.equal(view.humidity, "80 %");
  assert.equal(view.source, "station:st-1a2b3c4d5e6f");
  assert.equal(view.sourceText, "via station st-1a2b3c4d5e6f");
  assert.equal(view.station, true);
  assert.equal(view.simulated, false);
  const stale = readingView(stationReading({ stale: true, age: 600 }), metric, { number });
  assert.equal(stale.staleText, "stale · 10 min old");
  assert.equal(stale.staleTitle, "The station has not uploaded for a while; this is its last reading.");
  // a code a station did send (none do today) is shown as any other
  assert.equal(readingView(stationReading({ weather_code: 3 }), metric, { number }).icon.name, "cloudy");
  // a real provider's reading without a code still says it has none
  assert.equal(readingView({ temperature: 1, source: "met-norway" }, metric, { number }).summary, "–");
  assert.equal(readingView({ temperature: 1, source: "met-norway" }, metric, { number }).icon.name, "unknown");
});

test("a station's card: marked as a station beside where it is; its reading shown plainly", () => {
  const doc = fakeDocument();
  const loc = { id: "st-1a2b3c4d5e6f", name: "Garden", country: "DE", region: "near Berlin", timezone: "Europe/Berlin" };
  const card = createCard(doc, loc, metric);
  assert.equal(card.el.classList.contains("card--station"), true);
  assert.equal(card.refs.region.hidden, false);
  assert.equal(card.refs.region.textContent, "station near Berlin");
  assert.equal(card.refs.region.querySelector(".badge--station").textContent, "station");
  assert.equal(createCard(doc, { ...loc, region: "" }, metric).refs.region.textContent, "station");
  assert.equal(createCard(doc, { ...loc, region: "" }, metric).refs.region.hidden, false);
  assert.equal(createCard(doc, BERLIN, metric).el.classList.contains("card--station"), false);

  showReading(doc, card, stationReading(), metric, { number });
  const { refs, el } = card;
  assert.equal(refs.tempValue.textContent, "10.0");
  assert.equal(refs.summary.textContent, "");
  assert.equal(refs.summary.hidden, true);
  assert.equal(refs.icon.dataset.icon, "station/false");
  assert.equal(refs.icon.getAttribute("aria-label"), "Weather station");
  assert.equal(refs.source.textContent, "via station st-1a2b3c4d5e6f");
  assert.equal(el.dataset.source, "station:st-1a2b3c4d5e6f");
  showReading(doc, card, stationReading({ stale: true, age: 400 }), metric, { number });
  assert.equal(el.classList.contains("stale"), true);
  assert.equal(refs.stale.hidden, false);
  assert.equal(refs.stale.textContent, "stale · 7 min old");
  assert.equal(refs.stale.title, "The station has not uploaded for a while; this is its last reading.");
  showReading(doc, card, reading(), metric, { number }); // a summary shows again
  assert.equal(refs.summary.hidden, false);
  assert.equal(refs.stale.title, "The latest update failed; this is the last good reading.");
});

test("banners: simulated by provider or any reading; outage only when every reading is stale", () => {
  assert.deepEqual(bannerState([], null), { simulated: false, outage: false });
  assert.deepEqual(bannerState([null, null], "simulated"), { simulated: true, outage: false });
  assert.deepEqual(bannerState([{ source: "open-meteo" }, { source: "simulated" }], "auto"), { simulated: true, outage: false });
  assert.deepEqual(bannerState([{ stale: true }, null, { stale: true }], "open-meteo"), { simulated: false, outage: true });
  assert.deepEqual(bannerState([{ stale: true }, { stale: false }], "open-meteo"), { simulated: false, outage: false });
  // a silent station is not a weather service outage, and does not hide one
  const silent = { stale: true, source: "station:st-1a2b3c4d5e6f" };
  assert.deepEqual(bannerState([silent], "open-meteo"), { simulated: false, outage: false });
  assert.deepEqual(bannerState([silent, { stale: true }], "open-meteo"), { simulated: false, outage: true });
  assert.deepEqual(bannerState([{ stale: false, source: "station:st-1a2b3c4d5e6f" }, { stale: true }], "x").outage, true);
});

const BERLIN = { id: 2950159, name: "Berlin", country: "DE", region: "Germany", timezone: "Europe/Berlin" };

test("a new card: its title, region, remove button and empty readings", () => {
  const doc = fakeDocument();
  const card = createCard(doc, BERLIN, metric);
  assert.equal(card.el.tagName, "ARTICLE");
  assert.equal(card.el.className, "card");
  assert.equal(card.el.dataset.location, "2950159");
  assert.equal(card.el.getAttribute("aria-labelledby"), "card-title-2950159");
  assert.equal(card.el.querySelector(".card__title").textContent, "Berlin DE");
  assert.equal(card.refs.region.textContent, "Germany");
  assert.equal(card.refs.region.hidden, false);
  assert.equal(card.refs.remove.getAttribute("aria-label"), "Remove Berlin");
  assert.equal(card.refs.remove.textContent, "×");
  assert.equal(card.refs.tempUnit.textContent, "°C");
  assert.equal(card.refs.summary.textContent, "Waiting for the first reading…");
  assert.equal(card.refs.stale.hidden, true);
  assert.equal(card.refs.windArrow.style.visibility, "hidden");
  assert.deepEqual(
    card.el.querySelectorAll("dt").map((dt) => dt.textContent),
    ["Feels like", "Humidity", "Wind", "Pressure", "Precipitation", "Cloud cover"],
  );
  assert.deepEqual(card.el.querySelectorAll("dd").map((dd) => dd.textContent), ["–", "–", "–", "–", "–", "–"]);
  assert.equal(card.el.querySelector(".card__meta").textContent, "Observed –");
  assert.deepEqual(card.location, BERLIN);
  assert.equal(card.reading, null);

  const unnamed = createCard(doc, { id: "52.5,13.4", name: "", region: "" }, imperial);
  assert.equal(unnamed.refs.name.textContent, "Unknown place");
  assert.equal(unnamed.el.getAttribute("aria-labelledby"), "card-title-52_5_13_4");
  assert.equal(unnamed.refs.region.hidden, true);
  assert.equal(unnamed.refs.tempUnit.textContent, "°F");
  assert.equal(createCard(doc, { ...BERLIN, region: "Berlin" }, metric).refs.region.hidden, true);
});

test("a reading on a card, then a warmer one, then a stale simulated one", () => {
  const doc = fakeDocument();
  const card = createCard(doc, BERLIN, metric);
  showReading(doc, card, reading(), metric, { number });
  const { refs, el } = card;
  assert.equal(refs.tempValue.textContent, "3.5");
  assert.equal(el.dataset.temperature, "3.46");
  assert.equal(el.dataset.trend, undefined);
  assert.equal(el.classList.contains("changed"), false);
  assert.equal(refs.summary.textContent, "Overcast");
  assert.equal(refs.icon.dataset.icon, "cloudy/false");
  assert.equal(refs.icon.getAttribute("aria-label"), "Overcast");
  assert.equal(refs.icon.children[0].dataset.icon, "cloudy");
  assert.equal(refs.windText.textContent, "15 km/h, gusts 30 km/h, from WSW");
  assert.equal(refs.windArrow.style.transform, "rotate(70deg)");
  assert.equal(refs.windArrow.style.visibility, "");
  assert.equal(refs.wind.title, "Wind from WSW (250°)");
  assert.equal(refs.time.dateTime, "2026-01-15T12:00:00.000Z");
  const observed = new Date("2026-01-15T12:00:00Z"); // in the default locale, on Berlin's clock
  assert.equal(refs.time.textContent, timeFormatter("Europe/Berlin").short.format(observed));
  assert.equal(refs.time.title, timeFormatter("Europe/Berlin").long.format(observed));
  assert.notEqual(refs.time.textContent, timeFormatter("UTC").short.format(observed));
  assert.equal(refs.source.textContent, "via open-meteo");
  assert.equal(el.dataset.source, "open-meteo");
  assert.equal(el.dataset.day, "day");
  assert.equal(card.reading.temperature, 3.46);

  showReading(doc, card, reading({ temperature: 5 }), metric, { number });
  assert.equal(el.dataset.trend, "up");
  assert.equal(el.classList.contains("changed"), true);
  assert.equal(refs.tempValue.textContent, "5.0");

  showReading(doc, card, { temperature: 4, stale: true, age: 90, source: "simulated" }, metric, { number });
  assert.equal(el.dataset.trend, "down");
  assert.equal(el.classList.contains("stale"), true);
  assert.equal(refs.stale.hidden, false);
  assert.equal(refs.stale.textContent, "stale · 2 min old");
  assert.equal(refs.source.textContent, "via simulated");
  assert.equal(refs.source.classList.contains("card__source--simulated"), true);
  assert.equal(refs.windArrow.style.visibility, "hidden");
  assert.equal(refs.wind.hasAttribute("title"), false);
  assert.equal(refs.time.textContent, "–");
  assert.equal(el.dataset.day, "day", "kept when a reading does not say");
  assert.equal(refs.icon.dataset.icon, "unknown/false");

  showReading(doc, card, { temperature: null }, metric, { number });
  assert.equal(el.dataset.temperature, undefined);
  assert.equal(el.classList.contains("stale"), false);
  assert.equal(refs.source.classList.contains("card__source--simulated"), false);
});

test("a units change redraws quietly: no trend, no animation", () => {
  const doc = fakeDocument();
  const card = createCard(doc, BERLIN, metric);
  showReading(doc, card, reading({ temperature: 10 }), metric, { number });
  card.el.classList.remove("changed");
  showReading(doc, card, reading({ temperature: 12 }), imperial, { number, quiet: true });
  assert.equal(card.el.dataset.trend, undefined);
  assert.equal(card.el.classList.contains("changed"), false);
  assert.equal(card.refs.tempValue.textContent, "53.6");
  assert.equal(card.refs.tempUnit.textContent, "°F");
});

test("how many watch: “N watching” in the meta line, set and updated, quiet for screen readers", () => {
  const doc = fakeDocument();
  const card = createCard(doc, BERLIN, metric);
  const meta = card.el.querySelector(".card__meta");
  const shown = card.el.querySelector(".card__watchers");
  assert.equal(shown, card.refs.watchers);
  assert.ok(meta.children.includes(shown), "in the card's meta line");
  assert.equal(shown.hidden, true, "nothing before the server said");
  assert.equal(shown.textContent, "");
  assert.equal(card.watchers, null);
  // not a live region: read with the card, not announced on every change
  assert.equal(shown.getAttribute("aria-live"), "off");
  assert.equal(shown.getAttribute("title"), "Pages watching Berlin live now, this one included");

  showWatchers(card, 1, { number });
  assert.equal(shown.hidden, false);
  assert.equal(shown.textContent, "1 watching");
  assert.equal(card.watchers, 1);
  assert.equal(meta.textContent, "Observed –1 watching");
  showWatchers(card, 2, { number });
  assert.equal(shown.textContent, "2 watching");
  showWatchers(card, 1234, { number });
  assert.equal(shown.textContent, "1,234 watching");
  showWatchers(card, undefined, { number }); // a subscribed from a server that does not count
  assert.equal(shown.hidden, true);
  assert.equal(shown.textContent, "");
  assert.equal(card.watchers, null);

  assert.equal(watchersText(0, number), "0 watching");
  for (const odd of [null, -1, 1.5, "3", Number.NaN]) assert.equal(watchersText(odd, number), "", String(odd));
});

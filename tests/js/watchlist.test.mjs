import assert from "node:assert/strict";
import { test } from "node:test";

import { ForecastChart } from "../../src/weatherstream/static/weatherstream/js/chart.js";
import { Watchlist, historyLoader } from "../../src/weatherstream/static/weatherstream/js/watchlist.js";
import { fakeDocument } from "./fake-dom.mjs";
import { days, hours } from "./fake-forecast.mjs";

class FakeChart {
  constructor(container, label) {
    this.container = container;
    this.label = label;
    this.draws = [];
    this.destroyed = false;
  }

  draw(series, unit, timeZone) {
    this.draws.push({ series, unit, timeZone });
  }

  destroy() {
    this.destroyed = true;
  }
}

const at = (minute, temperature, extra = {}) => ({
  observed_at: `2026-01-15T12:${String(minute).padStart(2, "0")}:00Z`,
  temperature,
  source: "open-meteo",
  ...extra,
});
const T = (minute) => Date.parse(`2026-01-15T12:${String(minute).padStart(2, "0")}:00Z`) / 1000;

/** A stand-in for uPlot: what each plot was given, and whether it was destroyed. */
function fakeUPlot() {
  const made = [];
  class FakeUPlot {
    static tzDate = (date, zone) => ({ date, zone });
    static paths = { bars: (options) => ({ bars: options }) };

    constructor(opts, data, target) {
      Object.assign(this, { opts, data, target, destroyed: false, sets: 0 });
      this.root = target.ownerDocument.createElement("div");
      this.root.className = "uplot";
      this.root.append(target.ownerDocument.createElement("canvas"));
      target.append(this.root);
      made.push(this);
    }

    setData(data) {
      this.data = data;
      this.sets += 1;
    }

    destroy() {
      this.destroyed = true;
      this.root.remove();
    }
  }
  return { FakeUPlot, made, alive: () => made.filter((plot) => !plot.destroyed) };
}

function fakeList({ past = async () => [], now = () => Date.parse("2026-01-15T12:30:00Z") } = {}) {
  const doc = fakeDocument();
  const container = doc.createElement("section");
  const banners = { simulated: doc.createElement("p"), outage: doc.createElement("p") };
  banners.simulated.hidden = banners.outage.hidden = true;
  const uplot = fakeUPlot();
  // the page's own forecast chart, drawing with the stand-in
  class Strip extends ForecastChart {
    constructor(container, label) {
      super(container, label, { load: async () => uplot.FakeUPlot });
    }
  }
  const units = { temperature: "C", speed: "kmh" };
  const list = new Watchlist({ doc, container, banners, units, past, Chart: FakeChart, Strip, now });
  const names = () => container.children.map((el) => el.querySelector(".card__name").textContent);
  return { doc, container, banners, list, names, uplot };
}

const place = (id, name, extra = {}) => ({ id, name, country: "XX", timezone: "Europe/Berlin", ...extra });
const settle = () => new Promise((resolve) => setImmediate(resolve));

test("cards keep the order they were asked for in, whatever order the answers come in", () => {
  const { list, names } = fakeList();
  list.add(place(3, "Rome"), 3);
  list.add(place(1, "Oslo"), 1);
  list.add(place(2, "Lima"), 2);
  list.add(place(9, "Riga"), Infinity);
  assert.deepEqual(names(), ["Oslo", "Lima", "Rome", "Riga"]);
  assert.equal(list.size, 4);
  assert.equal(list.get(2).location.name, "Lima");
  assert.equal(list.get("2").location.name, "Lima");
  assert.equal(list.get(null), undefined);
  assert.equal(list.get(7), undefined);
  assert.equal(list.get(1).chart.label, "Oslo");
  assert.equal(list.get(1).chart.container, list.get(1).refs.chart);
});

test("past readings load once per card and merge with live ones that came first", async () => {
  const asked = [];
  let release;
  const { list } = fakeList({
    past: (id) => {
      asked.push(id);
      return new Promise((resolve) => (release = () => resolve([at(0, 1), at(5, 2)])));
    },
  });
  const card = list.add(place(1, "Oslo"), 1);
  assert.deepEqual(asked, ["1"]);
  list.show(card, at(10, 3));
  assert.deepEqual(card.history.times, [T(10)]);
  release();
  await settle();
  assert.deepEqual(card.history.times, [T(0), T(5), T(10)]);
  assert.deepEqual(card.history.celsius, [1, 2, 3]);
  const last = card.chart.draws.at(-1);
  assert.deepEqual(last.series.real, [1, 2, 3]);
  assert.equal(last.unit, "°C");
  assert.equal(last.timeZone, "Europe/Berlin");
});

test("without past readings the chart shows the live ones", async () => {
  const warned = [];
  const warn = console.warn;
  console.warn = (...args) => warned.push(args);
  try {
    const { list } = fakeList({ past: async () => Promise.reject(new Error("HTTP 500")) });
    const card = list.add(place(1, "Oslo"), 1);
    list.show(card, at(10, 3));
    await settle();
    assert.deepEqual(card.chart.draws.at(-1).series.real, [3]);
    assert.equal(warned.length, 1);
    assert.equal(warned[0][1], "1");
  } finally {
    console.warn = warn;
  }
});

test("a live reading joins the chart once; stale and repeated ones do not", () => {
  const { list } = fakeList();
  const card = list.add(place(1, "Oslo"), 1);
  const drawn = () => card.chart.draws.length;
  list.show(card, at(10, 3));
  assert.equal(drawn(), 1);
  list.show(card, at(10, 3)); // the same time again
  list.show(card, at(15, 4, { stale: true, age: 60 }));
  assert.equal(drawn(), 1);
  assert.deepEqual(card.history.celsius, [3]);
  assert.equal(card.refs.tempValue.textContent, "4.0");
  list.show(card, at(20, 5));
  assert.equal(drawn(), 2);
});

test("banners follow the provider and every card's latest reading", () => {
  const { list, banners } = fakeList();
  list.setProvider("open-meteo");
  assert.equal(banners.simulated.hidden, true);
  assert.equal(banners.outage.hidden, true);
  const oslo = list.add(place(1, "Oslo"), 1);
  const rome = list.add(place(2, "Rome"), 2);
  list.show(oslo, at(10, 3, { stale: true }));
  assert.equal(banners.outage.hidden, false, "the only reading is stale");
  list.show(rome, at(10, 9));
  assert.equal(banners.outage.hidden, true);
  list.show(rome, at(11, 9, { source: "simulated" }));
  assert.equal(banners.simulated.hidden, false);
  list.remove("2");
  assert.equal(banners.simulated.hidden, true);
  assert.equal(banners.outage.hidden, false);
  list.setProvider("simulated");
  assert.equal(banners.simulated.hidden, false);
});

test("removing a card: off the page, chart gone, the focus to a neighbour or the box", () => {
  const { doc, list, names } = fakeList();
  const box = doc.createElement("input");
  for (const [id, name] of [[1, "Oslo"], [2, "Lima"], [3, "Rome"]]) list.add(place(id, name), id);
  const lima = list.get(2);
  assert.equal(list.remove("2", { focusAfter: box }), lima);
  assert.equal(lima.chart.destroyed, true);
  assert.deepEqual(names(), ["Oslo", "Rome"]);
  assert.equal(doc.activeElement, list.get(3).refs.remove, "the next card's remove button");
  list.remove("3", { focusAfter: box });
  assert.equal(doc.activeElement, list.get(1).refs.remove, "else the previous card's");
  list.remove("1", { focusAfter: box });
  assert.equal(doc.activeElement, box, "else the search box");
  assert.equal(list.size, 0);
  assert.equal(list.remove("1"), undefined);
  list.add(place(4, "Riga"), 4);
  doc.activeElement = null;
  list.remove("4");
  assert.equal(doc.activeElement, null, "no focus moved unless asked");
});

test("other units redraw every card quietly, and its chart", () => {
  const { list } = fakeList();
  const card = list.add(place(1, "Oslo"), 1);
  list.show(card, at(10, 10));
  const empty = list.add(place(2, "Lima"), 2);
  list.setUnits({ temperature: "F", speed: "mph" });
  assert.equal(card.refs.tempValue.textContent, "50.0");
  assert.equal(card.refs.tempUnit.textContent, "°F");
  assert.equal(card.el.dataset.trend, undefined);
  assert.deepEqual(card.chart.draws.at(-1).series.real, [50]);
  assert.equal(card.chart.draws.at(-1).unit, "°F");
  assert.equal(empty.chart.draws.at(-1).unit, "°F");
  assert.equal(empty.refs.tempValue.textContent, "–");
  assert.equal(list.add(place(3, "Rome"), 3).refs.tempUnit.textContent, "°F");
});

test("historyLoader asks /api/history for the last 24 hours of a place", async () => {
  const asked = [];
  const answer = (status, body) => async (url, options) => {
    asked.push([String(url), options]);
    return { ok: status === 200, status, json: async () => body };
  };
  const load = historyLoader("/weather/api/history", "https://example.com/weather/", answer(200, { observations: [at(0, 1)] }));
  assert.deepEqual(await load("2950159"), [at(0, 1)]);
  assert.deepEqual(asked[0], [
    "https://example.com/weather/api/history?location=2950159&hours=24",
    { headers: { Accept: "application/json" } },
  ]);
  const fallback = historyLoader("", "http://127.0.0.1:8000/", answer(200, {}));
  assert.deepEqual(await fallback("1"), []);
  assert.equal(asked[1][0], "http://127.0.0.1:8000/api/history?location=1&hours=24");
  await assert.rejects(historyLoader("/api/history", "http://x/", answer(503, {}))("1"), /HTTP 503/);
});

// --- forecasts ---------------------------------------------------------------------

const NOW = Date.parse("2026-12-01T20:20:00Z"); // 05:20 on 2 December in Tokyo
const TOKYO = { id: 1850147, name: "Tokyo", country: "JP", timezone: "Asia/Tokyo" };
const hourlyFrame = (extra = {}) => ({
  type: "forecast",
  location: "1850147",
  kind: "hourly",
  issued_at: "2026-12-01T18:00:00Z",
  source: "open-meteo",
  forecast: hours("2026-12-01T18:00:00Z", 72),
  ...extra,
});
const dailyFrame = (extra = {}) => ({ ...hourlyFrame(), kind: "daily", forecast: days("2026-12-01", 8), ...extra });

function tokyo({ units } = {}) {
  let now = NOW;
  const list = fakeList({ now: () => now });
  if (units) list.list.setUnits(units);
  const card = list.list.add(TOKYO, 1);
  return { ...list, card, later: (ms) => (now += ms) };
}

const canvases = (card) => card.el.querySelectorAll("canvas").length;
const strip = (card) => card.el.querySelector(".forecast-hourly");
const text = (el, name) => el.querySelector(`.${name}`).textContent;

test("a card's forecast: nothing shown before one arrives", () => {
  const { card, uplot } = tokyo();
  assert.equal(card.el.querySelector(".forecast").hidden, true);
  assert.equal(card.el.querySelectorAll("li").length, 0);
  assert.equal(uplot.made.length, 0);
});

test("the strip: uPlot gets the next 48 hours from now, in °F when chosen, on the place's clock", async () => {
  const { card, list, uplot } = tokyo({ units: { temperature: "F", speed: "mph" } });
  list.showForecast(card, hourlyFrame());
  await settle();
  assert.equal(uplot.alive().length, 1);
  const [plot] = uplot.made;
  const [times, temperature, precipitation] = plot.data;
  assert.equal(times.length, 48);
  assert.equal(times[0], Date.parse("2026-12-01T20:00:00Z") / 1000, "from the hour 20:20 is in");
  assert.equal(times[47], Date.parse("2026-12-03T19:00:00Z") / 1000);
  // 20:00 is item 2 of the frame: -1 °C = 30.2 °F
  assert.deepEqual(temperature.slice(0, 3).map((t) => Math.round(t * 10) / 10), [30.2, 31.1, 32]);
  assert.deepEqual(precipitation.slice(0, 3), [0, 0, 0.4]);
  assert.deepEqual(plot.opts.tzDate(0), { date: new Date(0), zone: "Asia/Tokyo" });
  assert.equal(plot.opts.axes[1].label, "°F");
  assert.equal(plot.opts.series[2].scale, "mm", "precipitation has a scale of its own");
  assert.deepEqual(plot.opts.series[2].paths, { bars: { size: [0.7, 12] } });
  assert.equal(plot.root.getAttribute("aria-label"), "Forecast for Tokyo: temperature (°F) and precipitation (mm) by hour");
  assert.equal(plot.root.dataset.simulated, "false");
  assert.equal(card.forecast.refs.chart.uplot, plot);
  assert.equal(canvases(card), 1);
  assert.equal(text(card.el, "forecast__title"), "Next 48 hours");
  assert.equal(strip(card).dataset.hours, "48");
  assert.equal(strip(card).dataset.start, "2026-12-01T20:00:00.000Z");
  assert.equal(strip(card).dataset.unit, "°F");
  assert.equal(text(card.el, "forecast__summary"), "30 to 73 °F, 4.8 mm precipitation");
  assert.equal(strip(card).hidden, false);
});

test("the list: 7 days from the place's today, in the chosen units", () => {
  const { card, list } = tokyo({ units: { temperature: "F", speed: "mph" } });
  list.showForecast(card, dailyFrame());
  const items = card.el.querySelectorAll("li");
  assert.equal(items.length, 7);
  assert.equal(items[0].dataset.date, "2026-12-02", "Tokyo's today, not UTC's");
  assert.equal(items[6].dataset.date, "2026-12-08");
  assert.equal(text(items[0], "forecast-day__name"), "Today");
  assert.equal(text(items[0], "forecast-day__max"), "41 °F");
  assert.equal(text(items[0], "forecast-day__min"), "32 °F");
  assert.equal(card.el.querySelector(".forecast").hidden, false);
});

test("a second forecast replaces the first: one chart, fed the new data, one list", async () => {
  const { card, list, uplot } = tokyo();
  list.showForecast(card, hourlyFrame());
  list.showForecast(card, dailyFrame());
  await settle();
  const warm = hours("2026-12-01T19:00:00Z", 72, () => ({ temperature: 20 }));
  const warmer = hourlyFrame({ issued_at: "2026-12-01T19:00:00Z", forecast: warm });
  list.showForecast(card, warmer);
  list.showForecast(card, dailyFrame({ forecast: days("2026-12-02", 7, () => ({ temperature_max: 30 })) }));
  await settle();
  assert.equal(uplot.made.length, 1, "the same uPlot");
  assert.equal(uplot.made[0].sets, 1);
  assert.deepEqual(uplot.made[0].data[1].slice(0, 2), [20, 20]);
  assert.equal(canvases(card), 1);
  assert.equal(card.el.querySelectorAll("li").length, 7);
  assert.equal(text(card.el.querySelectorAll("li")[0], "forecast-day__max"), "30 °C");
  assert.equal(card.forecasts.hourly, warmer);
});

test("other units: the list again and a new chart in place of the old one", async () => {
  const { card, list, uplot } = tokyo();
  list.showForecast(card, hourlyFrame());
  list.showForecast(card, dailyFrame());
  await settle();
  list.setUnits({ temperature: "F", speed: "kmh" });
  await settle();
  assert.equal(uplot.made.length, 2);
  assert.equal(uplot.made[0].destroyed, true, "the old chart destroyed");
  assert.equal(uplot.alive().length, 1);
  assert.equal(canvases(card), 1);
  assert.equal(uplot.made[1].opts.axes[1].label, "°F");
  assert.equal(Math.round(uplot.made[1].data[1][0] * 10) / 10, 30.2);
  assert.equal(text(card.el.querySelectorAll("li")[0], "forecast-day__max"), "41 °F");
  assert.equal(card.el.querySelectorAll("li").length, 7);
});

test("as the hours pass, a reading moves the strip on", async () => {
  const { card, list, uplot, later } = tokyo();
  list.showForecast(card, hourlyFrame());
  await settle();
  later(2 * 3600 * 1000);
  list.show(card, { observed_at: "2026-12-01T22:20:00Z", temperature: 3, source: "open-meteo" });
  await settle();
  assert.equal(uplot.made.length, 1);
  assert.equal(uplot.made[0].data[0][0], Date.parse("2026-12-01T22:00:00Z") / 1000);
  assert.equal(uplot.made[0].data[0].length, 48);
});

test("a simulated forecast is labelled simulated: source, chart, banner", async () => {
  const { card, list, uplot, banners } = tokyo();
  list.setProvider("open-meteo");
  list.show(card, { observed_at: "2026-12-01T20:00:00Z", temperature: 3, source: "open-meteo" });
  list.showForecast(card, dailyFrame());
  assert.equal(banners.simulated.hidden, true);
  list.showForecast(card, hourlyFrame({ source: "simulated" }));
  await settle();
  const source = strip(card).querySelector(".forecast__source");
  assert.equal(source.textContent, "via simulated");
  assert.equal(source.classList.contains("card__source--simulated"), true);
  assert.equal(strip(card).dataset.simulated, "true");
  const [plot] = uplot.made;
  assert.equal(plot.root.dataset.simulated, "true");
  assert.match(plot.root.getAttribute("aria-label"), /^Simulated forecast for Tokyo/);
  assert.deepEqual(plot.opts.series[1].dash, [6, 4]);
  assert.equal(banners.simulated.hidden, false, "never shown as real");
  const daily = card.el.querySelector(".forecast-daily");
  assert.equal(daily.dataset.simulated, "false", "each kind says its own source");
});

test("removing a card destroys its forecast chart", async () => {
  const { card, list, uplot } = tokyo();
  list.showForecast(card, hourlyFrame());
  await settle();
  list.remove("1850147");
  assert.equal(uplot.alive().length, 0);
  list.showForecast(card, hourlyFrame()); // a late frame draws nothing
  await settle();
  assert.equal(uplot.made.length, 1);
});

// --- resuming after a reconnect ---------------------------------------------------

test("readings replayed after a reconnect fill the chart's gap in order, none twice", () => {
  const { list } = fakeList();
  const card = list.add(place(1, "Oslo"), 1);
  list.show(card, at(0, 1));
  list.show(card, at(5, 2));
  // away; back: "subscribed" brings the latest, then the readings missed, oldest first
  list.show(card, at(25, 6));
  const drawn = card.chart.draws.length;
  for (const [minute, celsius] of [[10, 3], [15, 4], [20, 5], [25, 6]]) list.replay(card, at(minute, celsius));
  list.replay(card, at(5, 2)); // one the chart has already
  assert.deepEqual(card.history.times, [0, 5, 10, 15, 20, 25].map(T));
  assert.deepEqual(card.history.celsius, [1, 2, 3, 4, 5, 6]);
  assert.equal(card.chart.draws.length, drawn + 3, "drawn once per point added");
  assert.deepEqual(card.chart.draws.at(-1).series.real, [1, 2, 3, 4, 5, 6]);
  assert.equal(card.refs.tempValue.textContent, "6.0", "the card still shows the latest");
  assert.equal(card.reading.observed_at, at(25, 6).observed_at);
});

test("a replayed reading newer than the one shown is shown; a stale-marked one still fills the gap", () => {
  const { list } = fakeList();
  const card = list.add(place(1, "Oslo"), 1);
  list.show(card, at(0, 1));
  list.replay(card, at(5, 2, { stale: true, age: 1200 })); // the held latest, marked stale since
  list.replay(card, at(10, 3));
  assert.deepEqual(card.history.times, [0, 5, 10].map(T));
  assert.equal(card.refs.tempValue.textContent, "3.0");
  list.replay(card, at(7, 9)); // older than the one shown: the chart only
  assert.equal(card.refs.tempValue.textContent, "3.0");
  assert.deepEqual(card.history.celsius, [1, 2, 9, 3]);
});

test("reloadHistory asks for the past again and merges it with the chart's points", async () => {
  const answers = [[at(0, 1)], [at(0, 1), at(5, 2), at(10, 3), at(15, 4)]];
  const asked = [];
  const { list } = fakeList({ past: async (id) => (asked.push(id), answers.shift()) });
  const card = list.add(place(7, "Oslo"), 1);
  await settle();
  list.show(card, at(20, 5)); // the latest, from the "subscribed" of a reconnect
  await list.reloadHistory(card);
  assert.deepEqual(asked, ["7", "7"]);
  assert.deepEqual(card.history.times, [0, 5, 10, 15, 20].map(T));
  assert.deepEqual(card.chart.draws.at(-1).series.real, [1, 2, 3, 4, 5]);
  list.remove("7");
  await list.reloadHistory(card); // a card no longer on the page: nothing asked
  assert.equal(asked.length, 2);
});

test("a card's count of watchers: shown from subscribed, updated by watchers frames", () => {
  const { list } = fakeList();
  const card = list.add(place(2950159, "Berlin"), 1);
  const shown = card.el.querySelector(".card__watchers");
  assert.equal(shown.hidden, true);
  list.showWatchers(card, 1);
  assert.equal(shown.textContent, "1 watching");
  list.showWatchers(card, 2);
  assert.equal(shown.textContent, "2 watching");
  assert.equal(shown.hidden, false);
});

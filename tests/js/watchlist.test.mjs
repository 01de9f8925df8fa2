import assert from "node:assert/strict";
import { test } from "node:test";

import { Watchlist, historyLoader } from "../../src/weatherstream/static/weatherstream/js/watchlist.js";
import { fakeDocument } from "./fake-dom.mjs";

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

function fakeList({ past = async () => [] } = {}) {
  const doc = fakeDocument();
  const container = doc.createElement("section");
  const banners = { simulated: doc.createElement("p"), outage: doc.createElement("p") };
  banners.simulated.hidden = banners.outage.hidden = true;
  const list = new Watchlist({ doc, container, banners, units: { temperature: "C", speed: "kmh" }, past, Chart: FakeChart });
  const names = () => container.children.map((el) => el.querySelector(".card__name").textContent);
  return { doc, container, banners, list, names };
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

import assert from "node:assert/strict";
import { test } from "node:test";

// Importing the widget module in node starts nothing: it mounts only where there is a document.
import { hoursView, mountAll, sharedClient, widgetView } from "../../src/weatherstream/static/weatherstream/js/widget.js";
import { fakeDocument } from "./fake-dom.mjs";
import { hours } from "./fake-forecast.mjs";
import { fakeWebSocketClass } from "./fake-socket.mjs";

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

test("a station's reading: the station icon, no summary invented, stale marked", () => {
  const w = { temperature: 10, summary: null, weather_code: null, is_day: true, source: "station:st-1a2b3c4d5e6f" };
  assert.deepEqual(widgetView(w, "C"), {
    temperature: "10.0 °C",
    summary: "",
    marker: "",
    icon: { name: "station", label: "Weather station", night: false },
    state: "live",
    source: "station:st-1a2b3c4d5e6f",
  });
  assert.equal(widgetView({ ...w, stale: true, age: 360 }, "C").marker, "stale, 6 min old");
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

// --- the "next hours" line ({% weather_widget "Berlin" forecast=True %}) -------------

const HOUR = 3600 * 1000;
const hourlyFrame = (start, extra = {}) => ({
  type: "forecast",
  location: "2950159",
  kind: "hourly",
  issued_at: new Date(start).toISOString(),
  source: "open-meteo",
  forecast: hours(new Date(start).toISOString(), 48, (i) =>
    i === 3 ? { weather_code: 61, summary: "Slight rain", is_day: false } : {},
  ),
  ...extra,
});

test("the next 6 hours from now: the place's clock, the widget's unit", () => {
  const now = Date.parse("2026-12-01T09:20:00Z");
  const view = hoursView(hourlyFrame("2026-12-01T07:00:00Z"), "F", { timeZone: "Asia/Tokyo", now, locale: "en-GB" });
  assert.equal(view.hours.length, 6);
  assert.deepEqual(
    view.hours.map((h) => [h.time, h.temperature]),
    [
      ["18:00", "30°"], // 09:00 UTC, item 2: -1 °C
      ["19:00", "31°"],
      ["20:00", "32°"],
      ["21:00", "33°"],
      ["22:00", "34°"],
      ["23:00", "35°"],
    ],
  );
  assert.equal(view.hours[0].iso, "2026-12-01T09:00:00.000Z");
  assert.deepEqual(view.hours[1].icon, { name: "rain", label: "Rain", night: true });
  assert.equal(view.hours[1].title, "19:00: Slight rain, 31.1 °F");
  assert.equal(view.marker, "");
  const celsius = hoursView(hourlyFrame("2026-12-01T07:00:00Z"), "C", { now, locale: "en-GB" });
  assert.deepEqual(
    celsius.hours.slice(0, 3).map((h) => [h.time, h.temperature]),
    [
      ["09:00", "-1°"],
      ["10:00", "-1°"],
      ["11:00", "0°"],
    ],
  );
  const chilly = { forecast: [{ time: "2026-12-01T09:00:00Z", temperature: -0.4 }] };
  assert.equal(hoursView(chilly, "C", { now }).hours[0].temperature, "0°", "never -0°");
  assert.equal(hoursView(hourlyFrame("2026-12-01T07:00:00Z"), "C", { now, count: 2 }).hours.length, 2);
  assert.equal(hoursView({ forecast: null }, "C", { now }).hours.length, 0);
});

test("a simulated forecast is marked on the line", () => {
  const now = Date.parse("2026-12-01T09:20:00Z");
  const view = hoursView(hourlyFrame("2026-12-01T07:00:00Z", { source: "simulated" }), "C", { now });
  assert.equal(view.marker, "simulated");
  assert.equal(view.simulated, true);
});

function widget(doc, { city, station, path, forecast = false }) {
  const el = doc.createElement("span");
  Object.assign(el.dataset, station ? { station } : { city }, { wsPath: path }, forecast ? { forecast: "hourly" } : {});
  for (const part of ["icon", "name", "temp", "summary", "marker", ...(forecast ? ["hours"] : [])]) {
    const child = doc.createElement("span");
    child.className = `weatherstream-widget__${part}`;
    child.hidden = part === "hours" || part === "marker";
    el.append(child);
  }
  return el;
}

test("widgets: only forecast=True asks for the hours, and its line follows the forecast", (t) => {
  const WS = fakeWebSocketClass();
  globalThis.WebSocket = WS;
  const path = "ws://widgets.test/ws/weather/";
  t.after(() => {
    sharedClient(path).close();
    delete globalThis.WebSocket;
  });
  const doc = fakeDocument();
  const withHours = widget(doc, { city: "Berlin", path, forecast: true });
  const plain = widget(doc, { city: "Paris", path });
  const again = widget(doc, { city: "berlin", path }); // the same place, no line
  mountAll({ querySelectorAll: () => [withHours, plain, again] });
  WS.last.serverOpen();
  const [berlin, paris] = WS.last.sent.map((f) => f.id);
  assert.deepEqual(WS.last.sent, [
    { type: "subscribe", city: "Berlin", id: berlin, forecast: ["hourly"] },
    { type: "subscribe", city: "Paris", id: paris },
  ]);

  const location = { id: 2950159, name: "Berlin", timezone: "Europe/Berlin" };
  WS.last.serverSend({ type: "subscribed", id: berlin, location, weather: { temperature: 3, source: "open-meteo" } });
  const start = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
  WS.last.serverSend(hourlyFrame(start));
  const line = withHours.querySelector(".weatherstream-widget__hours");
  const items = line.querySelectorAll(".weatherstream-widget__hour");
  assert.equal(items.length, 6);
  assert.equal(line.hidden, false);
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", timeZone: "Europe/Berlin" });
  assert.equal(items[0].querySelector("time").textContent, clock.format(new Date(start + HOUR)));
  assert.equal(items[0].querySelector(".weatherstream-widget__hour-temp").textContent, "-2°");
  assert.equal(line.querySelector(".weatherstream-widget__hours-marker").hidden, true);
  assert.equal(again.querySelectorAll(".weatherstream-widget__hour").length, 0);

  // a new forecast replaces the line; a simulated one says so
  const nine = hours(new Date(start).toISOString(), 48, () => ({ temperature: 9 }));
  WS.last.serverSend(hourlyFrame(start, { source: "simulated", forecast: nine }));
  const now = line.querySelectorAll(".weatherstream-widget__hour");
  assert.equal(now.length, 6);
  assert.equal(now[0].querySelector(".weatherstream-widget__hour-temp").textContent, "9°");
  assert.equal(line.querySelector(".weatherstream-widget__hours-marker").textContent, "simulated");
  assert.equal(line.querySelector(".weatherstream-widget__hours-marker").hidden, false);
  assert.equal(line.dataset.simulated, "true");
});

test("widgets: station=… subscribes the station and shows its uploads under its name", (t) => {
  const WS = fakeWebSocketClass();
  globalThis.WebSocket = WS;
  const path = "ws://station-widgets.test/ws/weather/";
  t.after(() => {
    sharedClient(path).close();
    delete globalThis.WebSocket;
  });
  const doc = fakeDocument();
  const garden = widget(doc, { station: "st-1a2b3c4d5e6f", path });
  const city = widget(doc, { city: "Berlin", path });
  mountAll({ querySelectorAll: () => [garden, city] });
  WS.last.serverOpen();
  const [id, berlin] = WS.last.sent.map((f) => f.id);
  assert.deepEqual(WS.last.sent, [
    { type: "subscribe", station: "st-1a2b3c4d5e6f", id },
    { type: "subscribe", city: "Berlin", id: berlin },
  ]);
  const location = { id: "st-1a2b3c4d5e6f", name: "Garden", region: "near Berlin", timezone: "Europe/Berlin" };
  WS.last.serverSend({ type: "subscribed", id, location, weather: null });
  assert.equal(garden.querySelector(".weatherstream-widget__name").textContent, "Garden");
  const upload = { temperature: 10, weather_code: null, summary: null, is_day: true, source: "station:st-1a2b3c4d5e6f" };
  WS.last.serverSend({ type: "weather", location: "st-1a2b3c4d5e6f", weather: upload });
  assert.equal(garden.querySelector(".weatherstream-widget__temp").textContent, "10.0 °C");
  assert.equal(garden.querySelector(".weatherstream-widget__summary").textContent, "");
  assert.equal(garden.querySelector(".weatherstream-widget__icon").getAttribute("aria-label"), "Weather station");
  assert.equal(garden.dataset.source, "station:st-1a2b3c4d5e6f");
  assert.equal(city.querySelector(".weatherstream-widget__temp").textContent, "");
});

test("widgets after a reconnect: resubscribed with since, the latest shown, replays not shown over it", (t) => {
  const WS = fakeWebSocketClass();
  globalThis.WebSocket = WS;
  const path = "ws://resume-widgets.test/ws/weather/";
  t.after(() => {
    sharedClient(path).close();
    delete globalThis.WebSocket;
  });
  const doc = fakeDocument();
  const berlin = widget(doc, { city: "Berlin", path });
  mountAll({ querySelectorAll: () => [berlin] });
  WS.last.serverOpen();
  const id = WS.last.sent[0].id;
  const at = (minute, temperature) => ({
    temperature,
    source: "open-meteo",
    observed_at: `2026-12-01T10:${String(minute).padStart(2, "0")}:00Z`,
  });
  const location = { id: 2950159, name: "Berlin", timezone: "Europe/Berlin" };
  const temp = () => berlin.querySelector(".weatherstream-widget__temp").textContent;
  WS.last.serverSend({ type: "subscribed", id, location, weather: at(0, 1) });
  assert.equal(temp(), "1.0 °C");

  WS.last.serverClose();
  sharedClient(path).connect(); // retry at once, not after the backoff
  assert.equal(WS.instances.length, 2);
  WS.last.serverOpen();
  assert.deepEqual(WS.last.sent, [{ type: "subscribe", city: "Berlin", id, since: "2026-12-01T10:00:00Z" }]);
  WS.last.serverSend({ type: "subscribed", id, location, weather: at(45, 4), recovered: true });
  for (const [minute, celsius] of [[15, 2], [30, 3], [45, 4]]) {
    WS.last.serverSend({ type: "weather", location: "2950159", weather: at(minute, celsius), replay: true });
    assert.equal(temp(), "4.0 °C", "the latest stays shown");
  }
  WS.last.serverSend({ type: "weather", location: "2950159", weather: at(50, 5), replay: true });
  assert.equal(temp(), "5.0 °C", "a replayed reading newer than the shown one is shown");
  WS.last.serverSend({ type: "weather", location: "2950159", weather: at(55, 6), published_at: 1 });
  assert.equal(temp(), "6.0 °C", "live goes on");
  assert.equal(berlin.dataset.state, "live");
});

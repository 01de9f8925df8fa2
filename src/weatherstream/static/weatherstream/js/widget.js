// Live weather widgets ({% weather_widget "Berlin" %}, or {% weather_widget
// station="st-…" %} for a registered weather station): every widget on the page shares
// one WeatherClient, so one WebSocket, however many there are. Text only, no HTML. With
// forecast=True (data-forecast="hourly") a widget also shows the next hours; only such
// widgets ask for a forecast. widgetView and hoursView are pure: tested with node
// (tests/js/widget.test.mjs).
import { DEFAULT_PATH, WeatherClient, socketUrl } from "./client.js";
import { upcomingHours } from "./forecast.js";
import * as fmt from "./format.js";
import { isNewer } from "./history.js";
import { iconSvg } from "./icons.js";
import { pageStorage } from "./storage.js";

export const NEXT_HOURS = 6;

const clients = new Map(); // socket URL -> WeatherClient
const memory = pageStorage();

/** The page's one client for a WebSocket path (created and connected on first use). */
export function sharedClient(path = DEFAULT_PATH) {
  const url = socketUrl(path);
  let client = clients.get(url);
  if (!client) {
    client = new WeatherClient(url);
    clients.set(url, client);
    watch(client);
    client.connect();
  }
  return client;
}

// client -> Map(subscribe id -> [widget element]); which place an id is, the client knows
const widgets = new Map();
const zones = new Map(); // location id -> its IANA time zone (from "subscribed")

function watch(client) {
  const byId = new Map();
  widgets.set(client, byId);
  // Two spellings of one place are one location: their widgets share its updates.
  const widgetsAt = (location) =>
    [...byId].filter(([id]) => client.locationOf(id) === String(location)).flatMap(([, els]) => els);
  client.addEventListener("subscribed", ({ detail }) => {
    zones.set(String(detail.location.id), detail.location.timezone || "");
    for (const el of byId.get(detail.id) || []) {
      const name = detail.location.name || el.dataset.city || el.dataset.station;
      el.querySelector(".weatherstream-widget__name").textContent = name;
      if (detail.weather) render(el, detail.weather);
    }
  });
  client.addEventListener("weather", ({ detail }) => {
    for (const el of widgetsAt(detail.location)) {
      // A reading replayed after a reconnect is history: "subscribed" showed the latest.
      if (detail.replay && !isNewer(detail.weather, lastReading.get(el))) continue;
      render(el, detail.weather);
    }
  });
  client.addEventListener("forecast", ({ detail }) => {
    if (detail.kind !== "hourly") return;
    for (const el of widgetsAt(detail.location)) renderHours(el, detail);
  });
  client.addEventListener("error", ({ detail }) => {
    for (const el of byId.get(detail.id) || []) {
      el.querySelector(".weatherstream-widget__summary").textContent = detail.message || detail.code;
      el.dataset.state = "error";
    }
  });
}

/**
 * What a widget shows for reading ``w`` in temperature unit ``unit`` ("C" or "F"). Never
 * shown as real when it is not (the "simulated" marker), never shown as current when it
 * is old (the "stale" marker, with its age).
 */
export function widgetView(w, unit) {
  const value = fmt.temperature(w.temperature, unit);
  const marks = [];
  if (fmt.isSimulated(w)) marks.push("simulated");
  if (w.stale) marks.push(w.age == null ? "stale" : `stale, ${fmt.age(w.age)} old`);
  return {
    temperature: value == null ? "–" : `${value.toFixed(1)} ${fmt.TEMPERATURE_UNITS[unit]}`,
    summary: w.summary || "",
    marker: marks.join(" · "),
    icon: fmt.readingIcon(w), // a station's reading: the station icon, no invented weather
    state: w.stale ? "stale" : "live",
    source: w.source || "",
  };
}

/**
 * What a widget's "next hours" line shows for hourly forecast ``frame`` in ``unit``: the
 * next ``count`` hours from ``now`` (ms), each {iso, time (on the place's clock), icon,
 * temperature, title}; ``marker`` is "simulated" for a simulated forecast.
 */
export function hoursView(frame, unit, { timeZone, now = Date.now(), count = NEXT_HOURS, locale = undefined } = {}) {
  const options = { hour: "2-digit", minute: "2-digit" };
  let clock;
  try {
    clock = new Intl.DateTimeFormat(locale, { ...options, timeZone: timeZone || "UTC" });
  } catch {
    clock = new Intl.DateTimeFormat(locale, { ...options, timeZone: "UTC" });
  }
  const symbol = fmt.TEMPERATURE_UNITS[unit];
  const hours = upcomingHours(frame.forecast, now, count).map(([t, item]) => {
    const when = new Date(t * 1000);
    const time = clock.format(when);
    const value = fmt.temperature(item.temperature, unit);
    const icon = fmt.weatherIcon(item.weather_code, item.is_day !== false);
    const said = [item.summary || icon.label, value == null ? null : `${value.toFixed(1)} ${symbol}`];
    return {
      iso: when.toISOString(),
      time,
      icon,
      temperature: value == null ? "–" : `${Number(value.toFixed(0)) || 0}°`, // half away from 0, never "-0°"
      title: `${time}: ${said.filter(Boolean).join(", ")}`,
    };
  });
  const simulated = fmt.isSimulated(frame);
  return { hours, simulated, marker: simulated ? "simulated" : "" };
}

const lastReading = new WeakMap(); // widget element -> the reading it shows
const lastHours = new WeakMap(); // widget element -> the hourly forecast it shows

/** °C or °F: the widget's own ``units`` argument, else the page's remembered choice. */
const unitOf = (el) => (el.dataset.units in fmt.TEMPERATURE_UNITS ? el.dataset.units : memory.units().temperature);

function render(el, w) {
  if (!w) return;
  lastReading.set(el, w);
  const view = widgetView(w, unitOf(el));
  el.querySelector(".weatherstream-widget__temp").textContent = view.temperature;
  el.querySelector(".weatherstream-widget__summary").textContent = view.summary;
  const marker = el.querySelector(".weatherstream-widget__marker");
  marker.textContent = view.marker;
  marker.hidden = !view.marker;
  const holder = el.querySelector(".weatherstream-widget__icon");
  holder.replaceChildren(iconSvg(view.icon, el.ownerDocument));
  holder.setAttribute("aria-label", view.icon.label);
  el.dataset.state = view.state;
  el.dataset.source = view.source;
  el.dataset.temperature = String(w.temperature);
  if (lastHours.has(el)) renderHours(el, lastHours.get(el)); // the page's tick: hours move on
}

function renderHours(el, frame) {
  const line = el.querySelector(".weatherstream-widget__hours");
  if (!line) return; // a widget without forecast=True
  lastHours.set(el, frame);
  showHours(line, hoursView(frame, unitOf(el), { timeZone: zones.get(String(frame.location)) }), frame.source);
}

/** Fill a widget's "next hours" ``line`` with hoursView's ``view`` (replacing what it had). */
export function showHours(line, view, source = "") {
  const doc = line.ownerDocument;
  const make = (tag, className, text) => {
    const node = doc.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  };
  const items = view.hours.map((hour) => {
    const time = make("time", null, hour.time);
    time.dateTime = hour.iso;
    const icon = make("span", "weatherstream-widget__hour-icon");
    icon.setAttribute("aria-hidden", "true");
    icon.append(iconSvg(hour.icon, doc));
    const item = make("span", "weatherstream-widget__hour");
    item.title = hour.title;
    item.append(time, icon, make("span", "weatherstream-widget__hour-temp", hour.temperature));
    return item;
  });
  const marker = make("span", "weatherstream-widget__hours-marker", view.marker);
  marker.hidden = !view.marker;
  line.replaceChildren(marker, ...items);
  line.dataset.source = source || "";
  line.dataset.simulated = String(view.simulated);
  line.hidden = items.length === 0;
}

/** Start every widget in ``root`` not started yet (also for widgets added later). */
export function mountAll(root = document) {
  for (const el of root.querySelectorAll("[data-weatherstream-widget]:not([data-mounted])")) {
    el.dataset.mounted = "1";
    const client = sharedClient(el.dataset.wsPath);
    const hourly = el.dataset.forecast === "hourly";
    const query = el.dataset.station ? { station: el.dataset.station } : { city: el.dataset.city };
    const id = client.subscribe(query, hourly ? { forecast: ["hourly"] } : undefined);
    const byId = widgets.get(client);
    const els = byId.get(id) || [];
    els.push(el);
    byId.set(id, els);
    const location = client.locationOf(id);
    const known = hourly && location !== null ? client.latestForecast(location, "hourly") : null;
    if (known) renderHours(el, known); // a widget added after the place's forecast came
  }
}

if (typeof document !== "undefined") {
  // The page (or another tab) changed the remembered units: widgets without their own follow.
  window.addEventListener("storage", ({ key }) => {
    if (key !== fmt.UNITS_KEY) return;
    for (const el of document.querySelectorAll("[data-weatherstream-widget][data-mounted]")) {
      if (lastReading.has(el)) render(el, lastReading.get(el));
      else if (lastHours.has(el)) renderHours(el, lastHours.get(el));
    }
  });
  mountAll();
}

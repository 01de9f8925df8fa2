// Live weather widgets ({% weather_widget "Berlin" %}): every widget on the page shares
// one WeatherClient, so one WebSocket, however many there are. Text only, no HTML.
// widgetView is pure: tested with node (tests/js/widget.test.mjs).
import { DEFAULT_PATH, WeatherClient, socketUrl } from "./client.js";
import * as fmt from "./format.js";
import { iconSvg } from "./icons.js";
import { pageStorage } from "./storage.js";

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

function watch(client) {
  const byId = new Map();
  widgets.set(client, byId);
  client.addEventListener("subscribed", ({ detail }) => {
    for (const el of byId.get(detail.id) || []) {
      el.querySelector(".weatherstream-widget__name").textContent = detail.location.name || el.dataset.city;
      if (detail.weather) render(el, detail.weather);
    }
  });
  client.addEventListener("weather", ({ detail }) => {
    // Two spellings of one place are one location: their widgets share its updates.
    const location = String(detail.location);
    for (const [id, els] of byId) {
      if (client.locationOf(id) === location) for (const el of els) render(el, detail.weather);
    }
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
    icon: fmt.weatherIcon(w.weather_code, w.is_day),
    state: w.stale ? "stale" : "live",
    source: w.source || "",
  };
}

const lastReading = new WeakMap(); // widget element -> the reading it shows

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
  holder.replaceChildren(iconSvg(view.icon));
  holder.setAttribute("aria-label", view.icon.label);
  el.dataset.state = view.state;
  el.dataset.source = view.source;
  el.dataset.temperature = String(w.temperature);
}

/** Start every widget in ``root`` not started yet (also for widgets added later). */
export function mountAll(root = document) {
  for (const el of root.querySelectorAll("[data-weatherstream-widget]:not([data-mounted])")) {
    el.dataset.mounted = "1";
    const client = sharedClient(el.dataset.wsPath);
    const id = client.subscribe({ city: el.dataset.city });
    const byId = widgets.get(client);
    const els = byId.get(id) || [];
    els.push(el);
    byId.set(id, els);
  }
}

if (typeof document !== "undefined") {
  // The page (or another tab) changed the remembered units: widgets without their own follow.
  window.addEventListener("storage", ({ key }) => {
    if (key !== fmt.UNITS_KEY) return;
    for (const el of document.querySelectorAll("[data-weatherstream-widget][data-mounted]")) {
      if (lastReading.has(el)) render(el, lastReading.get(el));
    }
  });
  mountAll();
}

// Live weather widgets ({% weather_widget "Berlin" %}): every widget on the page shares
// one WeatherClient, so one WebSocket, however many there are. Text only, no HTML.
import { WeatherClient } from "./client.js";
import * as fmt from "./format.js";
import { iconSvg } from "./icons.js";

const clients = new Map(); // socket URL -> WeatherClient

/** The page's one client for a WebSocket path (created and connected on first use). */
export function sharedClient(path = "/ws/weather/") {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = /^wss?:\/\//.test(path) ? path : `${scheme}//${location.host}${path}`;
  let client = clients.get(url);
  if (!client) {
    client = new WeatherClient(url);
    clients.set(url, client);
    watch(client);
    client.connect();
  }
  return client;
}

const widgets = new Map(); // client -> {byId: Map(subscribe id -> [el]), byLocation: Map(id -> [el])}

function watch(client) {
  const known = { byId: new Map(), byLocation: new Map() };
  widgets.set(client, known);
  client.addEventListener("subscribed", ({ detail }) => {
    const els = known.byId.get(detail.id) || [];
    const locationId = String(detail.location && detail.location.id);
    // Two spellings of one place are one location: their widgets share its updates.
    const all = new Set([...(known.byLocation.get(locationId) || []), ...els]);
    known.byLocation.set(locationId, [...all]);
    for (const el of els) {
      el.querySelector(".weatherstream-widget__name").textContent = detail.location.name || el.dataset.city;
      if (detail.weather) render(el, detail.weather);
    }
  });
  client.addEventListener("weather", ({ detail }) => {
    for (const el of known.byLocation.get(String(detail.location)) || []) render(el, detail.weather);
  });
  client.addEventListener("error", ({ detail }) => {
    for (const el of known.byId.get(detail.id) || []) {
      el.querySelector(".weatherstream-widget__summary").textContent = detail.message || detail.code;
      el.dataset.state = "error";
    }
  });
}

const lastReading = new WeakMap(); // widget element -> the reading it shows

/** °C or °F: the widget's own ``units`` argument, else the page's remembered choice. */
const unitOf = (el) => (el.dataset.units in fmt.TEMPERATURE_UNITS ? el.dataset.units : fmt.rememberedUnits().temperature);

function render(el, w) {
  if (!w) return;
  lastReading.set(el, w);
  const unit = unitOf(el);
  const value = fmt.temperature(w.temperature, unit);
  el.querySelector(".weatherstream-widget__temp").textContent =
    value == null ? "–" : `${value.toFixed(1)} ${fmt.TEMPERATURE_UNITS[unit]}`;
  el.querySelector(".weatherstream-widget__summary").textContent = w.summary || "";
  // Never shown as real when it is not, and never shown as current when it is old.
  const marks = [];
  if (fmt.isSimulated(w)) marks.push("simulated");
  if (w.stale) marks.push(w.age == null ? "stale" : `stale, ${fmt.age(w.age)} old`);
  const marker = el.querySelector(".weatherstream-widget__marker");
  marker.textContent = marks.join(" · ");
  marker.hidden = marks.length === 0;
  const icon = fmt.weatherIcon(w.weather_code, w.is_day);
  const holder = el.querySelector(".weatherstream-widget__icon");
  holder.replaceChildren(iconSvg(icon));
  holder.setAttribute("aria-label", icon.label);
  el.dataset.state = w.stale ? "stale" : "live";
  el.dataset.source = w.source || "";
  el.dataset.temperature = String(w.temperature);
}

// The page (or another tab) changed the remembered units: widgets without their own follow.
window.addEventListener("storage", ({ key }) => {
  if (key !== fmt.UNITS_KEY) return;
  for (const el of document.querySelectorAll("[data-weatherstream-widget][data-mounted]")) {
    if (lastReading.has(el)) render(el, lastReading.get(el));
  }
});

/** Start every widget in ``root`` not started yet (also for widgets added later). */
export function mountAll(root = document) {
  for (const el of root.querySelectorAll("[data-weatherstream-widget]:not([data-mounted])")) {
    el.dataset.mounted = "1";
    const client = sharedClient(el.dataset.wsPath || "/ws/weather/");
    const id = client.subscribe({ city: el.dataset.city });
    const known = widgets.get(client);
    const els = known.byId.get(id) || [];
    els.push(el);
    known.byId.set(id, els);
  }
}

mountAll();

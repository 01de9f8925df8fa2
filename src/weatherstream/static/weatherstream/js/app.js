// The weatherstream page: a search box, one card per watched place, kept live
// over the WebSocket. The DOM is built with createElement/textContent only.
import { HistoryChart } from "./chart.js";
import * as history from "./history.js";
import { WeatherClient, normalizeQuery } from "./client.js";
import * as fmt from "./format.js";
import { iconSvg } from "./icons.js";

const STORAGE_KEY = "weatherstream.cities";
const SUGGEST_DELAY = 250;
const MAX_SUGGESTIONS = 8;
const COORDS = /^\s*([-+]?\d+(?:\.\d+)?)\s*[,;\s]\s*([-+]?\d+(?:\.\d+)?)\s*$/;
const SVG_NS = "http://www.w3.org/2000/svg";

const body = document.body;
const $ = (id) => document.getElementById(id);
const ui = {
  connection: $("connection"),
  connectionLabel: $("connection").querySelector(".connection__label"),
  retry: $("retry"),
  banner: $("simulated-banner"),
  outage: $("outage-banner"),
  unitTemperature: $("unit-temperature"),
  unitSpeed: $("unit-speed"),
  form: $("search"),
  input: $("city"),
  list: $("city-suggestions"),
  error: $("search-error"),
  cards: $("cards"),
  empty: $("empty"),
  announcer: $("announcer"),
};
const EMPTY_TEXT = ui.empty.textContent;

// --- small helpers -------------------------------------------------------------

/** createElement with properties, attributes and text/element children. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === "className") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "text") el.textContent = value;
    else if (key === "hidden") el.hidden = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const formatters = new Map();
function number(value, digits = 0) {
  if (value == null || !Number.isFinite(Number(value))) return "–";
  let f = formatters.get(digits);
  if (!f) {
    f = new Intl.NumberFormat(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
    formatters.set(digits, f);
  }
  // no "-0.0"
  const text = f.format(Number(value));
  return /^[-−]0([.,]0+)?$/.test(text) ? text.replace(/^[-−]/, "") : text;
}

const COMPASS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"];
function compass(degrees) {
  return COMPASS[Math.round((((Number(degrees) % 360) + 360) % 360) / 22.5) % 16];
}

/** A time formatter for the place's time zone; UTC when the zone is unknown. */
function timeFormatter(timeZone) {
  const options = { hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  const long = { dateStyle: "medium", timeStyle: "long" };
  try {
    if (!timeZone) throw new RangeError("no time zone");
    return {
      short: new Intl.DateTimeFormat(undefined, { ...options, timeZone }),
      long: new Intl.DateTimeFormat(undefined, { ...long, timeZone }),
    };
  } catch {
    return {
      short: new Intl.DateTimeFormat(undefined, { ...options, timeZone: "UTC" }),
      long: new Intl.DateTimeFormat(undefined, { ...long, timeZone: "UTC" }),
    };
  }
}

let announceTimer;
function announce(text) {
  clearTimeout(announceTimer);
  ui.announcer.textContent = "";
  announceTimer = setTimeout(() => (ui.announcer.textContent = text), 50);
}

// --- remembered queries (localStorage) -----------------------------------------

const keyOf = (text) => String(text).trim().replace(/\s+/g, " ").toLowerCase();

function loadQueries() {
  let list;
  try {
    list = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  const out = [];
  for (const item of list) {
    let text = null;
    if (typeof item === "string") text = item.trim();
    else if (item && typeof item.city === "string") text = item.city.trim();
    else if (item && item.lat != null && item.lon != null) text = `${item.lat}, ${item.lon}`;
    if (text && !out.some((t) => keyOf(t) === keyOf(text))) out.push(text);
  }
  return out;
}

function saveQueries(list) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(list));
  } catch {
    /* private mode or full: the page still works, it just forgets */
  }
}

function rememberQuery(text) {
  const list = loadQueries();
  if (!list.some((t) => keyOf(t) === keyOf(text))) saveQueries([...list, text]);
}

function forgetQuery(text) {
  const list = loadQueries();
  const kept = list.filter((t) => keyOf(t) !== keyOf(text));
  if (kept.length !== list.length) saveQueries(kept);
}

// --- units (localStorage) ------------------------------------------------------------

let units = fmt.rememberedUnits();

function setUnits(next) {
  units = fmt.cleanUnits(next);
  try {
    localStorage.setItem(fmt.UNITS_KEY, JSON.stringify(units));
  } catch {
    /* the page still converts, it just forgets */
  }
  for (const card of cards.values()) {
    if (card.reading) renderReading(card, card.reading, { quiet: true });
    drawHistory(card);
  }
}

const tempText = (celsius, digits = 1) => number(fmt.temperature(celsius, units.temperature), digits);
const speedText = (kmh) => `${number(fmt.speed(kmh, units.speed))} ${fmt.SPEED_UNITS[units.speed]}`;

/** "52.52, 13.405" -> {lat, lon}; anything else is a city name. Throws on bad input. */
function parseQuery(text) {
  const match = COORDS.exec(text);
  if (match) {
    const lat = Number(match[1]);
    const lon = Number(match[2]);
    if (Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      throw new RangeError("Latitude must be between -90 and 90, longitude between -180 and 180.");
    }
    return { lat, lon };
  }
  return normalizeQuery({ city: text }).query;
}

// --- the client ------------------------------------------------------------------

function socketUrl(path) {
  if (/^wss?:\/\//i.test(path)) return path;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path.startsWith("/") ? "" : "/"}${path}`;
}

const client = new WeatherClient(socketUrl(body.dataset.wsPath || "/ws/weather/"));
let resolveReady;
const ready = new Promise((resolve) => (resolveReady = resolve));
window.weatherstream = { client, ready };

/** subscribe id -> {text, fromSearch, location (id once subscribed)} */
const subs = new Map();
/** location id -> card */
const cards = new Map();
let provider = null;
let pendingSearch = null; // id of the subscribe the search box is waiting for

function subscribeText(text, { fromSearch = false, fallback = null } = {}) {
  text = text.trim().replace(/\s+/g, " ");
  let query;
  try {
    query = parseQuery(text);
  } catch (err) {
    if (!fromSearch) {
      forgetQuery(text); // a stored entry that can never work
      return;
    }
    showError(err instanceof RangeError ? err.message : "Type a city name or “lat, lon”.");
    return;
  }
  const id = client.subscribe(query);
  const known = subs.get(id);
  if (known && known.location && cards.has(known.location)) {
    // already watched: point at it instead
    if (fromSearch) {
      clearError();
      const card = cards.get(known.location);
      highlight(card.el, "found");
      card.el.scrollIntoView({ block: "nearest", behavior: "smooth" });
      announce(`${card.location.name} is already on the list.`);
    }
    return;
  }
  subs.set(id, { text, fromSearch, fallback, location: known ? known.location : null });
  rememberQuery(text);
  if (fromSearch) {
    pendingSearch = id;
    clearError();
  }
  updateEmpty();
}

client.addEventListener("state", (event) => renderConnection(event.detail));

client.addEventListener("hello", (event) => {
  provider = event.detail.provider ?? null;
  updateBanner();
  if (body.dataset.ready !== "1") {
    body.dataset.ready = "1";
    resolveReady(event.detail);
  }
});

client.addEventListener("subscribed", (event) => {
  const frame = event.detail;
  const loc = frame.location;
  if (!loc || loc.id == null) return;
  const locationId = String(loc.id);
  const info = subs.get(frame.id);
  let card = cards.get(locationId);
  const isNew = !card;
  if (card) {
    card.location = { ...card.location, ...loc };
    // The same place under another spelling: one card, one remembered query.
    if (info && info.location !== locationId && !card.texts.has(keyOf(info.text))) {
      forgetQuery(info.text);
      subs.delete(frame.id);
    }
  } else {
    card = createCard(loc, typeof frame.id === "number" ? frame.id : Infinity);
    cards.set(locationId, card);
  }
  if (info && subs.has(frame.id)) {
    info.location = locationId;
    card.texts.add(keyOf(info.text));
  }
  const weather = frame.weather ?? (frame.temperature != null ? { temperature: frame.temperature } : null);
  if (weather) renderReading(card, weather);

  if (frame.id != null && frame.id === pendingSearch) {
    pendingSearch = null;
    clearError();
    if (isNew) announce(`Added ${loc.name}.`);
    else {
      highlight(card.el, "found");
      card.el.scrollIntoView({ block: "nearest", behavior: "smooth" });
      announce(`${loc.name} is already on the list.`);
    }
  }
  updateEmpty();
});

client.addEventListener("weather", (event) => {
  const frame = event.detail;
  const card = cards.get(String(frame.location));
  if (card && frame.weather) renderReading(card, frame.weather);
});

client.addEventListener("unsubscribed", (event) => {
  removeCard(String(event.detail.location), { send: false });
});

client.addEventListener("error", (event) => {
  const frame = event.detail;
  const info = frame.id == null ? undefined : subs.get(frame.id);
  if (!info) {
    console.warn("weatherstream:", frame.code, frame.message);
    return;
  }
  const retrying = frame.code === "rate_limited" || frame.code === "unavailable";
  const message = frame.message || "The server could not do that.";
  if (retrying) {
    if (info.fromSearch) showError(`“${info.text}”: ${message} Retrying shortly…`);
    return;
  }
  subs.delete(frame.id);
  if (!info.location) forgetQuery(info.text);
  if (frame.id === pendingSearch) pendingSearch = null;
  if (frame.code === "unknown_city" && info.fallback) {
    // a picked suggestion whose region the server did not take: try "Name, CC"
    subscribeText(info.fallback, { fromSearch: info.fromSearch });
    return;
  }
  if (info.fromSearch) {
    const meant = frame.code === "unknown_city" ? didYouMean(frame.suggestions) : [];
    if (meant.length) showError(`No city called “${info.text}”.`, meant);
    else showError(frame.message ? message : `Couldn’t add “${info.text}”.`);
    if (!ui.input.value) {
      ui.input.value = info.text;
      if (document.activeElement === ui.input) ui.input.select();
    }
  } else {
    showError(`Couldn’t restore “${info.text}”: ${message}`);
  }
  updateEmpty();
});

// --- connection indicator ----------------------------------------------------------

const STATE_LABELS = { connecting: "Connecting…", live: "Live", offline: "Offline" };
let countdown = null;
let lastAnnouncedState = null;

function renderConnection({ state, retryIn = 0 }) {
  ui.connection.dataset.state = state;
  body.dataset.connection = state;
  clearInterval(countdown);
  countdown = null;
  if (state === "reconnecting") {
    const until = Date.now() + retryIn;
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      ui.connectionLabel.textContent = `Reconnecting in ${seconds}s`;
      if (seconds === 0) clearInterval(countdown);
    };
    tick();
    countdown = setInterval(tick, 500);
  } else {
    ui.connectionLabel.textContent = STATE_LABELS[state] ?? state;
  }
  ui.retry.hidden = !(state === "reconnecting" || state === "offline");
  const spoken = state === "connecting" ? null : state;
  if (spoken && spoken !== lastAnnouncedState) {
    announce(state === "live" ? "Connected: live updates." : state === "offline" ? "Offline." : "Connection lost, reconnecting.");
    lastAnnouncedState = spoken;
  }
}

ui.retry.addEventListener("click", () => client.connect());
window.addEventListener("online", () => {
  if (client.state === "reconnecting") client.connect();
});
// An open WebSocket keeps a page out of the back/forward cache.
window.addEventListener("pagehide", (event) => {
  if (event.persisted) client.close();
});
window.addEventListener("pageshow", (event) => {
  if (event.persisted) client.connect();
});

// --- the simulated-weather banner and the empty state ---------------------------------

function updateBanner() {
  let simulated = provider === "simulated";
  let read = 0;
  let stale = 0;
  for (const card of cards.values()) {
    if (!card.reading) continue;
    read += 1;
    if (card.reading.stale) stale += 1;
    if (card.reading.source === "simulated") simulated = true;
  }
  ui.banner.hidden = !simulated;
  // Every reading stale: the weather service is down, not one place's data.
  ui.outage.hidden = !(read > 0 && stale === read);
}

function updateEmpty() {
  const waiting = [...subs.values()].some((s) => !s.location);
  ui.empty.hidden = cards.size > 0;
  ui.empty.textContent = waiting ? "Loading…" : EMPTY_TEXT;
}

// --- cards -----------------------------------------------------------------------------

function windArrow() {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "wind__arrow");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG_NS, "path");
  // points up (north) unrotated
  path.setAttribute("d", "M12 2 L19 20 L12 16 L5 20 Z");
  svg.append(path);
  return svg;
}

function detail(label, value) {
  return h("div", { className: "detail" }, h("dt", { text: label }), value);
}

function createCard(loc, order) {
  const locationId = String(loc.id);
  const name = loc.name || "Unknown place";
  const titleId = `card-title-${locationId.replace(/[^\w-]/g, "_")}`;
  const refs = {
    name: h("span", { className: "card__name", text: name }),
    country: h("span", { className: "card__country", text: loc.country || "" }),
    region: h("p", { className: "card__region" }),
    remove: h("button", { type: "button", className: "card__remove", "aria-label": `Remove ${name}`, title: `Remove ${name}` }),
    temp: h("p", { className: "card__temp" }),
    tempValue: h("span", { className: "card__temp-value", text: "–" }),
    tempUnit: h("span", { className: "card__temp-unit", text: fmt.TEMPERATURE_UNITS[units.temperature] }),
    icon: h("span", { className: "card__icon", role: "img", "aria-label": "Waiting for a reading" }),
    chart: h("div", { className: "card__chart" }),
    summary: h("p", { className: "card__summary", text: "Waiting for the first reading…" }),
    stale: h("span", {
      className: "badge badge--stale",
      text: "stale",
      title: "The latest update failed; this is the last good reading.",
      hidden: true,
    }),
    feels: h("dd", { text: "–" }),
    humidity: h("dd", { text: "–" }),
    wind: h("dd", { className: "wind" }),
    windArrow: windArrow(),
    windText: h("span", { text: "–" }),
    pressure: h("dd", { text: "–" }),
    precipitation: h("dd", { text: "–" }),
    clouds: h("dd", { text: "–" }),
    time: h("time", { text: "–" }),
    source: h("span", { className: "card__source" }),
  };
  const region = loc.region && loc.region !== name ? loc.region : "";
  refs.region.textContent = region;
  refs.region.hidden = !region;
  refs.remove.append(h("span", { "aria-hidden": "true", text: "×" }));
  refs.temp.append(refs.tempValue, refs.tempUnit);
  refs.windArrow.style.visibility = "hidden";
  refs.wind.append(refs.windArrow, refs.windText);

  const el = h(
    "article",
    { className: "card", dataset: { location: locationId }, "aria-labelledby": titleId },
    h(
      "header",
      { className: "card__head" },
      h("div", {}, h("h2", { className: "card__title", id: titleId }, refs.name, " ", refs.country), refs.region),
      refs.remove,
    ),
    h(
      "div",
      { className: "card__now" },
      refs.icon,
      refs.temp,
      h("div", { className: "card__conditions" }, refs.summary, refs.stale),
    ),
    h(
      "dl",
      { className: "card__details" },
      detail("Feels like", refs.feels),
      detail("Humidity", refs.humidity),
      detail("Wind", refs.wind),
      detail("Pressure", refs.pressure),
      detail("Precipitation", refs.precipitation),
      detail("Cloud cover", refs.clouds),
    ),
    refs.chart,
    h("footer", { className: "card__meta" }, h("span", {}, "Observed ", refs.time), refs.source),
  );

  const card = {
    el,
    refs,
    order,
    location: { ...loc },
    reading: null,
    texts: new Set(),
    formatter: null,
    history: history.emptyHistory(),
    chart: new HistoryChart(refs.chart, name),
  };
  refs.remove.addEventListener("click", () => removeCard(locationId, { send: true, focus: true }));
  el.addEventListener("animationend", () => el.classList.remove("changed", "found"));

  // keep the cards in the order they were added (subscribe ids grow)
  const after = [...cards.values()].find((c) => c.order > order);
  ui.cards.insertBefore(el, after ? after.el : null);
  loadHistory(card, locationId);
  return card;
}

// --- history chart -------------------------------------------------------------------

async function loadHistory(card, locationId) {
  const url = new URL(body.dataset.historyUrl || "/api/history", location.href);
  url.searchParams.set("location", locationId);
  url.searchParams.set("hours", String(history.HISTORY_HOURS));
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    const past = Array.isArray(data.observations) ? data.observations : [];
    // Merge with live points that arrived while this was loading.
    const live = card.history;
    card.history = history.emptyHistory();
    for (const w of past) history.addPoint(card.history, w);
    live.times.forEach((t, i) =>
      history.addPoint(card.history, {
        observed_at: t * 1000,
        temperature: live.celsius[i],
        source: live.simulated[i] ? "simulated" : "live",
      }),
    );
  } catch (err) {
    console.warn("weatherstream: no history for", locationId, err);
  }
  drawHistory(card);
}

function drawHistory(card) {
  const series = history.chartSeries(card.history, (c) => fmt.temperature(c, units.temperature));
  card.chart.draw(series, fmt.TEMPERATURE_UNITS[units.temperature], card.location.timezone);
}

function highlight(el, className) {
  el.classList.remove("changed", "found");
  void el.offsetWidth; // restart the animation
  el.classList.add(className);
}

function renderReading(card, w, { quiet = false } = {}) {
  const { refs, el } = card;
  const previous = card.reading ? card.reading.temperature : null;
  card.reading = { ...w };

  const temp = w.temperature;
  refs.tempValue.textContent = tempText(temp);
  refs.tempUnit.textContent = fmt.TEMPERATURE_UNITS[units.temperature];
  if (temp != null) el.dataset.temperature = String(temp);
  else delete el.dataset.temperature;
  if (!quiet && !w.stale && history.addPoint(card.history, w)) drawHistory(card);
  if (!quiet && previous != null && temp != null && previous !== temp) {
    el.dataset.trend = temp > previous ? "up" : "down";
    highlight(el, "changed");
  }

  refs.summary.textContent = w.summary || (w.weather_code != null ? `Weather code ${w.weather_code}` : "–");
  const stale = Boolean(w.stale);
  el.classList.toggle("stale", stale);
  refs.stale.hidden = !stale;
  refs.stale.textContent = stale && w.age != null ? `stale · ${fmt.age(w.age)} old` : "stale";
  if (w.is_day != null) el.dataset.day = w.is_day ? "day" : "night";
  const icon = fmt.weatherIcon(w.weather_code, w.is_day);
  if (refs.icon.dataset.icon !== `${icon.name}/${icon.night}`) {
    refs.icon.dataset.icon = `${icon.name}/${icon.night}`;
    refs.icon.replaceChildren(iconSvg(icon));
  }
  refs.icon.setAttribute("aria-label", icon.label);
  refs.icon.title = icon.label;

  const tempUnit = fmt.TEMPERATURE_UNITS[units.temperature];
  refs.feels.textContent = w.feels_like != null ? `${tempText(w.feels_like)} ${tempUnit}` : "–";
  refs.humidity.textContent = w.humidity != null ? `${number(w.humidity)} %` : "–";
  refs.pressure.textContent = w.pressure != null ? `${number(w.pressure)} hPa` : "–";
  refs.precipitation.textContent = w.precipitation != null ? `${number(w.precipitation, 1)} mm` : "–";
  refs.clouds.textContent = w.cloud_cover != null ? `${number(w.cloud_cover)} %` : "–";

  const parts = [];
  if (w.wind_speed != null) parts.push(speedText(w.wind_speed));
  if (w.wind_gusts != null) parts.push(`gusts ${speedText(w.wind_gusts)}`);
  if (w.wind_direction != null && Number.isFinite(Number(w.wind_direction))) {
    const from = Number(w.wind_direction);
    parts.push(`from ${compass(from)}`);
    // the arrow points where the wind blows to
    refs.windArrow.style.transform = `rotate(${(from + 180) % 360}deg)`;
    refs.windArrow.style.visibility = "";
    refs.wind.title = `Wind from ${compass(from)} (${Math.round(from)}°)`;
  } else {
    refs.windArrow.style.visibility = "hidden";
    refs.wind.removeAttribute("title");
  }
  refs.windText.textContent = parts.length ? parts.join(", ") : "–";

  const observed = w.observed_at ? new Date(w.observed_at) : null;
  if (observed && !Number.isNaN(observed.getTime())) {
    card.formatter ??= timeFormatter(card.location.timezone);
    refs.time.dateTime = observed.toISOString();
    refs.time.textContent = card.formatter.short.format(observed);
    refs.time.title = card.formatter.long.format(observed);
  } else {
    refs.time.textContent = "–";
    refs.time.removeAttribute("datetime");
  }

  const source = w.source || "";
  refs.source.textContent = source ? `via ${source}` : "";
  refs.source.classList.toggle("card__source--simulated", source === "simulated");
  el.dataset.source = source;
  updateBanner();
}

function removeCard(locationId, { send = true, focus = false } = {}) {
  const card = cards.get(locationId);
  if (send) client.unsubscribe(locationId);
  for (const [id, info] of subs) {
    if (info.location === locationId) {
      forgetQuery(info.text);
      subs.delete(id);
    }
  }
  if (!card) return;
  for (const text of card.texts) forgetQuery(text);
  let next = null;
  if (focus) {
    const neighbour = card.el.nextElementSibling || card.el.previousElementSibling;
    next = (neighbour && neighbour.querySelector(".card__remove")) || ui.input;
  }
  card.chart.destroy();
  card.el.remove();
  cards.delete(locationId);
  updateEmpty();
  updateBanner();
  if (next) next.focus();
  announce(`Removed ${card.location.name}.`);
}

// --- search box with autocompletion ------------------------------------------------------

const locationsUrl = body.dataset.locationsUrl || "";
const MAX_DID_YOU_MEAN = 3;
let suggestions = [];
let active = -1;
let suggestTimer = null;
let suggestController = null;

/** The usable places of an unknown_city error's `suggestions` ({name, region, country, query}). */
function didYouMean(places) {
  if (!Array.isArray(places)) return [];
  const usable = (p) => p && typeof p.name === "string" && typeof p.query === "string" && p.query.trim();
  return places.filter(usable).slice(0, MAX_DID_YOU_MEAN);
}

/** The error under the search box; with places, "Did you mean:" and a button for each. */
function showError(text, places = []) {
  ui.error.replaceChildren(text);
  if (places.length) {
    ui.error.append(" Did you mean:");
    for (const place of places) {
      const where = place.region || place.country;
      const label = where && where !== place.name ? `${place.name}, ${where}` : place.name;
      const button = h("button", { type: "button", className: "search__meant", text: label });
      button.addEventListener("click", () => {
        ui.input.value = "";
        ui.input.focus(); // the button goes away with the error
        subscribeText(place.query, { fromSearch: true });
      });
      ui.error.append(" ", button);
    }
  }
  ui.input.setAttribute("aria-invalid", "true");
}

function clearError() {
  ui.error.textContent = "";
  ui.input.removeAttribute("aria-invalid");
}

function cancelSuggestions() {
  clearTimeout(suggestTimer);
  suggestTimer = null;
  if (suggestController) suggestController.abort();
  suggestController = null;
}

function closeList() {
  suggestions = [];
  active = -1;
  ui.list.replaceChildren();
  ui.list.hidden = true;
  ui.input.setAttribute("aria-expanded", "false");
  ui.input.removeAttribute("aria-activedescendant");
}

const isOpen = () => !ui.list.hidden && suggestions.length > 0;

function openList(results) {
  closeList();
  suggestions = results;
  if (!results.length) return;
  results.forEach((r, i) => {
    const where = [r.region, r.country].filter((part) => part && part !== r.name).join(", ");
    const option = h(
      "li",
      { id: `city-option-${i}`, role: "option", "aria-selected": "false", className: "suggestion" },
      h("span", { className: "suggestion__name", text: r.name }),
      where ? h("span", { className: "suggestion__where", text: where }) : null,
    );
    option.addEventListener("mousedown", (e) => e.preventDefault()); // keep focus in the input
    option.addEventListener("mousemove", () => active !== i && setActive(i));
    option.addEventListener("click", () => pick(i));
    ui.list.append(option);
  });
  ui.list.hidden = false;
  ui.input.setAttribute("aria-expanded", "true");
}

function setActive(i) {
  active = i;
  [...ui.list.children].forEach((li, j) => {
    li.setAttribute("aria-selected", String(j === i));
    li.classList.toggle("is-active", j === i);
  });
  if (i >= 0) {
    const li = ui.list.children[i];
    ui.input.setAttribute("aria-activedescendant", li.id);
    li.scrollIntoView({ block: "nearest" });
  } else {
    ui.input.removeAttribute("aria-activedescendant");
  }
}

function pick(i) {
  const r = suggestions[i];
  if (!r) return;
  cancelSuggestions();
  closeList();
  ui.input.value = "";
  const lat = Number(r.lat);
  const lon = Number(r.lon);
  if (/^-?[\d.]+,-?[\d.]+$/.test(String(r.id)) && Number.isFinite(lat) && Number.isFinite(lon)) {
    subscribeText(`${lat}, ${lon}`, { fromSearch: true }); // a coordinate place
    return;
  }
  // "Name, CC" names the place; the region ("Massachusetts" for US places, else
  // the country's name) tells same-named places in one country apart.
  const short = r.country ? `${r.name}, ${r.country}` : r.name;
  const region = r.region && r.region !== r.name && r.region !== r.country ? r.region : "";
  if (region && r.country) {
    subscribeText(`${r.name}, ${region}, ${r.country}`, { fromSearch: true, fallback: short });
  } else {
    subscribeText(short, { fromSearch: true });
  }
}

async function fetchSuggestions(text) {
  cancelSuggestions();
  const controller = new AbortController();
  suggestController = controller;
  const url = new URL(locationsUrl, location.href);
  url.searchParams.set("q", text);
  try {
    const response = await fetch(url, { signal: controller.signal, headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    if (controller !== suggestController || ui.input.value.trim() !== text) return;
    const results = Array.isArray(data && data.results) ? data.results.filter((r) => r && r.name) : [];
    if (document.activeElement === ui.input) openList(results.slice(0, MAX_SUGGESTIONS));
  } catch (err) {
    if (err.name !== "AbortError" && controller === suggestController) closeList();
  } finally {
    if (controller === suggestController) suggestController = null;
  }
}

ui.input.addEventListener("input", () => {
  clearError();
  cancelSuggestions();
  const text = ui.input.value.trim();
  if (!locationsUrl || text.length < 2 || COORDS.test(text)) {
    closeList();
    return;
  }
  suggestTimer = setTimeout(() => fetchSuggestions(text), SUGGEST_DELAY);
});

ui.input.addEventListener("keydown", (e) => {
  if (e.isComposing) return;
  const count = suggestions.length;
  switch (e.key) {
    case "ArrowDown":
      if (!count) return;
      e.preventDefault();
      if (ui.list.hidden) openList(suggestions);
      setActive(active + 1 >= count ? 0 : active + 1);
      break;
    case "ArrowUp":
      if (!count) return;
      e.preventDefault();
      if (ui.list.hidden) openList(suggestions);
      setActive(active <= 0 ? count - 1 : active - 1);
      break;
    case "Enter":
      if (isOpen() && active >= 0) {
        e.preventDefault();
        pick(active);
      }
      break;
    case "Escape":
      if (isOpen() || suggestTimer || suggestController) {
        e.preventDefault();
        cancelSuggestions();
        closeList();
      }
      break;
    case "Tab":
      closeList();
      break;
  }
});

ui.input.addEventListener("blur", () => {
  cancelSuggestions();
  closeList();
});

ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (isOpen() && active >= 0) {
    pick(active);
    return;
  }
  cancelSuggestions();
  closeList();
  const text = ui.input.value.trim();
  if (!text) {
    showError("Type a city name or “lat, lon”.");
    ui.input.focus();
    return;
  }
  ui.input.value = "";
  subscribeText(text, { fromSearch: true });
});

// --- unit pickers ------------------------------------------------------------------------

ui.unitTemperature.value = units.temperature;
ui.unitSpeed.value = units.speed;
ui.unitTemperature.addEventListener("change", () => setUnits({ ...units, temperature: ui.unitTemperature.value }));
ui.unitSpeed.addEventListener("change", () => setUnits({ ...units, speed: ui.unitSpeed.value }));

// --- start -------------------------------------------------------------------------------

for (const text of loadQueries()) subscribeText(text);
updateEmpty();
renderConnection({ state: "connecting" });
client.connect();

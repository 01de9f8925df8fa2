// The weatherstream page: a search box, one card per watched place, kept live over the
// WebSocket. This entry wires the modules to the page and keeps the books of what was
// asked for: client.js (the protocol, and which place each subscription is), storage.js
// (what is remembered), connection.js (the indicator), search.js (the box),
// watchlist.js (the cards, cards.js, with their charts) and the subscribe flow here.
import { FORECAST_KINDS, WeatherClient, socketUrl } from "./client.js";
import { connectionIndicator } from "./connection.js";
import { highlight } from "./dom.js";
import { isRetrying, parseErrorText, parseQuery, refusal, searchBox } from "./search.js";
import { keyOf, pageStorage } from "./storage.js";
import { Watchlist, historyLoader } from "./watchlist.js";

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
const memory = pageStorage();

let announceTimer;
function announce(text) {
  clearTimeout(announceTimer);
  ui.announcer.textContent = "";
  announceTimer = setTimeout(() => (ui.announcer.textContent = text), 50);
}

const client = new WeatherClient(socketUrl(body.dataset.wsPath));
let resolveReady;
const ready = new Promise((resolve) => (resolveReady = resolve));
window.weatherstream = { client, ready };

/** subscribe id -> {text, fromSearch, fallback}: what asked for it (its place: client.locationOf) */
const requests = new Map();
let pendingSearch = null; // id of the subscribe the search box is waiting for
const cards = new Watchlist({
  doc: document,
  container: ui.cards,
  banners: { simulated: ui.banner, outage: ui.outage },
  units: memory.units(),
  past: historyLoader(body.dataset.historyUrl, location.href),
});

const box = searchBox({
  doc: document,
  form: ui.form,
  input: ui.input,
  list: ui.list,
  error: ui.error,
  locationsUrl: body.dataset.locationsUrl || "",
  subscribe: subscribeText,
});

function pointAt(card, name) {
  highlight(card.el, "found");
  card.el.scrollIntoView({ block: "nearest", behavior: "smooth" });
  announce(`${name} is already on the list.`);
}

function subscribeText(text, { fromSearch = false, fallback = null } = {}) {
  text = text.trim().replace(/\s+/g, " ");
  let query;
  try {
    query = parseQuery(text);
  } catch (err) {
    if (fromSearch) box.showError(parseErrorText(err));
    else memory.forget(text); // a stored entry that can never work
    return;
  }
  const id = client.subscribe(query, { forecast: FORECAST_KINDS }); // every card shows both
  const shown = requests.has(id) ? cards.get(client.locationOf(id)) : undefined;
  if (shown) {
    // already watched: point at it instead
    if (fromSearch) {
      box.clearError();
      pointAt(shown, shown.location.name);
    }
    return;
  }
  requests.set(id, { text, fromSearch, fallback });
  memory.remember(text);
  if (fromSearch) {
    pendingSearch = id;
    box.clearError();
  }
  updateEmpty();
}

// --- what the server says -----------------------------------------------------------

client.addEventListener("hello", (event) => {
  cards.setProvider(event.detail.provider ?? null);
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
  const request = requests.get(frame.id);
  let card = cards.get(locationId);
  const isNew = !card;
  if (card) {
    card.location = { ...card.location, ...loc };
    // The same place under another spelling: one card, one remembered query.
    if (request && !card.texts.has(keyOf(request.text))) {
      memory.forget(request.text);
      requests.delete(frame.id);
    }
  } else {
    card = cards.add(loc, typeof frame.id === "number" ? frame.id : Infinity);
    card.refs.remove.addEventListener("click", () => removeCard(locationId, { send: true, focus: true }));
    for (const kind of FORECAST_KINDS) {
      const known = client.latestForecast(locationId, kind);
      if (known) cards.showForecast(card, known);
    }
  }
  if (request && requests.has(frame.id)) card.texts.add(keyOf(request.text));
  cards.showWatchers(card, frame.watchers);
  const weather = frame.weather ?? (frame.temperature != null ? { temperature: frame.temperature } : null);
  if (weather) cards.show(card, weather);
  // Back after a reconnect with a gap the server could not replay: the chart's readings
  // come again over HTTP (a new card loads them anyway).
  if (!isNew && frame.recovered === false) cards.reloadHistory(card);

  if (frame.id != null && frame.id === pendingSearch) {
    pendingSearch = null;
    box.clearError();
    if (isNew) announce(`Added ${loc.name}.`);
    else pointAt(card, loc.name);
  }
  updateEmpty();
});

client.addEventListener("weather", (event) => {
  const frame = event.detail;
  const card = cards.get(String(frame.location));
  if (!card || !frame.weather) return;
  // missed while away, replayed in order after a reconnect: fills the chart's gap
  if (frame.replay) cards.replay(card, frame.weather);
  else cards.show(card, frame.weather);
});

// how many watch a place changed (at most every few seconds): the card's meta line says so
client.addEventListener("watchers", (event) => {
  const frame = event.detail;
  const card = cards.get(String(frame.location));
  if (card) cards.showWatchers(card, frame.count);
});

client.addEventListener("forecast", (event) => {
  const frame = event.detail;
  const card = cards.get(String(frame.location));
  if (card) cards.showForecast(card, frame);
});

client.addEventListener("unsubscribed", (event) => {
  removeCard(String(event.detail.location), { send: false });
});

client.addEventListener("error", (event) => {
  const frame = event.detail;
  const request = frame.id == null ? undefined : requests.get(frame.id);
  if (!request) {
    console.warn("weatherstream:", frame.code, frame.message);
    return;
  }
  if (isRetrying(frame.code)) {
    const said = refusal(frame, request);
    if (said) box.showError(said.text);
    return;
  }
  requests.delete(frame.id);
  if (!client.locationOf(frame.id)) memory.forget(request.text);
  if (frame.id === pendingSearch) pendingSearch = null;
  if (frame.code === "unknown_city" && request.fallback) {
    // a picked suggestion whose region the server did not take: try "Name, CC"
    subscribeText(request.fallback, { fromSearch: request.fromSearch });
    return;
  }
  const said = refusal(frame, request);
  box.showError(said.text, said.places);
  if (request.fromSearch) box.restore(request.text);
  updateEmpty();
});

// --- the connection --------------------------------------------------------------------

const renderConnection = connectionIndicator({
  element: ui.connection,
  label: ui.connectionLabel,
  retry: ui.retry,
  page: body,
  announce,
});
client.addEventListener("state", (event) => renderConnection(event.detail));
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

// --- the empty state, removing, units ---------------------------------------------------

function updateEmpty() {
  const waiting = [...requests.keys()].some((id) => client.locationOf(id) === null);
  ui.empty.hidden = cards.size > 0;
  ui.empty.textContent = waiting ? "Loading…" : EMPTY_TEXT;
}

function removeCard(locationId, { send = true, focus = false } = {}) {
  if (send) client.unsubscribe(locationId);
  for (const [id, request] of requests) {
    if (client.locationOf(id) === locationId) {
      memory.forget(request.text);
      requests.delete(id);
    }
  }
  const card = cards.get(locationId);
  if (!card) return;
  for (const text of card.texts) memory.forget(text);
  cards.remove(locationId, { focusAfter: focus ? ui.input : null });
  updateEmpty();
  announce(`Removed ${card.location.name}.`);
}

function setUnits(next) {
  cards.setUnits(memory.setUnits(next));
}

ui.unitTemperature.value = cards.units.temperature;
ui.unitSpeed.value = cards.units.speed;
ui.unitTemperature.addEventListener("change", () => setUnits({ ...cards.units, temperature: ui.unitTemperature.value }));
ui.unitSpeed.addEventListener("change", () => setUnits({ ...cards.units, speed: ui.unitSpeed.value }));

// --- start -------------------------------------------------------------------------------

for (const text of memory.queries()) subscribeText(text);
updateEmpty();
renderConnection({ state: "connecting" });
client.connect();

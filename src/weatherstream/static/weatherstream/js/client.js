// weatherstream WebSocket client (protocol v1). Framework-free, no DOM code:
// runs in browsers and in Node (tests inject a fake WebSocket and fake timers).
//
//   const client = new WeatherClient("wss://example.com/ws/weather/");
//   client.addEventListener("weather", (e) => console.log(e.detail));
//   client.connect();
//   const id = client.subscribe({ city: "Berlin" }, { forecast: ["hourly", "daily"] });
//   client.subscribe({ station: "st-1a2b3c4d5e6f" }); // a registered weather station
//
// Events (CustomEvent; `detail` is the server frame unless noted):
//   state        detail {state, retryIn}  state: connecting | live | reconnecting | offline
//   hello        the hello frame (also kept as client.hello)
//   forecast     a forecast frame (the latest per place and kind: client.latestForecast)
//   subscribed   the subscribed frame; "recovered" (true/false) answers a resubscribe
//                with "since" after a reconnect (false: reload the history over HTTP);
//                "watchers": how many connections watch the place (client.watchers)
//   watchers     a watchers frame {location, count}: that count changed (coalesced by
//                the server, at most one per place every few seconds)
//   weather      a weather frame; "replay": true on a reading missed while away,
//                replayed in order before any live one after a reconnect
//   unsubscribed, error, pong
//
// After any reconnect each subscription is sent again with "since": the observed_at of
// the last reading it had (client.lastObserved), so the server replays what was missed.
//
// Outgoing frames are paced (SEND_BURST per SEND_WINDOW) to stay inside the
// server's rate limit; frames it still drops are sent again after a backoff.

import { validCoords } from "./place.js";

export const BACKOFF_BASE = 1000;
export const BACKOFF_CAP = 30000;
export const PING_INTERVAL = 25000;
// Outgoing pacing: at most SEND_BURST frames in any SEND_WINDOW ms (10 a second
// on average), which stays inside the server's budget (10/s, burst 30) even
// when a reconnect resubscribes MAX_SUBSCRIPTIONS (50) places at once.
export const SEND_BURST = 20;
export const SEND_WINDOW = 2000;

// WebSocket close code the server uses when a connection sent too much.
const CLOSE_RATE_LIMITED = 4008;

export const DEFAULT_PATH = "/ws/weather/";

/** The kinds of forecast a subscribe can ask for, in the order they are sent. */
export const FORECAST_KINDS = Object.freeze(["hourly", "daily"]);

/** A list of forecast kinds, once each and in FORECAST_KINDS order; a TypeError for
 *  anything that is not a list of known kinds. */
export function forecastKinds(kinds) {
  if (!Array.isArray(kinds)) throw new TypeError('forecast must be a list of kinds, e.g. ["hourly", "daily"]');
  for (const kind of kinds) {
    if (!FORECAST_KINDS.includes(kind)) throw new TypeError(`unknown forecast kind: ${JSON.stringify(kind)}`);
  }
  return FORECAST_KINDS.filter((kind) => kinds.includes(kind));
}

const sameKinds = (a, b) => a.length === b.length && a.every((kind, i) => kind === b[i]);

/**
 * The WebSocket URL for a path on the page's own host: wss: on an https: page, else
 * ws:. A full ws:// or wss:// URL is kept as it is; no path is DEFAULT_PATH.
 */
export function socketUrl(path, page = globalThis.location) {
  path = path || DEFAULT_PATH;
  if (/^wss?:\/\//i.test(path)) return path;
  const scheme = page.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${page.host}${path.startsWith("/") ? "" : "/"}${path}`;
}

/**
 * Delay before reconnect attempt number `attempt` (0-based): exponential
 * backoff with full jitter, uniformly in [0, min(cap, base * 2 ** attempt)).
 */
export function backoffDelay(attempt, random = Math.random, base = BACKOFF_BASE, cap = BACKOFF_CAP) {
  const n = Math.max(0, Math.floor(Number(attempt)) || 0);
  return random() * Math.min(cap, base * 2 ** n);
}

/**
 * Turn what the caller gave into the query sent on the wire, plus the key that
 * identifies it: the same city in another letter case is the same query, and so is
 * a station id (the server reads ids in any case).
 */
export function normalizeQuery(query) {
  if (typeof query === "string") query = { city: query };
  if (query && typeof query === "object") {
    if (typeof query.city === "string") {
      const city = query.city.trim().replace(/\s+/g, " ");
      if (city) return { query: { city }, key: `city:${city.toLowerCase()}` };
    } else if (typeof query.station === "string") {
      const station = query.station.trim().toLowerCase();
      if (station && !/\s/.test(station)) return { query: { station }, key: `station:${station}` };
    } else if (query.lat != null && query.lon != null) {
      const coords = validCoords(query.lat, query.lon);
      if (coords) return { query: coords, key: `coords:${coords.lat},${coords.lon}` };
    }
  }
  throw new TypeError("subscribe() needs {city: <non-empty string>}, {lat, lon} in range or {station: <id>}");
}

export class WeatherClient extends EventTarget {
  #url;
  #WebSocket;
  #random;
  #setTimeout;
  #clearTimeout;
  #base;
  #cap;
  #pingInterval;
  #sendBurst;
  #sendWindow;

  #state = "offline";
  #wanted = false; // connect() was called and close() was not
  #ws = null; // the current socket, connecting or open
  #open = false;
  #attempt = 0; // reconnect attempts since the last successful open
  #retryTimer = null;
  #pingTimer = null;
  #heard = true; // a frame arrived since the last ping
  // per connection: outgoing queue and its pacing, retries of lost frames
  #queue = [];
  #tokens = 0;
  #tokenTimers = new Set();
  #unacked = new Set(); // location ids of unsubscribes not answered yet
  #resendTimer = null;
  #resendAttempt = 0;

  #nextId = 1;
  // query key -> {id, key, query, forecast, confirmed, tell, resume}: `forecast` the kinds
  // asked for; per connection, `confirmed` (answered), `tell` (send the kinds even when
  // none: the server holds others) and `resume` (the subscribe of a reconnect: it carries
  // "since" until answered)
  #subs = new Map();
  #byId = new Map(); // subscribe id -> query key
  // subscribe id -> the location id the server answered it with: the page's one map
  // from subscriptions to places (kept across reconnects, unsubscribes and merges)
  #locations = new Map();
  // location id -> Map(kind -> the latest forecast frame), for places still watched
  #forecasts = new Map();
  // location id -> {at (ms), iso}: the latest observed_at of a reading of a watched place
  // (from "subscribed" and every "weather" frame, replayed or live), kept across reconnects
  #observed = new Map();
  // location id -> how many connections watch it across the cluster, this one included
  // (from "subscribed" and every "watchers" frame), for places still watched
  #watchers = new Map();

  /** The hello frame of the current connection, or null. */
  hello = null;

  constructor(
    url,
    {
      WebSocketImpl = globalThis.WebSocket,
      random = Math.random,
      setTimeout = globalThis.setTimeout,
      clearTimeout = globalThis.clearTimeout,
      base = BACKOFF_BASE,
      cap = BACKOFF_CAP,
      pingInterval = PING_INTERVAL,
      sendBurst = SEND_BURST,
      sendWindow = SEND_WINDOW,
    } = {},
  ) {
    super();
    this.#url = url;
    this.#WebSocket = WebSocketImpl;
    this.#random = random;
    // Browsers throw "Illegal invocation" if the timer functions get another `this`.
    this.#setTimeout = (fn, ms) => setTimeout.call(globalThis, fn, ms);
    this.#clearTimeout = (id) => clearTimeout.call(globalThis, id);
    this.#base = base;
    this.#cap = cap;
    this.#pingInterval = pingInterval;
    this.#sendBurst = sendBurst;
    this.#sendWindow = sendWindow;
  }

  get url() {
    return this.#url;
  }

  /** "connecting" | "live" | "reconnecting" | "offline" */
  get state() {
    return this.#state;
  }

  /** The remembered subscriptions, in the order they were made. */
  get subscriptions() {
    return [...this.#subs.values()].map(({ id, query, forecast }) => ({
      id,
      query: { ...query },
      location: this.locationOf(id),
      forecast: [...forecast],
      since: this.lastObserved(this.locationOf(id)),
    }));
  }

  /**
   * The location id (a string) the server answered subscribe `id` with, or null before
   * an answer. Answers are kept: after an unsubscribe, after a refused resubscribe, and
   * for a query merged into another spelling of the same place (two ids, one location).
   */
  locationOf(id) {
    return this.#locations.get(id) ?? null;
  }

  /** The observed_at (the server's ISO text) of the latest reading of a watched location
   *  id, or null: what a resubscribe after a reconnect sends as "since". Kept across
   *  reconnects; dropped when the place is unsubscribed. */
  lastObserved(locationId) {
    return locationId == null ? null : (this.#observed.get(String(locationId))?.iso ?? null);
  }

  /** How many connections watch a watched location id across the cluster, this one
   *  included (a number), or null before the server said. From "subscribed" and every
   *  "watchers" frame; kept across reconnects (the resubscribe's answer brings it anew),
   *  dropped when the place is unsubscribed. */
  watchers(locationId) {
    return locationId == null ? null : (this.#watchers.get(String(locationId)) ?? null);
  }

  /** The latest "forecast" frame of ``kind`` ("hourly" or "daily") for a watched location
   *  id, or null. Kept across reconnects; dropped with the place or the kind. */
  latestForecast(locationId, kind) {
    return this.#forecasts.get(String(locationId))?.get(kind) ?? null;
  }

  /** Open the connection (and keep it open). Cuts a pending reconnect wait short. */
  connect() {
    this.#wanted = true;
    if (this.#ws) return;
    this.#clearRetry();
    this.#openSocket();
  }

  /** Close the connection and stay offline. Subscriptions are remembered for connect(). */
  close() {
    this.#wanted = false;
    this.#clearRetry();
    const ws = this.#ws;
    this.#teardown();
    if (ws) {
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
    }
    this.#setState("offline");
  }

  /**
   * Subscribe to {city}, {lat, lon} or {station}; returns the id the server echoes in its
   * "subscribed" or "error" answer. The query is remembered and sent again on
   * every reconnect; a call while not connected is sent once the socket opens.
   * ``forecast`` lists the kinds of forecast to receive (FORECAST_KINDS), remembered
   * with the query. Subscribing a query already remembered returns its id and sends
   * nothing, unless ``forecast`` is given and differs: then it asks for exactly those.
   */
  subscribe(query, { forecast } = {}) {
    const { query: normalized, key } = normalizeQuery(query);
    const kinds = forecast === undefined ? undefined : forecastKinds(forecast);
    const existing = this.#subs.get(key);
    if (existing) {
      if (kinds) this.#setKinds(existing, kinds);
      return existing.id;
    }
    const sub = { id: this.#nextId++, key, query: normalized, forecast: kinds ?? [], confirmed: false, tell: false };
    this.#subs.set(key, sub);
    this.#byId.set(sub.id, key);
    if (this.#open) this.#sendSubscribe(sub);
    return sub.id;
  }

  /**
   * Ask for exactly ``kinds`` of forecast ([] for none) on subscription ``id`` (or on
   * the one its place merged into); false when no remembered subscription is that place.
   * Kinds belong to a place: two spellings of one place share them.
   */
  setForecast(id, kinds) {
    kinds = forecastKinds(kinds);
    const location = this.locationOf(id);
    const sub = this.#subFor(id) ?? (location === null ? undefined : this.#watching(location));
    if (!sub) return false;
    this.#setKinds(sub, kinds);
    return true;
  }

  /**
   * Stop watching a location (the id from a "subscribed" frame) and forget every
   * query that resolved to it. While not connected nothing is sent: the server
   * dropped the old connection's subscriptions, and the forgotten queries are
   * not sent again on open.
   */
  unsubscribe(locationId) {
    const location = String(locationId);
    for (const sub of [...this.#subs.values()]) {
      if (this.locationOf(sub.id) === location) this.#forget(sub);
    }
    if (this.#open) {
      this.#unacked.add(location);
      this.#send({ type: "unsubscribe", location });
    }
  }

  // --- connection ---------------------------------------------------------

  #openSocket() {
    this.#setState("connecting");
    let ws;
    try {
      ws = new this.#WebSocket(this.#url);
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws === ws) this.#handleOpen();
    };
    ws.onmessage = (event) => {
      if (this.#ws === ws) this.#handleMessage(event.data);
    };
    ws.onclose = (event) => {
      if (this.#ws === ws) this.#handleClose(event);
    };
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  #handleOpen() {
    this.#open = true;
    this.#attempt = 0;
    this.#heard = true;
    this.hello = null;
    this.#tokens = this.#sendBurst;
    this.#setState("live");
    // Again after a reconnect: each with "since" when it had a reading, so the server
    // replays what was missed meanwhile (the first open of a page has none to send).
    for (const sub of this.#subs.values()) {
      sub.resume = this.lastObserved(this.locationOf(sub.id)) !== null;
      this.#sendSubscribe(sub);
    }
    this.#schedulePing();
  }

  #handleClose(event) {
    this.#teardown();
    if (!this.#wanted) {
      this.#setState("offline");
      return;
    }
    // The server closed us for sending too much: do not come straight back.
    if (event && event.code === CLOSE_RATE_LIMITED) this.#attempt = Math.max(this.#attempt, 3);
    this.#scheduleReconnect();
  }

  // Forget the current socket and everything tied to it.
  #teardown() {
    const ws = this.#ws;
    if (ws) ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.#ws = null;
    this.#open = false;
    this.hello = null;
    if (this.#pingTimer !== null) this.#clearTimeout(this.#pingTimer);
    this.#pingTimer = null;
    for (const timer of this.#tokenTimers) this.#clearTimeout(timer);
    this.#tokenTimers.clear();
    this.#queue = [];
    this.#unacked.clear();
    if (this.#resendTimer !== null) this.#clearTimeout(this.#resendTimer);
    this.#resendTimer = null;
    this.#resendAttempt = 0;
    for (const sub of this.#subs.values()) sub.confirmed = sub.tell = sub.resume = false;
  }

  #scheduleReconnect() {
    const delay = backoffDelay(this.#attempt, this.#random, this.#base, this.#cap);
    this.#attempt += 1;
    this.#retryTimer = this.#setTimeout(() => {
      this.#retryTimer = null;
      if (this.#wanted && !this.#ws) this.#openSocket();
    }, delay);
    this.#setState("reconnecting", Math.round(delay));
  }

  #clearRetry() {
    if (this.#retryTimer !== null) this.#clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  // Keepalive: a ping every interval; if nothing at all arrived between two
  // pings the connection is dead (half-open TCP), so drop it and reconnect.
  #schedulePing() {
    this.#pingTimer = this.#setTimeout(() => {
      this.#pingTimer = null;
      if (!this.#open) return;
      if (!this.#heard) {
        const ws = this.#ws;
        this.#handleClose(null);
        try {
          ws.close(4000, "keepalive timeout");
        } catch {
          /* ignore */
        }
        return;
      }
      this.#heard = false;
      this.#send({ type: "ping" });
      this.#schedulePing();
    }, this.#pingInterval);
  }

  // --- frames ---------------------------------------------------------------

  // Queue a frame for the open socket; #pump sends it when the pacing allows.
  #send(frame) {
    this.#queue.push(frame);
    this.#pump();
  }

  #pump() {
    while (this.#open && this.#tokens > 0 && this.#queue.length) {
      const frame = this.#queue.shift();
      this.#tokens -= 1;
      const timer = this.#setTimeout(() => {
        this.#tokenTimers.delete(timer);
        this.#tokens += 1;
        this.#pump();
      }, this.#sendWindow);
      this.#tokenTimers.add(timer);
      try {
        this.#ws.send(JSON.stringify(frame));
      } catch {
        /* the close event will follow */
      }
    }
  }

  // The kinds go along when there are some, or when the server must drop the ones it has;
  // "since" on the subscribe of a reconnect (and on its resend), never on others: the
  // server would replay readings this connection may get live as well.
  #sendSubscribe(sub) {
    const frame = { type: "subscribe", ...sub.query, id: sub.id };
    if (sub.forecast.length || sub.tell) frame.forecast = [...sub.forecast];
    const since = sub.resume ? this.lastObserved(this.locationOf(sub.id)) : null;
    if (since !== null) frame.since = since;
    this.#send(frame);
  }

  // Remember ``weather``'s observed_at for a location when it is the latest yet.
  #noteObserved(location, weather) {
    const iso = weather && typeof weather === "object" ? weather.observed_at : null;
    const at = typeof iso === "string" ? Date.parse(iso) : NaN;
    if (!Number.isFinite(at)) return;
    const known = this.#observed.get(location);
    if (!known || at > known.at) this.#observed.set(location, { at, iso });
  }

  // Remember how many watch a location, when the server said a count (0 or more).
  #noteWatchers(location, count) {
    if (Number.isInteger(count) && count >= 0) this.#watchers.set(location, count);
  }

  #setKinds(sub, kinds) {
    if (sameKinds(sub.forecast, kinds)) return;
    const location = this.locationOf(sub.id);
    for (const kind of sub.forecast) {
      if (!kinds.includes(kind) && location !== null) this.#forecasts.get(location)?.delete(kind);
    }
    sub.forecast = kinds;
    if (!this.#open) return; // a new connection starts with none: sent on open if any
    sub.tell = true;
    sub.confirmed = false;
    sub.resume = false; // a replay asked for already (if any) is not asked for twice
    this.#sendSubscribe(sub);
  }

  #forget(sub) {
    this.#subs.delete(sub.key);
    this.#byId.delete(sub.id);
    const location = this.locationOf(sub.id);
    if (location !== null && !this.#watching(location)) {
      this.#forecasts.delete(location);
      this.#observed.delete(location);
      this.#watchers.delete(location);
    }
  }

  // The remembered subscription that covers a location id, if any.
  #watching(location) {
    return [...this.#subs.values()].find((s) => this.locationOf(s.id) === location);
  }

  #subFor(id) {
    const key = this.#byId.get(id);
    return key === undefined ? undefined : this.#subs.get(key);
  }

  #handleMessage(data) {
    this.#heard = true;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object" || Array.isArray(frame)) return;
    switch (frame.type) {
      case "hello":
        this.hello = frame;
        break;
      case "subscribed": {
        const sub = this.#subFor(frame.id);
        const locationId = frame.location && frame.location.id;
        if (sub && locationId != null) {
          const location = String(locationId);
          const other = [...this.#subs.values()].find((s) => s !== sub && this.locationOf(s.id) === location);
          this.#locations.set(sub.id, location);
          if (other) this.#merge(sub, other);
          else sub.confirmed = true;
          sub.tell = sub.resume = false;
          this.#noteObserved(location, frame.weather);
          this.#noteWatchers(location, frame.watchers);
          this.#resendAttempt = 0;
        }
        break;
      }
      case "unsubscribed": {
        const location = String(frame.location);
        this.#unacked.delete(location);
        for (const sub of [...this.#subs.values()]) {
          if (this.locationOf(sub.id) === location) this.#forget(sub);
        }
        break;
      }
      case "error": {
        const sub = frame.id == null ? undefined : this.#subFor(frame.id);
        if (frame.code === "rate_limited" || frame.code === "unavailable") {
          // The server dropped a frame (rate_limited carries no id): send
          // whatever is still unanswered again after a while.
          this.#resendLater();
        } else if (sub) {
          this.#forget(sub); // unknown_city, bad_request, too_many_subscriptions...
        }
        break;
      }
      case "forecast": {
        // kept while some subscription of the place asks for that kind
        const location = frame.location == null ? null : String(frame.location);
        const sub = location === null ? undefined : this.#watching(location);
        if (sub && sub.forecast.includes(frame.kind)) {
          if (!this.#forecasts.has(location)) this.#forecasts.set(location, new Map());
          this.#forecasts.get(location).set(frame.kind, frame);
        }
        break;
      }
      case "weather": {
        // replayed (after a reconnect) or live: the latest one is the next "since"
        const location = frame.location == null ? null : String(frame.location);
        if (location !== null && this.#watching(location)) this.#noteObserved(location, frame.weather);
        break;
      }
      case "watchers": {
        // kept for a place watched here; dispatched either way, like a forecast
        const location = frame.location == null ? null : String(frame.location);
        if (location !== null && this.#watching(location)) this.#noteWatchers(location, frame.count);
        break;
      }
      case "pong":
        break;
      default:
        return; // unknown types are ignored
    }
    this.dispatchEvent(new CustomEvent(frame.type, { detail: frame }));
  }

  // Another query already covers this place: forget ``sub``; ``other`` keeps the kinds
  // both asked for, and the server is told when what it holds now (``sub``'s kinds, if
  // its frame carried some) is not that.
  #merge(sub, other) {
    const kinds = forecastKinds([...other.forecast, ...sub.forecast]);
    const held = sub.forecast.length || sub.tell ? sub.forecast : other.forecast;
    this.#forget(sub);
    other.forecast = kinds;
    if (this.#open && !sameKinds(held, kinds)) {
      other.tell = true;
      other.confirmed = false;
      this.#sendSubscribe(other);
    }
  }

  // Frames the server did not take (rate_limited, unavailable): after a
  // backoff, resend every subscribe and unsubscribe still unanswered.
  #resendLater() {
    if (this.#resendTimer !== null) return;
    const delay = backoffDelay(this.#resendAttempt + 1, this.#random, this.#base, this.#cap);
    this.#resendAttempt += 1;
    this.#resendTimer = this.#setTimeout(() => {
      this.#resendTimer = null;
      if (!this.#open) return;
      const queuedIds = new Set(this.#queue.map((f) => f.type === "subscribe" && f.id));
      const queuedUnsubs = new Set(this.#queue.map((f) => f.type === "unsubscribe" && f.location));
      for (const sub of this.#subs.values()) {
        if (!sub.confirmed && !queuedIds.has(sub.id)) this.#sendSubscribe(sub);
      }
      for (const location of this.#unacked) {
        if (!queuedUnsubs.has(location)) this.#send({ type: "unsubscribe", location });
      }
    }, delay);
  }

  #setState(state, retryIn) {
    if (state === this.#state && state !== "reconnecting") return;
    this.#state = state;
    const detail = { state };
    if (state === "reconnecting") detail.retryIn = retryIn;
    this.dispatchEvent(new CustomEvent("state", { detail }));
  }
}

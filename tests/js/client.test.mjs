// Unit tests of the browser WebSocket client: node --test tests/js/
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  DEFAULT_PATH,
  FORECAST_KINDS,
  WeatherClient,
  backoffDelay,
  forecastKinds,
  normalizeQuery,
  socketUrl,
} from "../../src/weatherstream/static/weatherstream/js/client.js";
import { fakeClock, fakeWebSocketClass } from "./fake-socket.mjs";

const URL = "ws://testserver/ws/weather/";

function setup({ random = () => 0.5, ...options } = {}) {
  const WS = fakeWebSocketClass();
  const clock = fakeClock();
  const client = new WeatherClient(URL, {
    WebSocketImpl: WS,
    random,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    ...options,
  });
  const events = [];
  for (const type of ["state", "hello", "subscribed", "weather", "forecast", "watchers", "unsubscribed", "error", "pong"]) {
    client.addEventListener(type, (e) => events.push({ type, detail: e.detail }));
  }
  const of = (type) => events.filter((e) => e.type === type).map((e) => e.detail);
  return { WS, clock, client, events, of };
}

const subscribes = (ws) => ws.sent.filter((f) => f.type === "subscribe");
const location = (id, name = "Berlin") => ({
  id,
  name,
  country: "DE",
  region: "Berlin",
  lat: 52.52,
  lon: 13.405,
  timezone: "Europe/Berlin",
});
const reading = (temperature) => ({
  temperature,
  feels_like: temperature - 1,
  humidity: 60,
  wind_speed: 10,
  wind_gusts: 20,
  wind_direction: 270,
  precipitation: 0,
  cloud_cover: 50,
  pressure: 1013,
  weather_code: 2,
  summary: "Partly cloudy",
  is_day: true,
  observed_at: "2025-01-01T12:00:00Z",
  source: "simulated",
  stale: false,
});

// --- backoffDelay ------------------------------------------------------------

describe("backoffDelay", () => {
  test("ceiling doubles from the base and stops at the cap", () => {
    const almostOne = () => 1 - Number.EPSILON;
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 20, 1000].map((n) => Math.ceil(backoffDelay(n, almostOne)));
    assert.deepEqual(ceilings, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]);
    assert.equal(Math.ceil(backoffDelay(2, almostOne, 100, 250)), 250);
    assert.equal(backoffDelay(3, () => 0.5, 100, 10000), 400);
  });

  test("full jitter: uniformly in [0, min(cap, base * 2^n))", () => {
    for (let n = 0; n < 12; n++) {
      const ceiling = Math.min(30000, 1000 * 2 ** n);
      assert.equal(backoffDelay(n, () => 0), 0);
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(n, Math.random);
        assert.ok(d >= 0 && d < ceiling, `attempt ${n}: ${d} not in [0, ${ceiling})`);
      }
      assert.equal(backoffDelay(n, () => 0.25), ceiling * 0.25);
    }
  });

  test("calls random once per delay and tolerates odd attempts", () => {
    let calls = 0;
    const random = () => (calls++, 0.5);
    backoffDelay(4, random);
    assert.equal(calls, 1);
    assert.equal(backoffDelay(-3, () => 0.5), 500);
    assert.equal(backoffDelay(undefined, () => 0.5), 500);
  });
});

describe("normalizeQuery", () => {
  test("cities are trimmed and keyed case-insensitively; coordinates checked", () => {
    assert.deepEqual(normalizeQuery({ city: "  Paris,  FR " }), { query: { city: "Paris, FR" }, key: "city:paris, fr" });
    assert.equal(normalizeQuery("berlin").key, normalizeQuery({ city: "Berlin" }).key);
    assert.deepEqual(normalizeQuery({ lat: 52.52, lon: 13.405 }).query, { lat: 52.52, lon: 13.405 });
    for (const bad of [{}, { city: "  " }, { lat: 91, lon: 0 }, { lat: 0, lon: 181 }, { lat: "x", lon: 1 }, null]) {
      assert.throws(() => normalizeQuery(bad), TypeError);
    }
  });

  test("a station is its id, trimmed and keyed in any letter case, apart from a city of that name", () => {
    assert.deepEqual(normalizeQuery({ station: " st-1A2B3C4D5E6F " }), {
      query: { station: "st-1a2b3c4d5e6f" },
      key: "station:st-1a2b3c4d5e6f",
    });
    assert.equal(normalizeQuery({ station: "ST-1a2b3c4d5e6f" }).key, normalizeQuery({ station: "st-1A2B3C4D5E6F" }).key);
    assert.notEqual(normalizeQuery({ station: "st-1a2b3c4d5e6f" }).key, normalizeQuery({ city: "st-1a2b3c4d5e6f" }).key);
    for (const bad of [{ station: "" }, { station: "   " }, { station: "st 1" }, { station: 7 }, { station: null }]) {
      assert.throws(() => normalizeQuery(bad), TypeError, JSON.stringify(bad));
    }
  });
});

// --- WeatherClient -------------------------------------------------------------

describe("WeatherClient", () => {
  test("state goes offline -> connecting -> live; connects to the url", () => {
    const { WS, client, of } = setup();
    assert.equal(client.state, "offline");
    client.connect();
    assert.equal(client.state, "connecting");
    assert.equal(WS.instances.length, 1);
    assert.equal(WS.last.url, URL);
    WS.last.serverOpen();
    assert.equal(client.state, "live");
    assert.deepEqual(of("state"), [{ state: "connecting" }, { state: "live" }]);
    client.connect(); // already connected: no second socket
    assert.equal(WS.instances.length, 1);
  });

  test("subscribe while closed is buffered and sent on open", () => {
    const { WS, client } = setup();
    const a = client.subscribe({ city: "Berlin" });
    client.connect();
    const b = client.subscribe({ lat: 48.85, lon: 2.35 });
    assert.equal(typeof a, "number");
    assert.notEqual(a, b);
    assert.deepEqual(WS.last.sent, []);
    WS.last.serverOpen();
    assert.deepEqual(WS.last.sent, [
      { type: "subscribe", city: "Berlin", id: a },
      { type: "subscribe", lat: 48.85, lon: 2.35, id: b },
    ]);
    const c = client.subscribe({ city: "Paris, FR" }); // while open: sent at once
    assert.deepEqual(WS.last.sent.at(-1), { type: "subscribe", city: "Paris, FR", id: c });
  });

  test("subscribing the same query twice sends one frame and returns the same id", () => {
    const { WS, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const a = client.subscribe({ city: "Berlin" });
    assert.equal(client.subscribe({ city: " berlin " }), a);
    assert.equal(client.subscribe("BERLIN"), a);
    assert.equal(subscribes(WS.last).length, 1);
  });

  test("subscribe rejects bad queries", () => {
    const { client } = setup();
    assert.throws(() => client.subscribe({}), TypeError);
    assert.throws(() => client.subscribe({ city: "" }), TypeError);
    assert.throws(() => client.subscribe({ lat: 100, lon: 0 }), TypeError);
  });

  test("resubscribes every remembered query by name after a reconnect, once each", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const berlin = client.subscribe({ city: "Berlin" });
    const coords = client.subscribe({ lat: 52.52, lon: 13.405 });
    const paris = client.subscribe({ city: "Paris, FR" });
    WS.last.serverSend({ type: "subscribed", id: berlin, location: location("2950159"), weather: null, temperature: null });
    WS.last.serverSend({ type: "subscribed", id: paris, location: location("2988507", "Paris"), weather: null, temperature: null });
    // coords is still pending when the connection drops: it is resent as well.

    WS.last.serverClose();
    assert.equal(client.state, "reconnecting");
    clock.advance(30000);
    assert.equal(WS.instances.length, 2);
    assert.deepEqual(WS.last.sent, []);
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), [
      { type: "subscribe", city: "Berlin", id: berlin },
      { type: "subscribe", lat: 52.52, lon: 13.405, id: coords },
      { type: "subscribe", city: "Paris, FR", id: paris },
    ]);

    // and again: still exactly one frame per query
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.equal(WS.instances.length, 3);
    assert.equal(subscribes(WS.last).length, 3);
    assert.deepEqual(
      client.subscriptions.map((s) => [s.id, s.location]),
      [
        [berlin, "2950159"],
        [coords, null],
        [paris, "2988507"],
      ],
    );
  });

  test("a station subscription: sent by id, answered under its id, subscribed again after a reconnect", () => {
    const { WS, clock, client, of } = setup();
    client.connect();
    WS.last.serverOpen();
    const garden = client.subscribe({ station: "st-1a2b3c4d5e6f" }, { forecast: ["hourly", "daily"] });
    const berlin = client.subscribe({ city: "Berlin" });
    assert.equal(client.subscribe({ station: "ST-1A2B3C4D5E6F" }), garden, "one station, any letter case");
    assert.deepEqual(subscribes(WS.last), [
      { type: "subscribe", station: "st-1a2b3c4d5e6f", id: garden, forecast: ["hourly", "daily"] },
      { type: "subscribe", city: "Berlin", id: berlin },
    ]);
    const station = { ...location("st-1a2b3c4d5e6f", "Garden"), region: "near Berlin" };
    WS.last.serverSend({ type: "subscribed", id: garden, location: station, weather: null, temperature: null });
    assert.equal(client.locationOf(garden), "st-1a2b3c4d5e6f");
    const upload = { ...reading(10), weather_code: null, summary: null, source: "station:st-1a2b3c4d5e6f" };
    WS.last.serverSend({ type: "weather", location: "st-1a2b3c4d5e6f", weather: upload });
    assert.equal(of("weather").at(-1).weather.temperature, 10);

    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), [
      {
        type: "subscribe",
        station: "st-1a2b3c4d5e6f",
        id: garden,
        forecast: ["hourly", "daily"],
        since: upload.observed_at, // it had a reading: the ones missed are replayed
      },
      { type: "subscribe", city: "Berlin", id: berlin },
    ]);
    assert.deepEqual(client.subscriptions[0], {
      id: garden,
      query: { station: "st-1a2b3c4d5e6f" },
      location: "st-1a2b3c4d5e6f",
      forecast: ["hourly", "daily"],
      since: upload.observed_at,
    });
  });

  test("an unknown station is refused and not subscribed again", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ station: "st-000000000000" });
    WS.last.serverSend({ type: "error", id, code: "unknown_station", message: "No weather station has the id." });
    assert.deepEqual(client.subscriptions, []);
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), []);
  });

  test("reconnect delays grow exponentially with full jitter", () => {
    const randoms = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.9];
    let i = 0;
    const { WS, clock, client, of } = setup({ random: () => randoms[i++] });
    client.connect();
    const delays = [];
    for (let n = 0; n < randoms.length; n++) {
      WS.last.serverClose(); // fails before ever opening
      assert.equal(client.state, "reconnecting");
      const [delay] = clock.pending();
      delays.push(delay);
      clock.advance(delay - 1);
      assert.equal(WS.instances.length, n + 1, "not before the delay");
      clock.advance(1);
      assert.equal(WS.instances.length, n + 2, "right after the delay");
      assert.equal(client.state, "connecting");
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 15000, 15000, 27000]);
    assert.deepEqual(
      of("state").filter((s) => s.state === "reconnecting").map((s) => s.retryIn),
      [500, 1000, 2000, 4000, 8000, 15000, 15000, 27000],
    );
  });

  test("jittered delays stay within [0, min(cap, base * 2^n))", () => {
    let seed = 42;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const { WS, clock, client } = setup({ random });
    client.connect();
    for (let n = 0; n < 10; n++) {
      WS.last.serverClose();
      const [delay] = clock.pending();
      const ceiling = Math.min(30000, 1000 * 2 ** n);
      assert.ok(delay >= 0 && delay < ceiling, `attempt ${n}: ${delay} not in [0, ${ceiling})`);
      clock.advance(delay);
    }
  });

  test("backoff resets after a successful open", () => {
    const { WS, clock, client } = setup({ random: () => 1 - Number.EPSILON });
    client.connect();
    for (let n = 0; n < 4; n++) {
      WS.last.serverClose();
      clock.advance(clock.pending()[0]);
    }
    WS.last.serverClose();
    assert.equal(Math.ceil(clock.pending()[0]), 16000);
    clock.advance(16000);
    WS.last.serverOpen();
    WS.last.serverClose();
    assert.equal(Math.ceil(clock.pending()[0]), 1000);
  });

  test("a rate-limited close does not reconnect at once", () => {
    const { WS, clock, client } = setup({ random: () => 1 - Number.EPSILON });
    client.connect();
    WS.last.serverOpen();
    WS.last.serverClose(4008);
    assert.equal(Math.ceil(clock.pending()[0]), 8000);
  });

  test("connect() while waiting to reconnect retries at once", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverClose();
    assert.equal(clock.pending().length, 1);
    client.connect();
    assert.equal(WS.instances.length, 2);
    assert.equal(client.state, "connecting");
    assert.deepEqual(clock.pending(), []);
  });

  test("close() goes offline and stops reconnecting; connect() resumes with the subscriptions", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" });
    const first = WS.last;
    client.close();
    assert.equal(client.state, "offline");
    assert.equal(first.closedWith, 1000);
    first.serverClose(1000); // late close event from the old socket is ignored
    assert.equal(client.state, "offline");
    clock.advance(120000);
    assert.equal(WS.instances.length, 1);
    assert.deepEqual(clock.pending(), []);

    client.connect();
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Berlin", id }]);
  });

  test("dispatches an event for each server frame type with the frame as detail", () => {
    const { WS, client, of } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" });
    const hello = { type: "hello", protocol: 1, provider: "simulated", poll_interval: 60, extra: "ignored" };
    const subscribed = { type: "subscribed", id, location: location("2950159"), weather: reading(3.5), temperature: 3.5 };
    const weather = { type: "weather", location: "2950159", weather: reading(4), published_at: 1735732800.5 };
    const unsubscribed = { type: "unsubscribed", location: "2950159" };
    const error = { type: "error", code: "bad_json", message: "The frame is not valid JSON." };
    for (const frame of [hello, subscribed, weather, unsubscribed, error, { type: "pong" }]) WS.last.serverSend(frame);
    WS.last.serverSend("not json");
    WS.last.serverSend({ type: "from-the-future", x: 1 });
    WS.last.serverSend([1, 2]);
    WS.last.serverSend("null");

    assert.deepEqual(of("hello"), [hello]);
    assert.deepEqual(client.hello, hello);
    assert.deepEqual(of("subscribed"), [subscribed]);
    assert.deepEqual(of("weather"), [weather]);
    assert.deepEqual(of("unsubscribed"), [unsubscribed]);
    assert.deepEqual(of("error"), [error]);
    assert.deepEqual(of("pong"), [{ type: "pong" }]);
    // the events are CustomEvents
    let seen;
    client.addEventListener("weather", (e) => (seen = e));
    WS.last.serverSend(weather);
    assert.ok(seen instanceof CustomEvent);
  });

  test("unsubscribe sends the frame and forgets every query of that location", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const berlin = client.subscribe({ city: "Berlin" });
    const paris = client.subscribe({ city: "Paris" });
    WS.last.serverSend({ type: "subscribed", id: berlin, location: location("2950159"), weather: null, temperature: null });
    WS.last.serverSend({ type: "subscribed", id: paris, location: location("2988507", "Paris"), weather: null, temperature: null });
    client.unsubscribe("2950159");
    assert.deepEqual(WS.last.sent.at(-1), { type: "unsubscribe", location: "2950159" });

    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Paris", id: paris }]);
    // subscribing Berlin again is a new subscription with a new id
    const again = client.subscribe({ city: "Berlin" });
    assert.notEqual(again, berlin);
    assert.deepEqual(WS.last.sent.at(-1), { type: "subscribe", city: "Berlin", id: again });
  });

  test("unsubscribe while disconnected forgets the query and sends nothing stale", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const berlin = client.subscribe({ city: "Berlin" });
    WS.last.serverSend({ type: "subscribed", id: berlin, location: location("2950159"), weather: null, temperature: null });
    WS.last.serverClose();
    client.unsubscribe("2950159");
    clock.advance(30000);
    WS.last.serverOpen();
    assert.deepEqual(WS.last.sent, []);
    assert.deepEqual(client.subscriptions, []);
  });

  test("a second query resolving to a known location is not remembered twice", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const a = client.subscribe({ city: "Berlin" });
    const b = client.subscribe({ city: "Berlin, DE" });
    WS.last.serverSend({ type: "subscribed", id: a, location: location("2950159"), weather: null, temperature: null });
    WS.last.serverSend({ type: "subscribed", id: b, location: location("2950159"), weather: null, temperature: null });
    assert.deepEqual(
      client.subscriptions.map((s) => s.id),
      [a],
    );
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Berlin", id: a }]);
  });

  test("an error answering a subscribe forgets the query", () => {
    const { WS, clock, client, of } = setup();
    client.connect();
    WS.last.serverOpen();
    const nowhere = client.subscribe({ city: "Nowhereville" });
    const oslo = client.subscribe({ city: "Oslo" });
    WS.last.serverSend({ type: "error", id: nowhere, code: "unknown_city", message: "No place matches the name." });
    assert.deepEqual(
      of("error").map((e) => [e.id, e.code]),
      [[nowhere, "unknown_city"]],
    );
    assert.deepEqual(
      client.subscriptions.map((s) => s.id),
      [oslo],
    );
    // the connection stays usable, and the forgotten query is not resent on reconnect
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Oslo", id: oslo }]);
  });

  test("after rate_limited (no id) the unanswered frames are sent again", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const berlin = client.subscribe({ city: "Berlin" });
    const oslo = client.subscribe({ city: "Oslo" });
    const rome = client.subscribe({ city: "Rome" });
    WS.last.serverSend({ type: "subscribed", id: berlin, location: location("1"), weather: null, temperature: null });
    WS.last.serverSend({ type: "subscribed", id: rome, location: location("3", "Rome"), weather: null, temperature: null });
    client.unsubscribe("3");
    WS.last.serverSend({ type: "error", code: "rate_limited", message: "Too many messages; slow down." });
    WS.last.serverSend({ type: "error", code: "rate_limited", message: "Too many messages; slow down." });
    const before = WS.last.sent.length;
    clock.advance(999); // backoffDelay(1) with random 0.5: 1000 ms
    assert.equal(WS.last.sent.length, before);
    clock.advance(1);
    assert.deepEqual(WS.last.sent.slice(before), [
      { type: "subscribe", city: "Oslo", id: oslo },
      { type: "unsubscribe", location: "3" },
    ]);
    WS.last.serverSend({ type: "unsubscribed", location: "3" });
    WS.last.serverSend({ type: "subscribed", id: oslo, location: location("2", "Oslo"), weather: null, temperature: null });
    WS.last.serverSend({ type: "error", code: "rate_limited", message: "Too many messages; slow down." });
    clock.advance(20000);
    assert.equal(WS.last.sent.filter((f) => f.type !== "ping").length, before + 2, "nothing left to resend");
  });

  test("outgoing frames are paced so a big resubscribe stays inside the server's budget", () => {
    const { WS, clock, client } = setup();
    const ids = [];
    for (let n = 0; n < 50; n++) ids.push(client.subscribe({ city: `City ${n}` }));
    client.connect();
    WS.last.serverOpen();
    assert.equal(subscribes(WS.last).length, 20, "a burst of 20 at once");
    clock.advance(1999);
    assert.equal(subscribes(WS.last).length, 20);
    clock.advance(1);
    assert.equal(subscribes(WS.last).length, 40);
    clock.advance(2000);
    assert.deepEqual(
      subscribes(WS.last).map((f) => f.id),
      ids,
      "all of them, in order, once",
    );
    // The server's bucket (10/s, burst 30) allows 30 + 10 * t frames by time t:
    // 20 at 0 s, 40 by 2 s, 50 by 4 s all fit.
    const subscribeCalled = client.subscribe({ city: "Late" });
    assert.deepEqual(WS.last.sent.at(-1), { type: "subscribe", city: "Late", id: subscribeCalled });
  });

  test("pings every 25 s while open, and not while closed", () => {
    const { WS, clock, client } = setup();
    client.connect();
    clock.advance(60000);
    assert.deepEqual(WS.last.sent, [], "no ping before open");
    WS.last.serverOpen();
    const pings = () => WS.last.sent.filter((f) => f.type === "ping").length;
    clock.advance(24999);
    assert.equal(pings(), 0);
    clock.advance(1);
    assert.equal(pings(), 1);
    assert.deepEqual(WS.last.sent.at(-1), { type: "ping" });
    for (let n = 2; n <= 5; n++) {
      WS.last.serverSend({ type: "pong" });
      clock.advance(25000);
      assert.equal(pings(), n);
    }
    const socket = WS.last;
    client.close();
    clock.advance(100000);
    assert.equal(socket.sent.filter((f) => f.type === "ping").length, 5);
  });

  test("a connection that stays silent after a ping is dropped and reopened", () => {
    const { WS, clock, client, of } = setup();
    client.connect();
    WS.last.serverOpen();
    clock.advance(25000); // ping
    assert.equal(WS.last.sent.at(-1).type, "ping");
    clock.advance(25000); // no pong, no frame at all: dead
    assert.equal(WS.instances[0].closedWith, 4000);
    assert.equal(client.state, "reconnecting");
    assert.equal(of("state").at(-1).state, "reconnecting");
    clock.advance(1000);
    assert.equal(WS.instances.length, 2);
  });

  test("a constructor that throws is retried with backoff", () => {
    let fail = true;
    const WS = fakeWebSocketClass();
    class Flaky extends WS {
      constructor(url) {
        if (fail) throw new SyntaxError("nope");
        super(url);
      }
    }
    const clock = fakeClock();
    const client = new WeatherClient(URL, {
      WebSocketImpl: Flaky,
      random: () => 0.5,
      setTimeout: clock.setTimeout,
      clearTimeout: clock.clearTimeout,
    });
    client.connect();
    assert.equal(client.state, "reconnecting");
    fail = false;
    clock.advance(500);
    assert.equal(client.state, "connecting");
    assert.equal(WS.instances.length, 1);
  });

  test("locationOf: which place each subscribe id turned out to be", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const berlin = client.subscribe({ city: "Berlin" });
    const spelled = client.subscribe({ city: "Berlin, DE" });
    const nowhere = client.subscribe({ city: "Nowhereville" });
    assert.equal(client.locationOf(berlin), null, "not answered yet");
    assert.equal(client.locationOf(999), null, "never given out");
    WS.last.serverSend({ type: "subscribed", id: berlin, location: location(2950159), weather: null, temperature: null });
    WS.last.serverSend({ type: "subscribed", id: spelled, location: location(2950159), weather: null, temperature: null });
    WS.last.serverSend({ type: "error", id: nowhere, code: "unknown_city", message: "No." });
    assert.equal(client.locationOf(berlin), "2950159");
    // merged into Berlin's subscription, but still known to be that place
    assert.equal(client.locationOf(spelled), "2950159");
    assert.equal(client.locationOf(nowhere), null);
    assert.deepEqual(
      client.subscriptions.map((s) => [s.id, s.location]),
      [[berlin, "2950159"]],
    );
    // kept across a reconnect, and after the place is unsubscribed
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.equal(client.locationOf(berlin), "2950159");
    client.unsubscribe("2950159");
    assert.deepEqual(client.subscriptions, []);
    assert.equal(client.locationOf(berlin), "2950159");
    assert.equal(client.locationOf(spelled), "2950159");
  });

  test("a refused resubscribe keeps the place its id was", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const oslo = client.subscribe({ city: "Oslo" });
    WS.last.serverSend({ type: "subscribed", id: oslo, location: location("3143244", "Oslo"), weather: null, temperature: null });
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    WS.last.serverSend({ type: "error", id: oslo, code: "too_many_subscriptions", message: "Too many." });
    assert.deepEqual(client.subscriptions, []);
    assert.equal(client.locationOf(oslo), "3143244");
  });
});

describe("socketUrl", () => {
  const page = (protocol, host = "example.com:8443") => ({ protocol, host });

  test("ws: on an http: page, wss: on an https: one, on the page's host", () => {
    assert.equal(socketUrl("/ws/weather/", page("http:")), "ws://example.com:8443/ws/weather/");
    assert.equal(socketUrl("/ws/weather/", page("https:")), "wss://example.com:8443/ws/weather/");
    assert.equal(socketUrl("/sub/ws/", page("https:", "example.com")), "wss://example.com/sub/ws/");
  });

  test("a path without its leading slash gets one; no path is the default", () => {
    assert.equal(socketUrl("ws/weather/", page("http:", "h")), "ws://h/ws/weather/");
    assert.equal(socketUrl("", page("http:", "h")), "ws://h/ws/weather/");
    assert.equal(socketUrl(undefined, page("http:", "h")), "ws://h/ws/weather/");
    assert.equal(DEFAULT_PATH, "/ws/weather/");
  });

  test("a full WebSocket URL is kept as it is", () => {
    assert.equal(socketUrl("wss://other.example/ws/", page("http:")), "wss://other.example/ws/");
    assert.equal(socketUrl("WS://other.example/ws/", page("https:")), "WS://other.example/ws/");
  });

  test("by default it is the page's own location", () => {
    globalThis.location = page("https:", "weather.example");
    try {
      assert.equal(socketUrl("/ws/weather/"), "wss://weather.example/ws/weather/");
    } finally {
      delete globalThis.location;
    }
  });
});

// --- forecasts -------------------------------------------------------------------

const hourly = (location, temperature, extra = {}) => ({
  type: "forecast",
  location,
  kind: "hourly",
  issued_at: "2026-12-01T09:00:00Z",
  source: "open-meteo",
  forecast: [{ time: "2026-12-01T09:00:00Z", temperature }],
  ...extra,
});
const daily = (location, extra = {}) => ({
  ...hourly(location, null),
  kind: "daily",
  forecast: [{ date: "2026-12-01", temperature_max: 4.2 }],
  ...extra,
});

describe("forecasts", () => {
  test("kinds: known ones, once each, in protocol order; anything else is refused", () => {
    assert.deepEqual(FORECAST_KINDS, ["hourly", "daily"]);
    assert.deepEqual(forecastKinds(["daily", "hourly", "daily"]), ["hourly", "daily"]);
    assert.deepEqual(forecastKinds([]), []);
    for (const bad of ["hourly", ["weekly"], [null], null]) assert.throws(() => forecastKinds(bad), TypeError);
    const { client } = setup();
    assert.throws(() => client.subscribe({ city: "Berlin" }, { forecast: ["monthly"] }), TypeError);
    assert.deepEqual(client.subscriptions, [], "a refused call remembers nothing");
  });

  test("the kinds go with the subscribe and again after every reconnect", () => {
    const { WS, clock, client } = setup();
    const berlin = client.subscribe({ city: "Berlin" }, { forecast: ["daily", "hourly"] });
    client.connect();
    WS.last.serverOpen();
    const oslo = client.subscribe({ city: "Oslo" }); // today's call: no forecast field
    const rome = client.subscribe({ lat: 41.9, lon: 12.5 }, { forecast: ["daily"] });
    const sent = [
      { type: "subscribe", city: "Berlin", id: berlin, forecast: ["hourly", "daily"] },
      { type: "subscribe", city: "Oslo", id: oslo },
      { type: "subscribe", lat: 41.9, lon: 12.5, id: rome, forecast: ["daily"] },
    ];
    assert.deepEqual(subscribes(WS.last), sent);
    WS.last.serverSend({ type: "subscribed", id: berlin, location: location("2950159"), weather: null });
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), sent);
    assert.deepEqual(
      client.subscriptions.map((s) => [s.id, s.forecast]),
      [
        [berlin, ["hourly", "daily"]],
        [oslo, []],
        [rome, ["daily"]],
      ],
    );
  });

  test("changing the kinds of a subscription: sent at once with its id, [] drops them", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" });
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: null });
    assert.equal(client.subscribe("berlin", { forecast: ["hourly"] }), id);
    assert.deepEqual(WS.last.sent.at(-1), { type: "subscribe", city: "Berlin", id, forecast: ["hourly"] });
    client.subscribe("Berlin"); // without forecast: nothing changes, nothing sent
    client.subscribe("Berlin", { forecast: ["hourly"] }); // the same kinds: nothing sent
    assert.equal(subscribes(WS.last).length, 2);
    assert.equal(client.setForecast(id, ["hourly", "daily"]), true);
    assert.deepEqual(WS.last.sent.at(-1), { type: "subscribe", city: "Berlin", id, forecast: ["hourly", "daily"] });
    assert.equal(client.setForecast(id, []), true);
    assert.deepEqual(WS.last.sent.at(-1), { type: "subscribe", city: "Berlin", id, forecast: [] });
    assert.equal(client.setForecast(999, ["daily"]), false);
    assert.throws(() => client.setForecast(id, ["weekly"]), TypeError);
    // a new connection has no kinds: none asked, none sent
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Berlin", id }]);
    // changed while offline: sent once the socket opens
    WS.last.serverClose();
    client.setForecast(id, ["daily"]);
    clock.advance(30000);
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Berlin", id, forecast: ["daily"] }]);
  });

  test("a dropped kinds change is sent again after rate_limited", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" }, { forecast: ["hourly"] });
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: null });
    client.setForecast(id, []);
    WS.last.serverSend({ type: "error", code: "rate_limited", message: "Slow down." });
    WS.last.sent.length = 0;
    clock.advance(30000);
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Berlin", id, forecast: [] }]);
  });

  test("forecast frames are dispatched, and the latest of each kind per place is kept", () => {
    const { WS, clock, client, of } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" }, { forecast: ["hourly", "daily"] });
    assert.equal(client.latestForecast("2950159", "hourly"), null);
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: null });
    const first = hourly("2950159", 3.1);
    const days = daily("2950159");
    WS.last.serverSend(first);
    WS.last.serverSend(days);
    assert.deepEqual(of("forecast"), [first, days]);
    assert.deepEqual(client.latestForecast("2950159", "hourly"), first);
    assert.deepEqual(client.latestForecast(2950159, "daily"), days);
    const second = hourly("2950159", 4.2, { issued_at: "2026-12-01T10:00:00Z" });
    WS.last.serverSend(second);
    assert.deepEqual(client.latestForecast("2950159", "hourly"), second, "the newer replaces it");
    assert.deepEqual(client.latestForecast("2950159", "daily"), days, "the other kind stays");
    // a place nobody here watches is passed on, not kept
    WS.last.serverSend(hourly("3143244", 1));
    assert.equal(of("forecast").length, 4);
    assert.equal(client.latestForecast("3143244", "hourly"), null);
    // kept across a reconnect
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.deepEqual(client.latestForecast("2950159", "hourly"), second);
    // a kind dropped is forgotten, and not kept if it still comes
    client.setForecast(id, ["hourly"]);
    assert.equal(client.latestForecast("2950159", "daily"), null);
    WS.last.serverSend(days);
    assert.equal(client.latestForecast("2950159", "daily"), null);
    // the place unsubscribed: nothing kept
    client.unsubscribe("2950159");
    assert.equal(client.latestForecast("2950159", "hourly"), null);
  });

  test("two spellings of one place keep the kinds both asked for", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const a = client.subscribe({ city: "Berlin" }, { forecast: ["daily"] });
    WS.last.serverSend({ type: "subscribed", id: a, location: location("2950159"), weather: null });
    const b = client.subscribe({ city: "Berlin, DE" }, { forecast: ["hourly"] });
    WS.last.serverSend({ type: "subscribed", id: b, location: location("2950159"), weather: null });
    // the server now holds b's kinds only: it is told both, on the query that stays
    assert.deepEqual(WS.last.sent.at(-1), { type: "subscribe", city: "Berlin", id: a, forecast: ["hourly", "daily"] });
    assert.deepEqual(
      client.subscriptions.map((s) => [s.id, s.forecast]),
      [[a, ["hourly", "daily"]]],
    );
    // a spelling without kinds changes nothing on the server: nothing sent
    const c = client.subscribe({ city: "berlin, germany" });
    WS.last.serverSend({ type: "subscribed", id: c, location: location("2950159"), weather: null });
    assert.equal(WS.last.sent.at(-1).id, c);
    // and the kinds can be changed through any of the ids
    assert.equal(client.setForecast(b, []), true);
    assert.deepEqual(WS.last.sent.at(-1), { type: "subscribe", city: "Berlin", id: a, forecast: [] });
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Berlin", id: a }]);
  });
});

// --- resuming after a reconnect ("since", "recovered", "replay") ------------------------

describe("resuming after a reconnect", () => {
  const at = (minute, temperature = minute) => ({
    ...reading(temperature),
    observed_at: `2026-12-01T10:${String(minute).padStart(2, "0")}:00Z`,
  });
  const reconnect = (WS, clock) => {
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
  };

  test("the first subscribe has no since; after a reconnect it carries the last observed_at", () => {
    const { WS, clock, client, of } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" });
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Berlin", id }]);
    assert.equal(client.lastObserved("2950159"), null);
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: at(0) });
    assert.equal(client.lastObserved("2950159"), "2026-12-01T10:00:00Z", "from subscribed.weather");
    WS.last.serverSend({ type: "weather", location: "2950159", weather: at(15), published_at: 1 });
    assert.equal(client.lastObserved(2950159), "2026-12-01T10:15:00Z", "from a live weather frame");
    assert.equal(client.subscriptions[0].since, "2026-12-01T10:15:00Z");

    reconnect(WS, clock);
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Berlin", id, since: "2026-12-01T10:15:00Z" }]);
    const sub = { type: "subscribed", id, location: location("2950159"), weather: at(45), recovered: true };
    WS.last.serverSend(sub);
    assert.equal(of("subscribed").at(-1).recovered, true, "recovered is on the subscribed event");
    WS.last.serverSend({ type: "weather", location: "2950159", weather: at(30), replay: true });
    WS.last.serverSend({ type: "weather", location: "2950159", weather: at(45), replay: true });
    WS.last.serverSend({ type: "weather", location: "2950159", weather: at(50), published_at: 2 });
    // replayed readings reach the listeners as weather events that say so; live ones do not
    assert.deepEqual(
      of("weather").map((w) => [w.weather.observed_at.slice(11, 16), w.replay === true]),
      [
        ["10:15", false],
        ["10:30", true],
        ["10:45", true],
        ["10:50", false],
      ],
    );
    assert.equal(client.lastObserved("2950159"), "2026-12-01T10:50:00Z");

    // and again, from where it got to (a replay counts as much as a live frame)
    reconnect(WS, clock);
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Berlin", id, since: "2026-12-01T10:50:00Z" }]);
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: at(50), recovered: true });
    WS.last.serverSend({ type: "weather", location: "2950159", weather: at(55), replay: true });
    reconnect(WS, clock);
    assert.equal(subscribes(WS.last)[0].since, "2026-12-01T10:55:00Z");
  });

  test("close() then connect() resumes too; a place with no reading yet sends no since", () => {
    const { WS, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const berlin = client.subscribe({ city: "Berlin" });
    const oslo = client.subscribe({ city: "Oslo" });
    WS.last.serverSend({ type: "subscribed", id: berlin, location: location("2950159"), weather: at(5) });
    WS.last.serverSend({ type: "subscribed", id: oslo, location: location("3143244", "Oslo"), weather: null });
    client.close();
    client.connect();
    WS.last.serverOpen();
    assert.deepEqual(subscribes(WS.last), [
      { type: "subscribe", city: "Berlin", id: berlin, since: "2026-12-01T10:05:00Z" },
      { type: "subscribe", city: "Oslo", id: oslo },
    ]);
  });

  test("the latest observed_at is kept: an older or stale repeat does not move it back", () => {
    const { WS, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" });
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: at(30) });
    WS.last.serverSend({ type: "weather", location: "2950159", weather: { ...at(30), stale: true, age: 900 } });
    WS.last.serverSend({ type: "weather", location: "2950159", weather: { ...at(40), observed_at: "garbage" } });
    WS.last.serverSend({ type: "weather", location: "2950159", weather: at(15), replay: true });
    assert.equal(client.lastObserved("2950159"), "2026-12-01T10:30:00Z");
    // a place not watched is not remembered
    WS.last.serverSend({ type: "weather", location: "2988507", weather: at(59) });
    assert.equal(client.lastObserved("2988507"), null);
  });

  test("recovered: false is on the subscribed event, and live frames go on", () => {
    const { WS, clock, client, of } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" });
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: at(0) });
    assert.equal("recovered" in of("subscribed")[0], false, "no since, no recovered");
    reconnect(WS, clock);
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: at(59), recovered: false });
    assert.equal(of("subscribed").at(-1).recovered, false);
    assert.equal(client.lastObserved("2950159"), "2026-12-01T10:59:00Z");
  });

  test("a dropped resubscribe is sent again with its since; a change of kinds while live sends none", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" });
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: at(10) });
    reconnect(WS, clock);
    WS.last.serverSend({ type: "error", code: "rate_limited", message: "Slow down." });
    clock.advance(30000);
    assert.deepEqual(subscribes(WS.last), [
      { type: "subscribe", city: "Berlin", id, since: "2026-12-01T10:10:00Z" },
      { type: "subscribe", city: "Berlin", id, since: "2026-12-01T10:10:00Z" },
    ]);
    // a change of kinds before the answer: the replay is asked for once, not twice
    client.setForecast(id, ["daily"]);
    assert.deepEqual(WS.last.sent.at(-1), { type: "subscribe", city: "Berlin", id, forecast: ["daily"] });
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: at(10), recovered: true });
    client.setForecast(id, ["hourly"]);
    assert.deepEqual(WS.last.sent.at(-1), { type: "subscribe", city: "Berlin", id, forecast: ["hourly"] });
  });

  test("an unsubscribed place forgets its last reading: subscribed again, it starts afresh", () => {
    const { WS, clock, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" });
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: at(10) });
    client.unsubscribe("2950159");
    assert.equal(client.lastObserved("2950159"), null);
    const again = client.subscribe({ city: "Berlin" });
    reconnect(WS, clock);
    assert.deepEqual(subscribes(WS.last), [{ type: "subscribe", city: "Berlin", id: again }]);
  });
});

// --- how many watch a place ("watchers") ----------------------------------------------------

describe("watchers", () => {
  test("subscribed carries the count; watchers frames are dispatched and keep it", () => {
    const { WS, clock, client, of } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" });
    assert.equal(client.watchers("2950159"), null, "nothing before the server said");
    const subscribed = { type: "subscribed", id, location: location("2950159"), weather: null, watchers: 1 };
    WS.last.serverSend(subscribed);
    assert.equal(of("subscribed")[0].watchers, 1, "on the subscribed event's detail");
    assert.equal(client.watchers("2950159"), 1);
    assert.equal(client.watchers(2950159), 1, "a number id is its text");

    const two = { type: "watchers", location: "2950159", count: 2 };
    WS.last.serverSend(two);
    assert.deepEqual(of("watchers"), [two]);
    assert.equal(client.watchers("2950159"), 2);
    // a place nobody here watches is passed on, not kept; a count that is no count is not kept
    const elsewhere = { type: "watchers", location: "2988507", count: 7 };
    WS.last.serverSend(elsewhere);
    WS.last.serverSend({ type: "watchers", location: "2950159", count: "many" });
    assert.equal(of("watchers").length, 3);
    assert.equal(client.watchers("2988507"), null);
    assert.equal(client.watchers("2950159"), 2);

    // kept across a reconnect until the resubscribe's answer brings it anew
    WS.last.serverClose();
    clock.advance(30000);
    WS.last.serverOpen();
    assert.equal(client.watchers("2950159"), 2);
    WS.last.serverSend({ ...subscribed, watchers: 1 });
    assert.equal(client.watchers("2950159"), 1);
    WS.last.serverSend({ type: "watchers", location: "2950159", count: 3 });
    assert.equal(client.watchers("2950159"), 3);

    // the place unsubscribed: forgotten, and a late frame is not kept
    client.unsubscribe("2950159");
    assert.equal(client.watchers("2950159"), null);
    WS.last.serverSend({ type: "watchers", location: "2950159", count: 4 });
    assert.equal(client.watchers("2950159"), null);
    assert.equal(client.watchers(null), null);
  });

  test("a subscribed without watchers (an older server) leaves the count unknown", () => {
    const { WS, client } = setup();
    client.connect();
    WS.last.serverOpen();
    const id = client.subscribe({ city: "Berlin" });
    WS.last.serverSend({ type: "subscribed", id, location: location("2950159"), weather: null });
    assert.equal(client.watchers("2950159"), null);
  });
});

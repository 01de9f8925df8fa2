import assert from "node:assert/strict";
import { test } from "node:test";

import {
  STATE_LABELS,
  announcement,
  connectionIndicator,
  retryShown,
  secondsLeft,
  stateLabel,
} from "../../src/weatherstream/static/weatherstream/js/connection.js";

test("the label for each state of the client", () => {
  assert.equal(stateLabel("connecting"), "Connecting…");
  assert.equal(stateLabel("live"), "Live");
  assert.equal(stateLabel("offline"), "Offline");
  assert.equal(stateLabel("reconnecting", 7), "Reconnecting in 7s");
  assert.equal(stateLabel("reconnecting"), "Reconnecting in 0s");
  assert.equal(stateLabel("someday"), "someday");
  assert.deepEqual(Object.keys(STATE_LABELS), ["connecting", "live", "offline"]);
});

test("the countdown rounds up to whole seconds and stops at 0", () => {
  assert.equal(secondsLeft(5000, 0), 5);
  assert.equal(secondsLeft(5000, 1), 5);
  assert.equal(secondsLeft(5000, 4001), 1);
  assert.equal(secondsLeft(5000, 5000), 0);
  assert.equal(secondsLeft(5000, 9000), 0);
});

test("Retry now is offered only without a connection in the making", () => {
  assert.equal(retryShown("reconnecting"), true);
  assert.equal(retryShown("offline"), true);
  assert.equal(retryShown("live"), false);
  assert.equal(retryShown("connecting"), false);
});

test("what is announced: each change once, never 'connecting'", () => {
  assert.equal(announcement("live", null), "Connected: live updates.");
  assert.equal(announcement("offline", "live"), "Offline.");
  assert.equal(announcement("reconnecting", "live"), "Connection lost, reconnecting.");
  assert.equal(announcement("reconnecting", "reconnecting"), null);
  assert.equal(announcement("live", "live"), null);
  assert.equal(announcement("connecting", "live"), null);
  assert.equal(announcement("connecting", null), null);
});

function fakePage() {
  let now = 1_000_000;
  let seq = 0;
  const intervals = new Map();
  const el = () => ({ dataset: {}, textContent: "", hidden: true });
  const parts = { element: el(), label: el(), retry: el(), page: el(), said: [] };
  const render = connectionIndicator({
    ...parts,
    announce: (text) => parts.said.push(text),
    now: () => now,
    setInterval(fn, ms) {
      assert.equal(ms, 500);
      intervals.set(++seq, fn);
      return seq;
    },
    clearInterval: (id) => intervals.delete(id),
  });
  const tick = (ms) => {
    now += ms;
    for (const fn of [...intervals.values()]) fn();
  };
  return { ...parts, render, tick, intervals };
}

test("the indicator follows the client's state events", () => {
  const p = fakePage();
  p.render({ state: "connecting" });
  assert.equal(p.element.dataset.state, "connecting");
  assert.equal(p.page.dataset.connection, "connecting");
  assert.equal(p.label.textContent, "Connecting…");
  assert.equal(p.retry.hidden, true);
  assert.deepEqual(p.said, []);

  p.render({ state: "live" });
  assert.equal(p.element.dataset.state, "live");
  assert.equal(p.page.dataset.connection, "live");
  assert.equal(p.label.textContent, "Live");
  assert.equal(p.retry.hidden, true);
  assert.deepEqual(p.said, ["Connected: live updates."]);

  p.render({ state: "offline" });
  assert.equal(p.label.textContent, "Offline");
  assert.equal(p.retry.hidden, false);
  assert.deepEqual(p.said, ["Connected: live updates.", "Offline."]);
});

test("while reconnecting the label counts down, then the countdown stops", () => {
  const p = fakePage();
  p.render({ state: "live" });
  p.render({ state: "reconnecting", retryIn: 2500 });
  assert.equal(p.label.textContent, "Reconnecting in 3s");
  assert.equal(p.element.dataset.state, "reconnecting");
  assert.equal(p.retry.hidden, false);
  assert.equal(p.intervals.size, 1);
  p.tick(600);
  assert.equal(p.label.textContent, "Reconnecting in 2s");
  p.tick(1000);
  assert.equal(p.label.textContent, "Reconnecting in 1s");
  p.tick(1000);
  assert.equal(p.label.textContent, "Reconnecting in 0s");
  assert.equal(p.intervals.size, 0);
  // a second failed attempt: a new countdown, announced once only
  p.render({ state: "reconnecting", retryIn: 900 });
  assert.equal(p.label.textContent, "Reconnecting in 1s");
  assert.equal(p.intervals.size, 1);
  p.render({ state: "connecting" });
  assert.equal(p.intervals.size, 0);
  assert.equal(p.label.textContent, "Connecting…");
  assert.deepEqual(p.said, ["Connected: live updates.", "Connection lost, reconnecting."]);
});

test("a reconnect due at once shows 0s and starts no countdown", () => {
  const p = fakePage();
  p.render({ state: "reconnecting", retryIn: 0 });
  assert.equal(p.label.textContent, "Reconnecting in 0s");
  assert.equal(p.intervals.size, 0);
  p.render({ state: "reconnecting" });
  assert.equal(p.label.textContent, "Reconnecting in 0s");
});

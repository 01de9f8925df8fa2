// A fake WebSocket class (the server's side driven by the test) and fake timers, for the
// client and the widgets. Not a test file itself.
import assert from "node:assert/strict";

export function fakeWebSocketClass() {
  class FakeWebSocket {
    static instances = [];

    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closedWith = null;
      FakeWebSocket.instances.push(this);
    }

    send(text) {
      if (this.readyState !== 1) throw new Error("InvalidStateError: not open");
      assert.equal(typeof text, "string");
      this.sent.push(JSON.parse(text));
    }

    close(code) {
      this.closedWith = code ?? 1005;
      this.readyState = 3;
    }

    // test controls
    serverOpen() {
      this.readyState = 1;
      this.onopen?.({ type: "open" });
    }

    serverSend(frame) {
      const data = typeof frame === "string" ? frame : JSON.stringify(frame);
      this.onmessage?.({ type: "message", data });
    }

    serverClose(code = 1006) {
      this.readyState = 3;
      this.onerror?.({ type: "error" });
      this.onclose?.({ type: "close", code });
    }

    static get last() {
      return FakeWebSocket.instances.at(-1);
    }
  }
  return FakeWebSocket;
}

export function fakeClock() {
  let now = 0;
  let seq = 0;
  const timers = new Map();
  return {
    setTimeout(fn, ms = 0) {
      const id = ++seq;
      timers.set(id, { fn, at: now + Math.max(0, ms), ms });
      return id;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
    /** Run every timer due within `ms`, in time order. */
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let next = null;
        for (const [id, t] of timers) {
          if (t.at <= end && (next === null || t.at < next[1].at)) next = [id, t];
        }
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
    /** Delays (as scheduled) of the timers still pending. */
    pending() {
      return [...timers.values()].map((t) => t.ms);
    },
    get now() {
      return now;
    },
  };
}

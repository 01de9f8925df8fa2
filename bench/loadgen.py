"""Cheap WebSocket load generator for the fan-out benchmark.

One process holds thousands of connections. Each connection is an asyncio
``Protocol`` with just enough RFC 6455 to be correct for this test: it sends the
HTTP upgrade, masks its own (rare) text frames, parses the server's unmasked
frames, answers server pings, and answers close frames. It does not verify
``Sec-WebSocket-Accept`` (the server is trusted; the point is to be cheap).

Weather frames are not JSON-decoded: ``published_at`` is pulled out with a regex,
which keeps the per-frame cost of the receiver low and identical for every server.

The orchestrator (``fanout.py``) drives a generator process through a
``multiprocessing`` pipe with these commands, each answered with one message:

``("connect", spec)``   open and subscribe ``spec["conns"]`` connections
``("window", t0, t1)``  count weather frames received in [t0, t1] (wall clock); with a
                        fourth True, also by reading (several server processes); with a
                        fifth, also each frame's latency from its poll tick (M > 1);
                        ``("window", t0, t1, True)`` also returns each frame's
                        (location, published_at, receipt time): bench/stations.py
``("rtt", spec)``       ping / subscribe round trips on a sample of connections
``("track",)``          from now on, note each connection's last ``observed_at``
``("storm", spec)``     the reconnect storm (issue 17): every connection, dropped by a
                        server restart, connects again and resubscribes with ``since``
                        (its last ``observed_at``); answered when all are subscribed
``("storm_check", s)``  s seconds later: each new connection's readings (replayed and
                        live) and the storm's replay counts, for bench/storm.py's check
``("reconnect", spec)`` the soak (issue 18): the connections whose index % spec["parts"]
                        is spec["part"] drop and connect again, resubscribing with ``since``
``("close",)``          drop every connection and exit
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import resource
import signal
import time
from array import array
from typing import Any

LATE_GRACE = 2.0  # seconds to wait after the window for frames published inside it
PUBLISHED_AT = re.compile(rb'"published_at":\s*([0-9.eE+-]+)')
OBSERVED_AT = re.compile(rb'"observed_at":\s*"([^"]+)"')
LOCATION = re.compile(rb'"location":\s*"([^"]+)"')  # a weather frame's place (--places-per-client)

HANDSHAKE, OPEN, CLOSED = 0, 1, 2


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def encode_text(text: str) -> bytes:
    """A masked client text frame (FIN, opcode 1)."""
    payload = text.encode()
    n = len(payload)
    mask = os.urandom(4)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 65536:
        head = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + mask + _mask(payload, mask)


def _control(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + _mask(payload, mask)


def _mask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


class Stats:
    """Shared by all connections of one generator process."""

    def __init__(self) -> None:
        self.t0 = float("inf")
        self.t1 = float("-inf")
        self.frames = 0  # weather frames published inside the window
        # location -> the distinct publications (published_at) seen inside the window
        self.publications: dict[int, set[float]] = {}
        self.frames_total = 0
        self.latencies = array("d")
        # (location, published_at, receipt time) of each frame in the window, when asked
        self.arrivals: array[float] | None = None
        self.closed = 0
        self.close_codes: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.track = False  # note observed_at per connection (the reconnect storm)
        # Several server processes (--redis, --workers): frames per (place, observed_at) and
        # the earliest published_at of each, near the window; None for one process.
        self.readings: dict[tuple[int, str], int] | None = None
        self.first: dict[tuple[int, str], float] = {}
        self.watchers_frames = 0  # {"type": "watchers"} frames received (issue 17)
        # --places-per-client: each frame's poll tick (its observed_at, one per tick in both
        # designs) and receipt time, and the earliest published_at of each tick
        self.ticks: dict[bytes, int] | None = None
        self.tick_first = array("d")
        self.tick_of = array("i")
        self.tick_at = array("d")

    def tick(self, key: bytes, published: float, now: float) -> None:
        """A frame of the poll tick ``key``, received at ``now`` (0: near the window, not in
        it: it only moves the tick's first publication)."""
        index = self.ticks.get(key)  # type: ignore[union-attr]
        if index is None:
            index = self.ticks[key] = len(self.tick_first)  # type: ignore[index]
            self.tick_first.append(published)
        elif published < self.tick_first[index]:
            self.tick_first[index] = published
        if now:
            self.tick_of.append(index)
            self.tick_at.append(now)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


class Client(asyncio.Protocol):
    __slots__ = (
        "stats",
        "request",
        "subscribe_texts",
        "locs",
        "by_id",
        "unanswered",
        "state",
        "buf",
        "transport",
        "subscribed",
        "waiters",
        "frag",
        "t_connect",
        "t_subscribed",
        "loc",
        "stalled",
        "last_obs",
        "since",
        "seen",
        "replayed",
        "t_last_replay",
        "recovered",
    )

    def __init__(
        self,
        stats: Stats,
        host: str,
        port: int,
        path: str,
        subscribe: dict[str, Any],
        loc: int,
        more: list[tuple[int, dict[str, Any]]] | None = None,
    ) -> None:
        more = more or []
        self.stats = stats
        self.loc = loc
        # --places-per-client: the other places it watches, (index, subscribe message);
        # their frames are told apart by their location id, learnt from `subscribed`.
        self.locs = [loc, *(i for i, _ in more)]
        self.by_id: dict[str, int] = {}
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://{host}:{port}\r\n\r\n"
        ).encode()
        self.subscribe_texts = [
            json.dumps(m, separators=(",", ":")) for m in (subscribe, *(m for _, m in more))
        ]
        self.unanswered = len(self.subscribe_texts)
        self.state = HANDSHAKE
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.subscribed: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters: dict[Any, asyncio.Future[float]] = {}
        self.frag: bytes | None = None
        self.t_connect = 0.0
        self.t_subscribed = 0.0
        self.stalled = False  # subscribed, then never reads again (a slow or dead client)
        self.last_obs = b""  # the last observed_at received, while stats.track
        # the reconnect storm: the since sent, every observed_at received after it in
        # order (replayed and live), how many were replays, the last one's receipt time
        self.since: str | None = subscribe.get("since")
        self.seen: list[bytes] | None = [] if self.since is not None else None
        self.replayed = 0
        self.t_last_replay = 0.0
        self.recovered: bool | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state != CLOSED:
            self.state = CLOSED
            self.stats.closed += 1
        self._fail("connection lost")

    def _fail(self, why: str) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(why))
        for fut in self.waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionError(why))
        self.waiters.clear()

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if self.state == HANDSHAKE:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            status = buf[: buf.find(b"\r\n")]
            if b" 101 " not in status + b" ":
                self.stats.error("handshake: " + status.decode(errors="replace")[:60])
                self.state = CLOSED
                self.stats.closed += 1
                self._fail("handshake refused")
                self.transport.close()  # type: ignore[union-attr]
                return
            self.state = OPEN
            buf = buf[end + 4 :]
        pos, n = 0, len(buf)
        now = 0.0
        stats = self.stats
        while n - pos >= 2:
            b0 = buf[pos]
            ln = buf[pos + 1] & 0x7F
            hdr = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                hdr = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hdr = 10
            if n - pos < hdr + ln:
                break
            payload = buf[pos + hdr : pos + hdr + ln]
            pos += hdr + ln
            opcode = b0 & 0x0F
            if opcode == 1 or opcode == 0:
                if not b0 & 0x80:  # fragment
                    self.frag = (self.frag or b"") + payload
                    continue
                if self.frag is not None:
                    payload, self.frag = self.frag + payload, None
                if not now:
                    now = time.time()
                m = PUBLISHED_AT.search(payload)
                if m is not None:
                    stats.frames_total += 1
                    loc = self.loc
                    if len(self.locs) > 1:
                        where = LOCATION.search(payload)
                        loc = self.by_id.get(where.group(1).decode(), -1) if where else -1
                    if stats.track:
                        obs = OBSERVED_AT.search(payload)
                        if obs is not None:
                            self.last_obs = obs.group(1)
                            if self.seen is not None:
                                self.seen.append(self.last_obs)
                    published = float(m.group(1))
                    # The window selects by publication time: a burst cut by its edge
                    # counts whole, and a frame published inside it but never received
                    # shows as a shortfall against the publications its peers saw.
                    inside = stats.t0 <= published <= stats.t1
                    if stats.ticks is not None and stats.t0 - 2.0 <= published <= stats.t1 + 2.0:
                        # a tick's first publication may fall just outside the window
                        obs = OBSERVED_AT.search(payload)
                        stats.tick(obs.group(1) if obs else b"", published, now if inside else 0.0)
                    if inside:
                        stats.frames += 1
                        stats.latencies.append(now - published)
                        if stats.arrivals is not None:
                            stats.arrivals.extend((loc, published, now))
                        seen = stats.publications.get(loc)
                        if seen is None:
                            seen = stats.publications[loc] = set()
                        seen.add(published)
                    if stats.readings is not None and stats.t0 - 1.0 <= published <= stats.t1 + 1.0:
                        # several server processes stamp one reading each: count by reading
                        obs = OBSERVED_AT.search(payload)
                        key = (loc, obs.group(1).decode() if obs else "")
                        stats.readings[key] = stats.readings.get(key, 0) + 1
                        stats.first[key] = min(stats.first.get(key, published), published)
                else:
                    self._control_reply(payload, now)
            elif opcode == 9:  # ping
                self.transport.write(_control(0xA, payload))  # type: ignore[union-attr]
            elif opcode == 8:  # close
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                stats.close_codes[code] = stats.close_codes.get(code, 0) + 1
                if self.state != CLOSED:
                    self.state = CLOSED
                    stats.closed += 1
                    self.transport.write(_control(0x8, payload[:2]))  # type: ignore[union-attr]
                    self.transport.close()  # type: ignore[union-attr]
                self._fail(f"closed {code}")
                return
            # opcode 2 (binary) and 10 (pong) are ignored
        self.buf = buf[pos:] if pos < n else b""

    # -- protocol messages ----------------------------------------------------------------

    def _control_reply(self, payload: bytes, now: float) -> None:
        try:
            msg = json.loads(payload)
        except ValueError:
            self.stats.error("bad json from server")
            return
        kind = msg.get("type")
        if kind == "hello":
            for text in self.subscribe_texts:
                self.send(text)
        elif kind == "subscribed" or kind == "pong":
            fut = self.waiters.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(now)
            elif kind == "subscribed" and not self.subscribed.done():
                if len(self.locs) > 1:  # ids 1..M: the places in order
                    self.by_id[str(msg["location"]["id"])] = self.locs[msg["id"] - 1]
                self.unanswered -= 1
                if self.unanswered:
                    return
                self.t_subscribed = now
                self.recovered = msg.get("recovered")
                self.subscribed.set_result(now)
        elif kind == "weather" and msg.get("replay"):  # replays carry no published_at
            self.replayed += 1
            self.t_last_replay = now
            observed = msg.get("weather", {}).get("observed_at", "").encode()
            self.last_obs = observed
            if self.seen is not None:
                self.seen.append(observed)
        elif kind == "watchers":
            self.stats.watchers_frames += 1
        elif kind == "error":
            self.stats.error("server error: " + str(msg.get("code")))
            fut = self.waiters.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_exception(RuntimeError(str(msg.get("code"))))
            elif not self.subscribed.done():
                self.subscribed.set_exception(RuntimeError(str(msg.get("code"))))

    def send(self, text: str) -> None:
        if self.state == OPEN:
            self.transport.write(encode_text(text))  # type: ignore[union-attr]

    async def request_reply(self, message: dict[str, Any], timeout: float) -> float:
        """Send a message carrying an ``id``; seconds until the reply with that id."""
        fut = asyncio.get_running_loop().create_future()
        self.waiters[message["id"]] = fut
        t = time.time()
        self.send(json.dumps(message, separators=(",", ":")))
        done = await asyncio.wait_for(fut, timeout)
        return done - t

    def abort(self) -> None:
        if self.transport is not None:
            self.state = CLOSED
            self.transport.abort()


def subscribe_message(
    index: int, k: int, stations: list[str] | None = None, since: str | None = None
) -> dict[str, Any]:
    """Connection ``index`` watches location ``index % k`` (round robin): with
    ``stations``, the registered station ``stations[index % k]``; with ``since``, it
    resumes after that reading."""
    if stations:
        message: dict[str, Any] = {"type": "subscribe", "station": stations[index % k], "id": 1}
    else:
        lat, lon = location(index % k)
        message = {"type": "subscribe", "lat": lat, "lon": lon, "id": 1}
    if since is not None:
        message["since"] = since
    return message


def more_places(index: int, k: int, m: int) -> list[tuple[int, dict[str, Any]]]:
    """--places-per-client M: connection ``index`` also watches the M-1 places after its
    own, (index, subscribe message with id 2..M)."""
    out = []
    for j in range(1, m):
        loc = (index + j) % k
        lat, lon = location(loc)
        out.append((loc, {"type": "subscribe", "lat": lat, "lon": lon, "id": j + 1}))
    return out


def location(j: int) -> tuple[float, float]:
    """K distinct coordinates on a land grid (France to Hungary and northwards).

    Land matters: the product describes a coordinate by its nearest cities, and a
    point in open ocean makes that search far more expensive than a user's would be.
    25 columns 0.8 degrees apart from 0E, rows 0.4 degrees apart from 47N.
    """
    return (round(47.0 + (j // 25) * 0.4, 2), round(0.0 + (j % 25) * 0.8, 2))


class Generator:
    def __init__(self) -> None:
        self.stats = Stats()
        self.clients: list[Client] = []
        self.indices: list[int] = []

    async def connect(self, spec: dict[str, Any], since: dict[int, str] | None = None) -> dict[str, Any]:
        """Open and subscribe ``spec["indices"]``; with ``since`` (index -> observed_at),
        each of those resumes after its reading."""
        loop = asyncio.get_running_loop()
        host, ports, path = spec["host"], spec["ports"], spec["path"]
        sem = asyncio.Semaphore(spec["concurrency"])
        per_conn_timeout = spec["conn_timeout"]
        deadline = time.monotonic() + spec["phase_timeout"]
        t_first: list[float] = []
        ok: list[Client] = []
        ok_idx: list[int] = []
        failures: dict[str, int] = {}
        stalled = spec.get("stalled", 0.0)
        stall_every = round(1 / stalled) if stalled else 0

        async def one(index: int) -> None:
            async with sem:
                if time.monotonic() > deadline:
                    failures["phase timeout"] = failures.get("phase timeout", 0) + 1
                    return
                port = ports[index % len(ports)]  # several server processes: round robin
                resume = since.get(index) if since is not None else None
                message = subscribe_message(index, spec["k"], spec.get("stations"), resume)
                more = more_places(index, spec["k"], spec.get("places_per_client", 1))
                client = Client(self.stats, host, port, path, message, index % spec["k"], more)
                t = time.time()
                if not t_first:
                    t_first.append(t)
                try:
                    await asyncio.wait_for(
                        loop.create_connection(lambda: client, host, port), per_conn_timeout
                    )
                    remaining = max(0.1, min(per_conn_timeout, deadline - time.monotonic()))
                    await asyncio.wait_for(client.subscribed, remaining)
                except Exception as exc:  # noqa: BLE001 - every failure is counted
                    why = type(exc).__name__ + (f": {exc}" if str(exc) else "")
                    failures[why[:80]] = failures.get(why[:80], 0) + 1
                    client.abort()
                    return
                if stall_every and index % stall_every == 0:
                    client.stalled = True
                    client.transport.pause_reading()  # type: ignore[union-attr]
                ok.append(client)
                ok_idx.append(index)

        await asyncio.gather(*(one(i) for i in spec["indices"]))
        self.clients.extend(ok)
        self.indices.extend(ok_idx)
        t_last = max((c.t_subscribed for c in ok), default=0.0)
        return {
            "ok": len(ok),
            "stalled": sum(c.stalled for c in ok),
            "failed": sum(failures.values()),
            "failures": failures,
            "t_first": t_first[0] if t_first else 0.0,
            "t_last": t_last,
        }

    async def window(
        self, t0: float, t1: float, arrivals: bool = False, by_reading: bool = False, by_tick: bool = False
    ) -> dict[str, Any]:
        s = self.stats
        s.frames, s.latencies, s.publications = 0, array("d"), {}
        s.ticks, s.tick_first, s.tick_of, s.tick_at = (
            ({} if by_tick else None),
            array("d"),
            array("i"),
            array("d"),
        )
        s.readings, s.first = ({} if by_reading else None), {}
        s.arrivals = array("d") if arrivals else None
        closed_before = s.closed
        s.t0, s.t1 = t0, t1
        # Frames published just before t1 are still on their way: wait for them.
        await asyncio.sleep(max(0.0, t1 - time.time()) + LATE_GRACE)
        s.t0, s.t1 = float("inf"), float("-inf")
        seen, s.arrivals = s.arrivals, None
        # from the tick: receipt minus the tick's first published_at (seen by this process)
        from_tick = array("d", (at - s.tick_first[i] for i, at in zip(s.tick_of, s.tick_at)))
        s.ticks = None
        subscribers: dict[int, int] = {}
        for client in self.clients:
            if client.state == OPEN and not client.stalled:  # stalled ones read nothing
                for loc in client.locs:
                    subscribers[loc] = subscribers.get(loc, 0) + 1
        return {
            "frames": s.frames,
            "publications": {loc: sorted(seen) for loc, seen in s.publications.items()},
            "subscribers": subscribers,
            "latencies": s.latencies.tobytes(),
            "tick_latencies": from_tick.tobytes(),
            "arrivals": seen.tobytes() if seen is not None else b"",
            "readings": [(loc, key, n, s.first[loc, key]) for (loc, key), n in (s.readings or {}).items()],
            "closed_in_window": s.closed - closed_before,
            "open": sum(1 for c in self.clients if c.state == OPEN and not c.stalled),
            "close_codes": dict(s.close_codes),
            "errors": dict(s.errors),
        }

    async def rtt(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Ping and subscribe round trips on ``spec["sample"]`` evenly spread connections."""
        live = [(c, i) for c, i in zip(self.clients, self.indices) if c.state == OPEN and not c.stalled]
        sample = spec["sample"]
        step = max(1, len(live) // max(1, sample))
        chosen = live[::step][:sample]
        pings: list[float] = []
        subs: list[float] = []
        failures: dict[str, int] = {}
        spread, timeout, k = spec["spread"], spec["timeout"], spec["k"]

        async def one(n: int, client: Client, index: int) -> None:
            await asyncio.sleep(spread * n / max(1, len(chosen)))
            try:
                for p in range(spec["pings"]):
                    pings.append(await client.request_reply({"type": "ping", "id": 1000 + p}, timeout))
                    await asyncio.sleep(0.15)
                # a second, already-live location: the snapshot comes from memory
                lat, lon = location((index + 1) % k)
                subs.append(
                    await client.request_reply(
                        {"type": "subscribe", "lat": lat, "lon": lon, "id": 2000}, timeout
                    )
                )
            except Exception as exc:  # noqa: BLE001
                why = type(exc).__name__
                failures[why] = failures.get(why, 0) + 1

        await asyncio.gather(*(one(n, c, i) for n, (c, i) in enumerate(chosen)))
        return {
            "pings": array("d", pings).tobytes(),
            "subs": array("d", subs).tobytes(),
            "failures": failures,
        }

    async def storm(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The reconnect storm: the server was restarted, so every connection is gone;
        each connects again and resubscribes with ``since``, its last ``observed_at``."""
        since = {i: c.last_obs.decode() for c, i in zip(self.clients, self.indices) if c.last_obs}
        old = len(self.clients)
        self.close()
        self.stats.watchers_frames = 0
        result = await self.connect(spec | {"indices": spec["indices"]}, since)
        result["without_since"] = old - len(since)
        return result

    async def reconnect(self, spec: dict[str, Any]) -> dict[str, Any]:
        """--soak: the connections whose index % parts is part close and connect again,
        each resubscribing with ``since`` (its last ``observed_at``) when it has one."""
        part, parts = spec["part"], spec["parts"]
        closed_before = self.stats.closed  # closes by the server while this runs (aborts are not counted)
        drop = [(c, i) for c, i in zip(self.clients, self.indices) if i % parts == part]
        keep = [(c, i) for c, i in zip(self.clients, self.indices) if i % parts != part]
        since = {i: c.last_obs.decode() for c, i in drop if c.last_obs}
        for c, _ in drop:
            c.abort()
        self.clients, self.indices = [c for c, _ in keep], [i for _, i in keep]
        result = await self.connect(spec | {"indices": [i for _, i in drop]}, since)
        for c in self.clients[len(keep) :]:
            c.seen = None  # no list of every reading over a soak
        result["dropped"] = len(drop)
        result["closed"] = self.stats.closed - closed_before
        return result

    async def storm_check(self, wait: float) -> dict[str, Any]:
        """After ``wait`` s of live frames: per new connection, (location, since, every
        observed_at received after it in order); the replay and watchers counts."""
        await asyncio.sleep(wait)
        self.stats.track = False
        return {
            "clients": [
                (c.loc, c.since, [o.decode() for o in c.seen or ()])
                for c in self.clients
                if c.state == OPEN and c.since is not None
            ],
            "recovered": sum(1 for c in self.clients if c.recovered),
            "not_recovered": sum(1 for c in self.clients if c.recovered is False),
            "replayed": sum(c.replayed for c in self.clients),
            "t_last_replay": max((c.t_last_replay for c in self.clients), default=0.0),
            "watchers_frames": self.stats.watchers_frames,
            "closed": sum(1 for c in self.clients if c.state != OPEN),
            "errors": dict(self.stats.errors),
        }

    def close(self) -> None:
        for c in self.clients:
            c.abort()
        self.clients.clear()
        self.indices.clear()


def run(conn: Any) -> None:
    """Entry point of a generator process: serve commands from the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides when we stop
    _raise_nofile()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    parent = os.getppid()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        gen = Generator()

        async def orphan_watch() -> None:
            while True:
                await asyncio.sleep(1.0)
                if os.getppid() != parent:
                    os._exit(1)

        watch = loop.create_task(orphan_watch())
        while True:
            try:  # a thread reads the pipe: the event loop must not make its fd non-blocking
                cmd = await loop.run_in_executor(None, conn.recv)
            except EOFError:
                cmd = ("close",)
            if cmd[0] == "connect":
                conn.send(await gen.connect(cmd[1]))
            elif cmd[0] == "window":
                conn.send(await gen.window(*cmd[1:]))
            elif cmd[0] == "rtt":
                conn.send(await gen.rtt(cmd[1]))
            elif cmd[0] == "track":
                gen.stats.track = True
                conn.send({"tracking": True})
            elif cmd[0] == "storm":
                conn.send(await gen.storm(cmd[1]))
            elif cmd[0] == "reconnect":
                conn.send(await gen.reconnect(cmd[1]))
            elif cmd[0] == "storm_check":
                conn.send(await gen.storm_check(cmd[1]))
            elif cmd[0] == "close":
                gen.close()
                try:
                    conn.send({"closed": True})
                except (BrokenPipeError, OSError):
                    pass
                break
        watch.cancel()

    asyncio.run(main())

"""Lower-bound baseline: a plain ``websockets`` broadcast server on uvloop.

Same minimal protocol as the product (hello, subscribe -> subscribed with the
latest snapshot, a weather frame per location per second carrying published_at,
ping -> pong); each frame is serialized once and sent with
``websockets.broadcast()``. No Django, no ASGI.

Personal weather stations (bench/stations.py): ``subscribe`` with ``"station": ID``, and
a Weather Underground upload, ``GET /weatherstation/updateweatherstation.php?ID=...``,
answered 200 ``success`` after broadcasting its reading to that station's subscribers at
once (the product answers after its fan-out too). Any ID is accepted, no key is checked
and nothing is stored: the least work an upload can cause. websockets answers one HTTP
request per connection and closes it, as a gateway's upload uses one.

    python bench/baselines/plain_ws.py --port 9001
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import uvloop
import websockets
from weather import location_id, parse_subscribe, place, reading, station_place, station_reading
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

UPLOAD_PATH = "/weatherstation/updateweatherstation.php"
SAME_TICK = False

subscribers: dict[str, set[ServerConnection]] = {}
latest: dict[str, dict[str, Any]] = {}
tickers: dict[str, asyncio.Task[None]] = {}
# --same-tick: one timer updates every location in turn, as one poll answering for all
# places does (fanout.py --places-per-client); otherwise one timer per location.
same_tick: dict[str, random.Random] = {}


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


async def ticker(lid: str) -> None:
    rng = random.Random(lid)
    nxt = time.monotonic()
    while True:
        nxt += 1.0
        await asyncio.sleep(max(0.0, nxt - time.monotonic()))
        conns = subscribers.get(lid)
        if not conns:
            tickers.pop(lid, None)
            return
        weather = latest[lid] = reading(rng)
        text = dumps({"type": "weather", "location": lid, "weather": weather, "published_at": time.time()})
        websockets.broadcast(conns, text)


async def one_tick() -> None:
    """--same-tick: every second, each watched location's update, one after another."""
    nxt = time.monotonic()
    while True:
        nxt += 1.0
        await asyncio.sleep(max(0.0, nxt - time.monotonic()))
        at = time.time()  # one observation time per tick, as one poll gives the product
        for lid, rng in list(same_tick.items()):
            conns = subscribers.get(lid)
            if not conns:
                continue
            weather = latest[lid] = reading(rng, at)
            text = dumps(
                {"type": "weather", "location": lid, "weather": weather, "published_at": time.time()}
            )
            websockets.broadcast(conns, text)


def upload(connection: ServerConnection, request: Request) -> Response | None:
    """A station's upload: its reading to the station's subscribers, then ``success``.
    Anything else is a WebSocket handshake (None: go on with it)."""
    url = urlsplit(request.path)
    if url.path != UPLOAD_PATH:
        return None
    params = dict(parse_qsl(url.query))
    sid = params.get("ID", "").lower()
    weather = latest[sid] = station_reading(sid, params)
    conns = subscribers.get(sid)
    if conns:
        text = dumps({"type": "weather", "location": sid, "weather": weather, "published_at": time.time()})
        websockets.broadcast(conns, text)
    return connection.respond(HTTPStatus.OK, "success\n")


async def subscribed(ws: ServerConnection, location: dict[str, Any], msg_id: Any) -> None:
    w = latest.get(location["id"])
    await ws.send(
        dumps(
            {
                "type": "subscribed",
                "location": location,
                "weather": w,
                "temperature": w["temperature"] if w else None,
                "id": msg_id,
            }
        )
    )


async def handler(ws: ServerConnection) -> None:
    mine: set[str] = set()
    await ws.send(dumps({"type": "hello", "protocol": 1, "provider": "simulated", "poll_interval": 1.0}))
    try:
        async for raw in ws:
            try:
                msg = json.loads(raw)
            except ValueError:
                await ws.send(dumps({"type": "error", "code": "bad_json", "message": "bad json"}))
                continue
            kind = msg.get("type")
            if kind == "ping":
                await ws.send(dumps({"type": "pong", "id": msg.get("id")}))
            elif kind == "subscribe" and isinstance(msg.get("station"), str):
                lid = msg["station"].strip().lower()  # uploads drive it: no ticker
                mine.add(lid)
                subscribers.setdefault(lid, set()).add(ws)
                await subscribed(ws, station_place(lid), msg.get("id"))
            elif kind == "subscribe" and (coords := parse_subscribe(msg)) is not None:
                lid = location_id(*coords)
                mine.add(lid)
                subscribers.setdefault(lid, set()).add(ws)
                if SAME_TICK:
                    same_tick.setdefault(lid, random.Random(lid))
                elif lid not in tickers:
                    tickers[lid] = asyncio.get_running_loop().create_task(ticker(lid))
                await subscribed(ws, place(*coords), msg.get("id"))
            else:
                await ws.send(
                    dumps({"type": "error", "code": "bad_request", "message": "?", "id": msg.get("id")})
                )
    finally:
        for lid in mine:
            subscribers.get(lid, set()).discard(ws)


async def main(host: str, port: int) -> None:
    tick = asyncio.get_running_loop().create_task(one_tick()) if SAME_TICK else None
    async with serve(handler, host, port, compression=None, backlog=2048, process_request=upload) as server:
        await server.serve_forever()
    if tick is not None:
        tick.cancel()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9001)
    p.add_argument("--same-tick", action="store_true", help="one timer updates every location in turn")
    a = p.parse_args()
    SAME_TICK = a.same_tick
    uvloop.run(main(a.host, a.port))

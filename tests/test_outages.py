"""Faults of the engines under a real server: a PostgreSQL outage loses no reading."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
import websockets

from scripts.engines import Postgres
from tests.test_server import Server

OUTAGE = 20.0  # seconds PostgreSQL is down


async def watch(port: int, until: asyncio.Event, received: list[tuple[str, str]]) -> None:
    uri = f"ws://127.0.0.1:{port}/ws/weather/"
    async with websockets.connect(uri, origin=f"http://127.0.0.1:{port}", open_timeout=20) as ws:
        for n, city in enumerate(["Berlin", "Tokyo"]):
            await ws.send(json.dumps({"type": "subscribe", "city": city, "id": n}))
        while not until.is_set():
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
            except TimeoutError:
                continue
            if frame["type"] == "weather" and not frame["weather"]["stale"]:
                received.append((frame["location"], frame["weather"]["observed_at"]))


async def through_an_outage(port: int, pg: Postgres) -> list[tuple[str, str]]:
    received: list[tuple[str, str]] = []
    done = asyncio.Event()
    client = asyncio.create_task(watch(port, done, received))
    await asyncio.sleep(3)
    await asyncio.to_thread(pg.stop)
    down_at = len(received)
    await asyncio.sleep(OUTAGE)
    assert len(received) > down_at + 2 * OUTAGE * 0.7, "clients kept getting updates"
    await asyncio.to_thread(pg.start)
    await asyncio.sleep(3)
    done.set()
    await asyncio.wait_for(client, 10)
    return received


def stored(url: str) -> set[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT location_id, observed_at FROM weatherstream_observation").fetchall()
    return {(loc, at.isoformat().replace("+00:00", "Z")) for loc, at in rows}


def test_a_postgresql_outage_loses_no_observation(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="weatherstream-pg-", dir="/tmp"))
    folder.chmod(0o755)  # as root, the server runs as the postgres user (as in conftest.py)
    pg = Postgres(folder / "pg").start()
    server = Server(tmp_path, DATABASE_URL=pg.url())
    server.start()
    try:
        received = asyncio.run(through_an_outage(server.port, pg))
        deadline = time.monotonic() + 60  # the buffer is written within its retry wait
        while (missing := set(received) - stored(pg.url())) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        server.stop()
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)
    log = server.log
    assert len(received) >= 2 * (OUTAGE + 3), len(received)
    assert not missing, f"{len(missing)} of {len(received)} readings never stored: {sorted(missing)[:5]}"
    assert log.count("storing observations failed") == 1, log
    assert log.count("storage is back") == 1, log
    assert "Traceback" not in log, log

"""A stand-in for the Open-Meteo forecast API on loopback, for tests with real processes.

It answers with the recorded response ``fixtures/open-meteo/forecast_current.json``,
one object per requested coordinate, with ``current.time`` set to the moment of the
request (UTC, to the second) and ``current.interval`` 1 s, so every fetch is a new
observation and says so; it logs every coordinate it was asked for: the tests count
upstream fetches from that log.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

RECORDED = json.loads((Path(__file__).parent / "fixtures/open-meteo/forecast_current.json").read_text())


def coordinate(lat: float, lon: float) -> str:
    """How the provider writes a place's coordinates into a request (4 decimals)."""
    return f"{lat:.4f},{lon:.4f}"


class FakeOpenMeteo:
    def __init__(self) -> None:
        self.log: list[tuple[float, str]] = []  # (monotonic time, "lat,lon")
        self.failing = False  # True: answer 503 until set back
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if fake.failing:  # an outage: what Open-Meteo's front answers then
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                query = parse_qs(urlsplit(self.path).query)
                lats = query.get("latitude", [""])[0].split(",")
                lons = query.get("longitude", [""])[0].split(",")
                body = json.dumps(fake.answer(lats, lons)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/forecast"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, lats: list[str], lons: list[str]) -> object:
        now = time.monotonic()
        when = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        objects = []
        for lat, lon in zip(lats, lons):
            with self.lock:
                self.log.append((now, f"{lat},{lon}"))
            obj = copy.deepcopy(RECORDED)
            obj.update(latitude=float(lat), longitude=float(lon), utc_offset_seconds=0, timezone="GMT")
            obj["current"]["time"] = when
            obj["current"]["interval"] = 1  # a new value every second, and says so
            obj["current"]["temperature_2m"] = round(10 + (int(now) % 20) * 0.1, 1)
            objects.append(obj)
        return objects if len(objects) > 1 else objects[0]

    def fetches(self, where: str) -> list[float]:
        with self.lock:
            return [t for t, c in self.log if c == where]

    def start(self) -> FakeOpenMeteo:  # (once)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

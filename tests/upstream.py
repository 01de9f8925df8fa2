"""A stand-in for the Open-Meteo forecast API on loopback, for tests with real processes.

Readings (``current=``): it answers with the recorded response
``fixtures/open-meteo/forecast_current.json``, one object per requested coordinate, with
``current.time`` set to the moment of the request (UTC, to the second) and
``current.interval`` 1 s, so every fetch is a new observation and says so; it logs every
coordinate it was asked for in ``log``: the tests count upstream fetches from that log.

Forecasts (``hourly=``/``daily=``): it answers from
``fixtures/open-meteo/forecast_7_days_built_from_schema.json`` moved in time so that the
first hour is the current one and the first day today (UTC, ``utc_offset_seconds`` 0), at
most ``forecast_hours`` hours, one object per coordinate, each logged in ``forecast_log``.

Model runs (``/data/<model>/static/meta.json``): ``model_run_at`` (epoch seconds, an hour
ago unless a test sets it) is every model's ``last_run_availability_time``; each model asked
is logged in ``meta_log``. ``warming`` (°C) is added to every forecast temperature: with a
newer ``model_run_at``, a test's new model run. ``failing`` makes every request answer 503.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures/open-meteo"
RECORDED = json.loads((FIXTURES / "forecast_current.json").read_text())
FORECAST = json.loads((FIXTURES / "forecast_7_days_built_from_schema.json").read_text())
META = json.loads((FIXTURES / "meta_dwd_icon_built_from_schema.json").read_text())
META_PATH = re.compile(r"/data/([A-Za-z0-9_]+)/static/meta\.json")


def coordinate(lat: float, lon: float) -> str:
    """How the provider writes a place's coordinates into a request (4 decimals)."""
    return f"{lat:.4f},{lon:.4f}"


def _local(text: str, offset: timedelta) -> datetime:
    return datetime.fromisoformat(text) - offset


class FakeOpenMeteo:
    def __init__(self) -> None:
        self.log: list[tuple[float, str]] = []  # (monotonic time, "lat,lon"): readings
        self.forecast_log: list[tuple[float, str]] = []  # (monotonic time, "lat,lon"): forecasts
        self.meta_log: list[tuple[float, str]] = []  # (monotonic time, model)
        self.failing = False  # True: answer 503 until set back
        self.model_run_at = time.time() - 3600  # every model's last_run_availability_time
        self.warming = 0.0  # °C added to every forecast temperature: a test's new model run
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if fake.failing:  # an outage: what Open-Meteo's front answers then
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                url = urlsplit(self.path)
                meta = META_PATH.fullmatch(url.path)
                if meta is not None:
                    answer: object = fake.meta(meta.group(1))
                else:
                    query = parse_qs(url.query)
                    lats = query.get("latitude", [""])[0].split(",")
                    lons = query.get("longitude", [""])[0].split(",")
                    if "hourly" in query or "daily" in query:
                        hours = int(query.get("forecast_hours", ["168"])[0])
                        answer = fake.forecast(lats, lons, hours)
                    else:
                        answer = fake.answer(lats, lons)
                body = json.dumps(answer).encode()
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

    def forecast(self, lats: list[str], lons: list[str], hours: int) -> object:
        now = time.monotonic()
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
        offset = timedelta(seconds=FORECAST["utc_offset_seconds"])
        shift = datetime.combine(hour.date(), datetime.min.time()) - datetime.fromisoformat(
            FORECAST["daily"]["time"][0]
        )
        objects = []
        for lat, lon in zip(lats, lons):
            with self.lock:
                self.forecast_log.append((now, f"{lat},{lon}"))
            obj = copy.deepcopy(FORECAST)
            obj.update(latitude=float(lat), longitude=float(lon), utc_offset_seconds=0, timezone="GMT")
            obj["timezone_abbreviation"] = "GMT"
            hourly = obj["hourly"]
            kept = min(hours, len(hourly["time"]))
            for name, values in hourly.items():
                hourly[name] = values[:kept]
            hourly["time"] = [(hour + timedelta(hours=i)).isoformat(timespec="minutes") for i in range(kept)]
            for name in ("temperature_2m", "apparent_temperature"):
                hourly[name] = [None if v is None else round(v + self.warming, 1) for v in hourly[name]]
            daily = obj["daily"]
            for name in ("temperature_2m_max", "temperature_2m_min"):
                daily[name] = [None if v is None else round(v + self.warming, 1) for v in daily[name]]
            daily["time"] = [(date.fromisoformat(d) + shift).isoformat() for d in daily["time"]]
            for name in ("sunrise", "sunset"):
                daily[name] = [(_local(t, offset) + shift).isoformat(timespec="minutes") for t in daily[name]]
            objects.append(obj)
        return objects if len(objects) > 1 else objects[0]

    def meta(self, model: str) -> object:
        with self.lock:
            self.meta_log.append((time.monotonic(), model))
        meta = dict(META)
        available = round(self.model_run_at)
        meta.update(
            last_run_initialisation_time=available - available % 10800 - 3 * 3600,
            last_run_modification_time=available - 180,
            last_run_availability_time=available,
        )
        return meta

    def fetches(self, where: str) -> list[float]:
        with self.lock:
            return [t for t, c in self.log if c == where]

    def forecast_fetches(self, where: str) -> list[float]:
        with self.lock:
            return [t for t, c in self.forecast_log if c == where]

    def start(self) -> FakeOpenMeteo:  # (once)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

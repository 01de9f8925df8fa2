"""``weatherstream watch Berlin "Paris, FR"``: a live table in the terminal, over the
same WebSocket protocol as the page; also a quick check of a deployment.

    weatherstream watch [--url ws://127.0.0.1:8000/ws/weather/] [--once] CITY...

On a terminal the table is redrawn in place; piped, each update is one line. It
reconnects by itself (exponential backoff with full jitter). ``--once`` prints the
snapshot of every city and exits: 0 when all of them had a reading, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import websockets

BACKOFF_BASE, BACKOFF_CAP = 1.0, 30.0
COLUMNS = ("city", "temp °C", "feels", "humidity", "wind km/h", "conditions", "observed", "source")


@dataclass
class Row:
    asked: str
    name: str = ""
    timezone: str = ""
    weather: dict[str, Any] | None = None
    problem: str = ""

    def cells(self) -> list[str]:
        w = self.weather or {}

        def num(key: str, digits: int = 0) -> str:
            value = w.get(key)
            return "–" if value is None else f"{value:.{digits}f}"

        observed = "–"
        if w.get("observed_at"):
            when = datetime.fromisoformat(str(w["observed_at"]).replace("Z", "+00:00"))
            try:
                when = when.astimezone(ZoneInfo(self.timezone)) if self.timezone else when
            except (KeyError, ValueError):
                pass
            observed = when.strftime("%H:%M %Z")
        wind = num("wind_speed")
        if w.get("wind_direction") is not None:
            wind += f" from {_compass(float(w['wind_direction']))}"
        conditions = self.problem or str(w.get("summary") or "waiting…")
        if w.get("stale"):
            conditions += f" (stale, {int(w.get('age') or 0)} s old)"
        source = str(w.get("source", ""))
        return [
            self.name or self.asked,
            num("temperature", 1),
            num("feels_like", 1),
            num("humidity") + ("%" if w.get("humidity") is not None else ""),
            wind,
            conditions,
            observed,
            source,
        ]


def _compass(degrees: float) -> str:
    points = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"]
    return points[round(degrees % 360 / 45) % 8]


@dataclass
class Watch:
    url: str
    cities: list[str]
    out: TextIO = sys.stdout
    live: bool = field(default_factory=lambda: sys.stdout.isatty())
    status: str = "connecting"
    rows: dict[str, Row] = field(default_factory=dict)
    by_location: dict[str, Row] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = {str(i): Row(city) for i, city in enumerate(self.cities)}  # by subscribe id

    def origin(self) -> str:
        parts = urlsplit(self.url)
        scheme = "https" if parts.scheme == "wss" else "http"
        return f"{scheme}://{parts.netloc}"

    # -- drawing ----------------------------------------------------------------------

    def table(self) -> str:
        grid = [list(COLUMNS)] + [row.cells() for row in self.rows.values()]
        widths = [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in grid]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def draw(self, changed: Row | None = None) -> None:
        if self.live:  # home, clear, redraw: the table updates in place
            self.out.write(f"\x1b[H\x1b[J{self.url} · {self.status}\n\n{self.table()}\n")
        elif changed is not None:
            self.out.write("  ".join(c for c in changed.cells() if c) + "\n")
        else:
            self.out.write(f"# {self.status}\n")
        self.out.flush()

    # -- protocol ---------------------------------------------------------------------

    def handle(self, frame: dict[str, Any]) -> Row | None:
        kind = frame.get("type")
        if kind == "subscribed":
            row = self.rows.get(str(frame.get("id")))
            if row is None:
                return None
            location = frame.get("location") or {}
            row.name, row.timezone = str(location.get("name", row.asked)), str(location.get("timezone", ""))
            row.problem = ""
            self.by_location[str(location.get("id"))] = row
            if frame.get("weather"):
                row.weather = frame["weather"]
            return row
        if kind == "weather":
            row = self.by_location.get(str(frame.get("location")))
            if row is not None:
                row.weather = frame.get("weather")
            return row
        if kind == "error":
            row = self.rows.get(str(frame.get("id")))
            if row is not None:
                row.problem = f"{frame.get('code')}: {frame.get('message')}"
            return row
        return None

    async def session(self, once: bool) -> bool:
        """One connection: subscribe, then render frames until it closes."""
        async with websockets.connect(self.url, origin=self.origin(), open_timeout=10) as ws:  # type: ignore[arg-type]
            self.status = "live"
            self.draw()
            for i, city in enumerate(self.cities):
                await ws.send(json.dumps({"type": "subscribe", "city": city, "id": i}))
            async for text in ws:
                try:
                    frame = json.loads(text)
                except ValueError:  # not our server, or a bug there: skip it
                    continue
                row = self.handle(frame) if isinstance(frame, dict) else None
                if row is not None:
                    self.draw(row)
                # --once: done when every city has a reading or an error
                if once and all(r.weather or r.problem for r in self.rows.values()):
                    return all(r.weather and not r.problem for r in self.rows.values())
        return False

    async def run(self, once: bool = False, timeout: float = 20.0) -> int:
        attempt = 0
        while True:
            try:
                ok = await (asyncio.wait_for(self.session(once), timeout) if once else self.session(once))
                if once:
                    if not self.live:
                        self.out.write(self.table() + "\n")
                    return 0 if ok else 1
                attempt = 0
                reason = "closed by the server"
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                if once:
                    self.out.write(f"cannot watch {self.url}: {exc}\n")
                    return 1
                reason = str(exc) or type(exc).__name__
            delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
            attempt += 1
            self.status = f"reconnecting in {delay:.0f}s ({reason})"
            self.draw()
            await asyncio.sleep(delay)
            self.status = "connecting"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="weatherstream", description="Live weather from a weatherstream server."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    watch = commands.add_parser("watch", help="show live weather for cities in the terminal")
    watch.add_argument("cities", nargs="+", metavar="CITY", help='a city: Berlin, "Paris, FR", ...')
    watch.add_argument("--url", default="ws://127.0.0.1:8000/ws/weather/", help="the WebSocket endpoint")
    watch.add_argument("--once", action="store_true", help="print one snapshot and exit")
    watch.add_argument("--timeout", type=float, default=20.0, help="--once: seconds to wait (default 20)")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(Watch(args.url, args.cities).run(once=args.once, timeout=args.timeout))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())

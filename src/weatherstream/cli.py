"""``weatherstream watch Berlin "Paris, FR"``: live weather in the terminal, over the same
WebSocket protocol as the page (docs/protocol.md); also a quick check of a deployment.
The full reference is docs/cli.md.

    weatherstream watch [--url URL] [--once [--timeout S]] [--json] [--forecast]
                        [--attempts N | --retry-forever] CITY...
    weatherstream station-sim [--url URL] (--id ID --key KEY | --format ecowitt --passkey P)
                              [--every S] [--count N] [--lat LAT --lon LON] [--elevation M]
    weatherstream --version

``station-sim`` uploads made-up readings AS a registered weather station (demos and
benchmarks only: the server cannot tell them from the station's real measurements); see
its section below and docs/cli.md.

The URL comes from ``--url``, else ``$WEATHERSTREAM_URL``, else ws://127.0.0.1:8000/ws/weather/.

Output: on a terminal, a table redrawn in place (rich); piped, one plain line per update;
``--json``, the server's ``subscribed``/``weather``/``forecast``/``error`` frames, one JSON
object per line. ``--once`` prints one snapshot (never clearing the screen) and exits. A
simulated reading or forecast is labelled "simulated" in every mode; a stale reading shows
its age. Diagnostics go to stderr.

``--forecast`` subscribes to each city's hourly and daily forecasts too and shows, under
the table, the next 12 hours and the next 7 days of each city (in the place's own time
zone); piped, a line per hour and per day of each forecast that arrives. ``--once`` then
waits for both forecasts of every city as well (at most ``--timeout``); a missing forecast
is named on stderr but does not change the exit status.

Reconnecting (live): exponential backoff with full jitter. A refusal (an HTTP 4xx answer
to the handshake, or a close code 4003/4029/...) ends the watch at once with 5. Failed
attempts in a row count toward ``--attempts`` (default 5, then exit 4): every 5xx or
malformed answer does, and so does an unreachable server (refused, timeout, DNS) until the
first connection of the run has opened; once live, an unreachable server is taken for a
restart and retried forever. ``--retry-forever`` (``--attempts 0``) never gives up.
``--once`` makes one attempt.

Exit status:

    0    ok: every city had a reading (--once; a forecast that did not come is only
         named on stderr); a live watch ended by Ctrl-C
    1    no reading (--once): a city had none within --timeout or before the server
         closed, or got another error (unavailable, too_many_subscriptions, ...)
    2    usage: bad arguments or URL (argparse)
    3    unknown city: the server answered unknown_city/bad_request to a subscription
         (--once: any city; live: every city)
    4    cannot connect: refused, timed out, DNS, or --attempts failures in a row
    5    refused by the server: an HTTP 4xx answer to the handshake (any below 500 but
         101), or closed with a 4xxx code (4003 login required, 4029 too many
         connections, ...; not 4009)
    130  --once interrupted by Ctrl-C
    141  stdout's reader went away (``| head -3``): quietly, as a shell reports SIGPIPE
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import math
import os
import random
import stat
import sys
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any, TextIO, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from rich import box
from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException
from websockets.typing import Origin
from websockets.uri import parse_uri

from . import __version__, protocol
from .forecasts import DAILY, HOURLY
from .forecasts import KINDS as FORECAST_KINDS
from .places import is_station
from .sun import solar_elevation

EXIT_OK = 0
EXIT_NO_READING = 1
EXIT_USAGE = 2  # argparse's own
EXIT_UNKNOWN_CITY = 3
EXIT_CANNOT_CONNECT = 4
EXIT_REFUSED = 5
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_OUTPUT_CLOSED = 141  # 128 + SIGPIPE

DEFAULT_URL = "ws://127.0.0.1:8000/ws/weather/"
URL_VARIABLE = "WEATHERSTREAM_URL"
BACKOFF_BASE, BACKOFF_CAP = 1.0, 30.0  # seconds: full jitter, uniform(0, min(cap, base * 2**n))
OPEN_TIMEOUT = 10.0  # seconds for one live connection attempt to open
ATTEMPTS = 5  # failed attempts in a row before giving up (exit 4)
TIMEOUT = 20.0  # --once: seconds for the whole snapshot

UNKNOWN_CODES = frozenset({"unknown_city", "bad_request"})  # the city can never be watched
JSON_TYPES = frozenset({"subscribed", "weather", "forecast", "error"})  # what --json prints
RETRYABLE_CLOSES = frozenset({protocol.CLOSE_SLOW_CONSUMER})  # 4xxx codes that allow a reconnect
CLOSE_MEANINGS = {
    protocol.CLOSE_LOGIN_REQUIRED: "login required",
    protocol.CLOSE_RATE_LIMITED: "rate limited",
    protocol.CLOSE_TOO_MANY_CONNECTIONS: "too many connections from this address",
}
COLUMNS = ("city", "temp °C", "feels °C", "humidity", "wind km/h", "conditions", "observed", "source")
SIMULATED = "simulated"
SIMULATED_NOTE = "simulated: generated by the server, not real weather"
SIMULATED_STYLE = "bold black on yellow"
# --forecast: what is shown of each kind, from the current hour and the place's today on
HOURS_SHOWN = 12
DAYS_SHOWN = 7
HOUR = 3600.0
FORECAST_COLUMNS = {
    HOURLY: ("time", "temp °C", "precip mm", "chance", "conditions"),
    DAILY: ("day", "max °C", "min °C", "precip mm", "chance", "conditions"),
}
FORECAST_SPAN = {HOURLY: "hours", DAILY: "days"}


class Refused(Exception):
    """The server turned the client away for good: exit 5."""


class CannotConnect(Exception):
    """No connection could be made, or kept up within --attempts: exit 4."""


class UnknownCities(Exception):
    """Live: the server knows none of the cities asked for: exit 3."""


class OutputClosed(Exception):
    """Standard output's reader has gone (EPIPE): exit 141, quietly.

    Not an OSError, so that it is never taken for a network failure and retried."""


# -- one city -------------------------------------------------------------------------


@dataclass
class Row:
    """A city asked for on the command line, and what the server said about it."""

    asked: str
    name: str = ""
    timezone: str = ""
    weather: dict[str, Any] | None = None
    code: str = ""  # the server's error code for this city's subscription
    problem: str = ""
    forecasts: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> its last frame
    forecast_problem: str = ""  # --once: why a forecast is missing from the snapshot

    @property
    def label(self) -> str:
        return self.name or self.asked

    @property
    def unknown(self) -> bool:
        return self.code in UNKNOWN_CODES

    @property
    def simulated(self) -> bool:
        return (self.weather or {}).get("source") == SIMULATED

    @property
    def stale(self) -> bool:
        return bool((self.weather or {}).get("stale"))

    def _number(self, key: str, digits: int = 0) -> str:
        return number((self.weather or {}).get(key), digits)

    def wind(self, unit: str = "") -> str:
        w = self.weather or {}
        text = self._number("wind_speed") + unit
        if w.get("wind_direction") is not None:
            text += f" from {compass(float(w['wind_direction']))}"
        return text

    def conditions(self) -> str:
        w = self.weather or {}
        text = self.problem or str(w.get("summary") or "waiting for the first reading")
        if self.stale and not self.problem:
            text += f" (stale, {int(w.get('age') or 0)} s old)"
        return text

    def zone(self) -> tzinfo | None:
        """The place's own time zone; None (UTC) when it has none or an unknown one."""
        try:
            return ZoneInfo(self.timezone) if self.timezone else None
        except (KeyError, ValueError):  # an unknown or malformed zone name: stay in UTC
            return None

    def local(self, raw: Any, pattern: str) -> str:
        """A protocol time (ISO 8601, UTC) in the place's own time zone."""
        if not raw:
            return "–"
        try:
            when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            return str(raw)
        zone = self.zone()
        return (when.astimezone(zone) if zone is not None else when).strftime(pattern)

    def observed(self) -> str:
        """The reading's time in the place's own time zone, e.g. ``11:30 CET``."""
        return self.local((self.weather or {}).get("observed_at"), "%H:%M %Z")

    def cells(self) -> list[str]:
        """The table's columns (COLUMNS)."""
        w = self.weather or {}
        humidity = self._number("humidity") + ("%" if w.get("humidity") is not None else "")
        return [
            self.label,
            self._number("temperature", 1),
            self._number("feels_like", 1),
            humidity,
            self.wind(),
            self.conditions(),
            self.observed(),
            str(w.get("source") or ""),
        ]

    def line(self) -> str:
        """One update as one plain line, for a pipe or a log file."""
        if self.problem or not self.weather:
            return f"{self.label}  {self.conditions()}"
        city, temp, feels, humidity, _, conditions, observed, source = self.cells()
        if self.simulated:
            source = f"{SIMULATED} (not real weather)"
        return "  ".join(
            [
                city,
                f"{temp} °C",
                f"feels {feels} °C",
                f"humidity {humidity}",
                f"wind {self.wind(' km/h')}",
                conditions,
                f"observed {observed}",
                f"source {source}",
            ]
        )

    # -- --forecast ---------------------------------------------------------------------

    def forecast_simulated(self, kind: str | None = None) -> bool:
        kinds = FORECAST_KINDS if kind is None else (kind,)
        return any(self.forecasts.get(k, {}).get("source") == SIMULATED for k in kinds)

    def missing_forecasts(self, kinds: Iterable[str]) -> list[str]:
        return [kind for kind in kinds if kind not in self.forecasts]

    def upcoming(self, kind: str, now: float) -> list[dict[str, Any]]:
        """The items of the last ``kind`` forecast still ahead at ``now``: the hours from
        the current one (HOURS_SHOWN), the days from the place's today (DAYS_SHOWN)."""
        items = [i for i in (self.forecasts.get(kind) or {}).get("forecast") or [] if isinstance(i, dict)]
        if kind == HOURLY:
            return [i for i in items if not ended(i.get("time"), now)][:HOURS_SHOWN]
        today = datetime.fromtimestamp(now, self.zone() or UTC).date().isoformat()
        return [i for i in items if str(i.get("date") or "") >= today][:DAYS_SHOWN]

    def forecast_title(self, kind: str, now: float) -> str:
        """E.g. ``Berlin · next 12 hours · issued Tue 10:00 CET``."""
        frame = self.forecasts.get(kind) or {}
        title = f"{self.label} · next {len(self.upcoming(kind, now))} {FORECAST_SPAN[kind]}"
        if frame.get("issued_at"):
            title += f" · issued {self.local(frame['issued_at'], '%a %H:%M %Z')}"
        return title

    def forecast_cells(self, kind: str, now: float) -> list[list[str]]:
        """The rows of the forecast's table (FORECAST_COLUMNS[kind])."""
        rows = []
        for item in self.upcoming(kind, now):
            if kind == HOURLY:
                when = self.local(item.get("time"), "%a %H:%M %Z")
                values = [number(item.get("temperature"), 1), number(item.get("precipitation"), 1)]
                chance = item.get("precipitation_probability")
            else:
                when = weekday(item.get("date"))
                values = [
                    number(item.get("temperature_max"), 1),
                    number(item.get("temperature_min"), 1),
                    number(item.get("precipitation_sum"), 1),
                ]
                chance = item.get("precipitation_probability_max")
            percent = "–" if chance is None else f"{number(chance)}%"
            rows.append([when, *values, percent, str(item.get("summary") or "–")])
        return rows

    def forecast_lines(self, kind: str, now: float) -> list[str]:
        """The forecast as plain lines, one an hour or a day, for a pipe or a log file."""
        source = str((self.forecasts.get(kind) or {}).get("source") or "")
        if self.forecast_simulated(kind):
            source = f"{SIMULATED} (not real weather)"
        lines = []
        for cells in self.forecast_cells(kind, now):
            if kind == HOURLY:
                when, temp, amount, chance, summary = cells
                values = [f"{temp} °C"]
            else:
                when, high, low, amount, chance, summary = cells
                values = [f"max {high} °C", f"min {low} °C"]
            precip = [f"{amount} mm"] if amount != "–" else []
            precip += [f"{chance} chance"] if chance != "–" else []
            values.append("precip " + (", ".join(precip) or "–"))
            lines.append("  ".join([self.label, kind, when, *values, summary, f"source {source}"]))
        return lines


def number(value: Any, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def ended(raw: Any, now: float) -> bool:
    """Whether the hour starting at ``raw`` (a protocol time) is over at ``now``."""
    try:
        start = datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp()
    except (TypeError, ValueError):
        return False  # shown as it came
    return start + HOUR <= now


def weekday(raw: Any) -> str:
    """A local date of a daily forecast, e.g. ``Tue 01 Dec``."""
    try:
        return date.fromisoformat(str(raw)).strftime("%a %d %b")
    except ValueError:
        return str(raw)


def compass(degrees: float) -> str:
    points = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"]
    return points[round(degrees % 360 / 45) % 8]


# -- views: one chosen at start-up from the flags and stdout ----------------------------


def write(stream: TextIO, text: str) -> None:
    """Write and flush at once (a reader of a pipe sees each update when it happens)."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        raise OutputClosed from None


class View:
    """What a watch shows. The watch calls ``status`` on every change of its connection
    (live only), ``frame`` on every frame, ``snapshot`` at the end of ``--once``."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err

    def __enter__(self) -> View:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def warn(self, text: str) -> None:
        try:
            write(self.err, f"weatherstream: {text}\n")
        except OutputClosed:
            pass  # stderr is not the data: nothing to stop for

    def status(self, watch: Watch) -> None:
        self.warn(f"{watch.url} · {watch.status}")

    def frame(self, watch: Watch, frame: dict[str, Any], row: Row | None) -> None:
        pass

    def snapshot(self, watch: Watch) -> None:
        pass


class JsonView(View):
    """``--json``: the server's frames about the cities, one object per line, as they come."""

    def frame(self, watch: Watch, frame: dict[str, Any], row: Row | None) -> None:
        if frame.get("type") in JSON_TYPES:
            write(self.out, json.dumps(frame, ensure_ascii=False) + "\n")


class LineView(View):
    """Piped, live: one plain line per update of a city; a forecast, a line for each of
    its hours or days shown."""

    def frame(self, watch: Watch, frame: dict[str, Any], row: Row | None) -> None:
        if row is None:
            return
        if frame.get("type") == "forecast":
            lines = row.forecast_lines(str(frame.get("kind")), time.time())
        else:
            lines = [row.line()]
        write(self.out, "".join(line + "\n" for line in lines))


class SnapshotView(View):
    """``--once``: nothing while waiting, then the table once: rich on a terminal, plain
    text otherwise. Never moves the cursor or clears the screen."""

    def __init__(self, out: TextIO, err: TextIO, console: Console | None) -> None:
        super().__init__(out, err)
        self.console = console

    def snapshot(self, watch: Watch) -> None:
        if self.console is not None:
            self.console.print(rich_view(watch, title=None))
        else:
            write(self.out, plain_view(watch) + "\n")


class LiveView(View):
    """A terminal, live: the table redrawn in place (rich.live.Live), title = status."""

    def __init__(self, out: TextIO, err: TextIO, console: Console) -> None:
        super().__init__(out, err)
        self.console = console
        self.live: Live | None = None

    def __enter__(self) -> LiveView:
        self.live = Live(console=self.console, auto_refresh=False)
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()  # leaves the last table on the screen

    def draw(self, watch: Watch) -> None:
        if self.live is not None:
            self.live.update(rich_view(watch, title=f"{watch.url} · {watch.status}"), refresh=True)

    def status(self, watch: Watch) -> None:
        self.draw(watch)

    def frame(self, watch: Watch, frame: dict[str, Any], row: Row | None) -> None:
        if row is not None:
            self.draw(watch)


def plain_grid(columns: Iterable[str], rows: list[list[str]]) -> list[str]:
    grid = [list(columns)] + rows
    widths = [max(len(line[i]) for line in grid) for i in range(len(grid[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def plain_table(watch: Watch, *, note: bool = True) -> str:
    lines = plain_grid(COLUMNS, [row.cells() for row in watch.rows.values()])
    if note and any(row.simulated for row in watch.rows.values()):
        lines.append(SIMULATED_NOTE)
    return "\n".join(lines)


def forecast_rows(watch: Watch) -> list[Row]:
    """The rows whose forecasts are shown: with --forecast, those without an error."""
    if not watch.forecast:
        return []
    return [row for row in watch.rows.values() if not row.problem]


def simulated(watch: Watch) -> bool:
    """Whether anything shown is simulated: a reading, or a forecast (--forecast)."""
    return any(row.simulated for row in watch.rows.values()) or any(
        row.forecast_simulated() for row in forecast_rows(watch)
    )


def waiting(row: Row, kind: str) -> str:
    return f"{row.label} · next {FORECAST_SPAN[kind]}: {row.forecast_problem or 'waiting for the forecast'}"


def plain_view(watch: Watch, now: float | None = None) -> str:
    """--once, not on a terminal: the table, then each city's forecasts (--forecast)."""
    if not watch.forecast:
        return plain_table(watch)
    now = time.time() if now is None else now
    lines = [plain_table(watch, note=False)]  # the note once, at the very end
    for row in forecast_rows(watch):
        for kind in FORECAST_KINDS:
            lines.append("")
            if kind not in row.forecasts:
                lines.append(waiting(row, kind))
                continue
            mark = f" · {SIMULATED} (not real weather)" if row.forecast_simulated(kind) else ""
            lines.append(row.forecast_title(kind, now) + mark)
            lines += plain_grid(FORECAST_COLUMNS[kind], row.forecast_cells(kind, now))
    if simulated(watch):
        lines.append(SIMULATED_NOTE)
    return "\n".join(lines)


def rich_view(watch: Watch, title: str | None, now: float | None = None) -> RenderableType:
    """The readings table; with --forecast, each city's forecasts under it, the hours and
    the days side by side when the terminal is wide enough."""
    if not watch.forecast:
        return rich_table(watch, title)
    now = time.time() if now is None else now
    parts: list[RenderableType] = [rich_table(watch, title, note=False)]
    for row in forecast_rows(watch):
        parts.append(Text(""))
        parts.append(Columns([rich_forecast(row, kind, now) for kind in FORECAST_KINDS], padding=(1, 6)))
    if simulated(watch):
        parts.append(Text(SIMULATED_NOTE, style="bold yellow"))
    return Group(*parts)


def rich_forecast(row: Row, kind: str, now: float) -> RenderableType:
    if kind not in row.forecasts:
        return Text(waiting(row, kind), style="red" if row.forecast_problem else "dim")
    title = Text(row.forecast_title(kind, now), style="bold")
    if row.forecast_simulated(kind):
        title.append(" · ")
        title.append(SIMULATED, style=SIMULATED_STYLE)
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in FORECAST_COLUMNS[kind]:
        table.add_column(name, justify="left" if name in ("time", "day", "conditions") else "right")
    for cells in row.forecast_cells(kind, now):
        table.add_row(*cells)
    return table


def rich_table(watch: Watch, title: str | None, *, note: bool = True) -> Table:
    rows = list(watch.rows.values())
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        caption=SIMULATED_NOTE if note and any(row.simulated for row in rows) else None,
        caption_justify="left",
        caption_style="bold yellow",
    )
    for name in COLUMNS:
        numeric = name in ("temp °C", "feels °C", "humidity")
        source = name == "source"  # never wrapped nor shrunk: "simulated" must stay readable
        table.add_column(
            name,
            justify="right" if numeric else "left",
            no_wrap=source,
            min_width=len(SIMULATED) if source else None,
        )
    for row in rows:
        city, temp, feels, humidity, wind, conditions, observed, source_name = row.cells()
        table.add_row(
            city,
            temp,
            feels,
            humidity,
            wind,
            Text(conditions, style="red" if row.problem else "yellow" if row.stale else ""),
            observed,
            Text(source_name, style=SIMULATED_STYLE if row.simulated else ""),
            style="dim" if row.stale else None,
        )
    return table


def make_view(*, json_lines: bool, once: bool, out: TextIO, err: TextIO) -> View:
    if json_lines:
        return JsonView(out, err)
    console = Console(file=out)
    terminal = console.is_terminal and not console.is_dumb_terminal
    if once:
        return SnapshotView(out, err, console if terminal else None)
    return LiveView(out, err, console) if terminal else LineView(out, err)


# -- the watch ----------------------------------------------------------------------------


def http_status(exc: InvalidStatus) -> str:
    return f"HTTP {exc.response.status_code} {exc.response.reason_phrase}".rstrip()


def refusal(exc: BaseException) -> str | None:
    """Why the server turned us away for good, or None when trying again may help."""
    if isinstance(exc, InvalidStatus) and exc.response.status_code < 500:
        forbidden = exc.response.status_code == 403
        return http_status(exc) + (" (is this host in the server's ALLOWED_HOSTS?)" if forbidden else "")
    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
        code = exc.rcvd.code
        if 4000 <= code < 5000 and code not in RETRYABLE_CLOSES:
            meaning = CLOSE_MEANINGS.get(code) or exc.rcvd.reason or "refused"
            return f"closed with code {code} ({meaning})"
    return None


def describe(exc: BaseException, timeout: float | None) -> str:
    """A reason for a failed attempt that is never empty (str(TimeoutError()) is)."""
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s" if timeout is not None else "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, InvalidStatus):  # a 5xx: the 4xx are refusals
        return http_status(exc)
    return str(exc) or repr(exc)


@dataclass
class Watch:
    url: str
    cities: list[str]
    view: View
    forecast: bool = False  # --forecast: subscribe to the hourly and daily forecasts too
    status: str = "connecting"
    rows: dict[str, Row] = field(default_factory=dict)  # by subscribe id
    by_location: dict[str, Row] = field(default_factory=dict)
    ever_opened: bool = False  # has a connection of this run opened
    opened: bool = False  # has the current attempt's connection opened

    def __post_init__(self) -> None:
        self.rows = {str(i): Row(city) for i, city in enumerate(self.cities)}

    def origin(self) -> str:
        """The Origin the server checks against ALLOWED_HOSTS: the URL's own host."""
        parts = urlsplit(self.url)
        scheme = "https" if parts.scheme == "wss" else "http"
        return f"{scheme}://{parts.netloc}"

    def set_status(self, status: str) -> None:
        self.status = status
        self.view.status(self)

    # -- protocol ---------------------------------------------------------------------

    def handle(self, frame: dict[str, Any]) -> Row | None:
        kind = frame.get("type")
        if kind == "subscribed":
            row = self.rows.get(str(frame.get("id")))
            if row is None:
                return None
            location = frame.get("location") or {}
            row.name, row.timezone = str(location.get("name", row.asked)), str(location.get("timezone", ""))
            row.code = row.problem = ""
            self.by_location[str(location.get("id"))] = row
            if frame.get("weather"):
                row.weather = frame["weather"]
            return row
        if kind == "weather":
            row = self.by_location.get(str(frame.get("location")))
            if row is not None:
                row.weather = frame.get("weather")
            return row
        if kind == "forecast":  # replaces the last one of its kind
            row = self.by_location.get(str(frame.get("location")))
            if row is None or frame.get("kind") not in FORECAST_KINDS:
                return None
            row.forecasts[str(frame["kind"])] = frame
            return row
        if kind == "error":
            row = self.rows.get(str(frame.get("id")))
            if row is not None:
                row.code = str(frame.get("code"))
                row.problem = f"{frame.get('code')}: {frame.get('message')}"
            return row
        return None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The forecast kinds asked for."""
        return FORECAST_KINDS if self.forecast else ()

    def subscribe_frame(self, i: int, city: str) -> str:
        """A city by name, or a station by its id ("st-..."); after a reconnect, with the
        last reading's time as ``since``: the server replays what was missed meanwhile."""
        name = city.strip()
        frame: dict[str, Any] = {"type": "subscribe", "id": i}
        frame.update({"station": name} if is_station(name.lower()) else {"city": city})
        if self.forecast:
            frame["forecast"] = list(self.kinds)
        last = self.rows[str(i)].weather
        if isinstance(last, dict) and isinstance(last.get("observed_at"), str):
            frame["since"] = last["observed_at"]
        return json.dumps(frame)

    def complete(self) -> bool:
        """--once: every city has a reading and each forecast asked for, or an error."""
        return all(
            row.problem or (row.weather and not row.missing_forecasts(self.kinds))
            for row in self.rows.values()
        )

    def outcome(self) -> int:
        rows = self.rows.values()
        if any(row.unknown for row in rows):
            return EXIT_UNKNOWN_CITY
        if any(row.problem or not row.weather for row in rows):
            return EXIT_NO_READING
        return EXIT_OK

    async def session(self, *, once: bool, open_timeout: float | None) -> None:
        """One connection: subscribe, then show frames until it closes (or, with --once,
        until the snapshot is complete)."""
        self.opened = False
        async with connect(self.url, origin=Origin(self.origin()), open_timeout=open_timeout) as ws:
            self.opened = self.ever_opened = True
            if not once:
                self.set_status("live")
            for i, city in enumerate(self.cities):
                await ws.send(self.subscribe_frame(i, city))
            async for text in ws:
                try:
                    frame = json.loads(text)
                except ValueError:  # not our server, or a bug there: skip it
                    continue
                if not isinstance(frame, dict):
                    continue
                self.view.frame(self, frame, self.handle(frame))
                if once and self.complete():
                    return
                if not once and all(row.unknown for row in self.rows.values()):
                    raise UnknownCities(", ".join(row.problem for row in self.rows.values()))

    async def run_once(self, timeout: float) -> int:
        """One attempt; the snapshot (complete or not) once it is done or time is up.
        Each city without a reading is also named on stderr."""
        reason = "closed by the server"
        with self.view:
            try:
                await asyncio.wait_for(self.session(once=True, open_timeout=None), timeout)
            except (OSError, WebSocketException, TimeoutError) as exc:
                why = refusal(exc)
                if why is not None:
                    raise Refused(why) from None
                reason = describe(exc, timeout)
                if not self.opened:
                    raise CannotConnect(reason) from None
            for row in self.rows.values():
                if not (row.weather or row.problem):
                    row.problem = f"no reading: {reason}"
                elif row.missing_forecasts(self.kinds):
                    row.forecast_problem = f"no forecast: {reason}"
            self.view.snapshot(self)
            for row in self.rows.values():
                if row.problem:
                    self.view.warn(f"{row.asked}: {row.problem}")
                elif missing := row.missing_forecasts(self.kinds):
                    self.view.warn(f"{row.asked}: no {' or '.join(missing)} forecast: {reason}")
        return self.outcome()

    async def run_live(self, attempts: int) -> int:
        """Watch until interrupted, reconnecting with backoff (see the module docstring
        for what counts toward ``attempts``; 0 = never give up)."""
        failures = 0  # attempts in a row that did not open: the backoff's exponent
        strikes = 0  # those of them that count toward giving up
        with self.view:
            self.set_status("connecting")
            while True:
                try:
                    await self.session(once=False, open_timeout=OPEN_TIMEOUT)
                    reason = "closed by the server"
                except (OSError, WebSocketException) as exc:
                    why = refusal(exc)
                    if why is not None:
                        raise Refused(why) from None
                    reason = describe(exc, OPEN_TIMEOUT)
                    if not self.opened:
                        failures += 1
                        # a server that answers and fails counts always; silence (refused,
                        # timeout, DNS) only until this run's first connection opened
                        answered = isinstance(exc, WebSocketException)
                        if answered or not self.ever_opened:
                            strikes += 1
                if self.opened:
                    failures = strikes = 0
                if attempts and strikes >= attempts:
                    raise CannotConnect(f"{reason} ({strikes} failed attempts in a row)")
                delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**failures))
                self.set_status(f"reconnecting in {delay:.0f}s ({reason})")
                await asyncio.sleep(delay)
                self.set_status("connecting")


T = TypeVar("T")


async def until_output_closed(coro: Coroutine[Any, Any, T], out: TextIO) -> T:
    """Run ``coro``; when ``out`` is a pipe whose reader has gone, stop it and raise
    OutputClosed, even between updates (``watch ... | head -1`` must end at once, not at
    the next reading). A write end of a pipe polls as an error once the reader is gone:
    asyncio's own pipe transport relies on that."""
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def reader_gone() -> None:
        if not gone.done():
            gone.set_result(None)

    try:
        fd = out.fileno()
        fifo = stat.S_ISFIFO(os.fstat(fd).st_mode)
        if fifo:
            loop.add_reader(fd, reader_gone)
    except (OSError, ValueError, NotImplementedError):  # no fd, or no add_reader (Windows)
        fifo = False
    if not fifo:
        return await coro
    task = asyncio.ensure_future(coro)
    either: list[asyncio.Future[Any]] = [task, gone]
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # Ctrl-C: the watch ends as it would unguarded
        task.cancel()
        await asyncio.wait([task])
        raise
    finally:
        loop.remove_reader(fd)
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.wait([task])
    raise OutputClosed


# -- station-sim: a simulated personal weather station --------------------------------------
# Made-up readings, uploaded AS a registered station in the formats gateways use
# (docs/cli.md). The server takes them as that station's own measurements and pushes
# them as real weather: it cannot tell. For demos and benchmarks only.

WUNDERGROUND, ECOWITT = "wunderground", "ecowitt"
UPLOAD_PATHS = {WUNDERGROUND: "/weatherstation/updateweatherstation.php", ECOWITT: "/data/report/"}
STATION_URL = "http://127.0.0.1:8000"  # where `make run` serves
STATION_EVERY = 16.0  # seconds: an Ecowitt gateway's shortest customized upload interval
UPLOAD_TIMEOUT = 10.0  # seconds for one upload's answer
SIM_NAME = "weatherstream-station-sim"  # User-Agent, softwaretype, stationtype, model
SIM_LATITUDE, SIM_LONGITUDE = 52.52, 13.40  # the docs' example station ("Garden", Berlin)
EXIT_UPLOAD_FAILED = 1  # --count: an upload was refused or not answered
DAY = 86400.0
KMH_PER_MPH = 1.609344
HPA_PER_INHG = 33.8638866667
MM_PER_INCH = 25.4


def walk(value: float, mean: float, spread: float, tau: float, dt: float, rng: random.Random) -> float:
    """``dt`` seconds of an Ornstein-Uhlenbeck walk: drawn back to ``mean`` with the time
    constant ``tau``, ``spread`` its standard deviation in the long run. Exact for any
    ``dt``, so the weather changes alike whether uploads come every 2 s or every minute."""
    keep = math.exp(-dt / tau)
    return mean + (value - mean) * keep + spread * math.sqrt(1.0 - keep * keep) * rng.gauss(0.0, 1.0)


def dew_point(temperature: float, humidity: float) -> float:
    """°C, from °C and % (the Magnus formula, Sonntag's constants)."""
    a, b = 17.62, 243.12
    gamma = math.log(max(humidity, 1.0) / 100.0) + a * temperature / (b + temperature)
    return b * gamma / (a - gamma)


@dataclass(frozen=True)
class Measurement:
    """What the simulated station measures at ``at`` (Unix time), in the product's units."""

    at: float
    temperature: float  # °C
    humidity: float  # %
    dew_point: float  # °C
    wind_speed: float  # km/h
    wind_gusts: float  # km/h, never below wind_speed
    wind_direction: float  # degrees, where the wind blows from
    pressure: float  # hPa, brought to sea level (a gateway's "relative" pressure)
    station_pressure: float  # hPa at the station's elevation ("absolute")
    rain_rate: float  # mm/h now
    rain_hour: float  # mm in the past 60 minutes
    rain_day: float  # mm since the station's midnight (local solar time)
    solar: float  # W/m²
    uv: int  # UV index


class SimulatedStation:
    """A station's weather as a smooth random walk: temperature follows the season and the
    sun with a wandering offset, humidity moves against it, wind, its direction, pressure
    and cloud wander, showers start under thick cloud and accumulate, sunshine and UV
    follow the sun's elevation through the cloud."""

    def __init__(
        self,
        latitude: float = SIM_LATITUDE,
        longitude: float = SIM_LONGITUDE,
        *,
        elevation: float = 0.0,
        rng: random.Random | None = None,
        start: float | None = None,
    ) -> None:
        self.latitude, self.longitude, self.elevation = latitude, longitude, elevation
        self.rng = rng or random.Random()
        r = self.rng
        self.at = time.time() if start is None else start
        self.warmth = r.gauss(0.0, 2.0)  # °C off what the season and the hour make
        self.damp = r.gauss(0.0, 8.0)  # % of humidity off the usual
        self.wind = max(0.0, r.gauss(12.0, 6.0))  # km/h
        self.direction = r.uniform(0.0, 360.0)
        self.pressure = r.gauss(1013.0, 6.0)  # hPa at sea level
        self.cloud = r.uniform(0.1, 0.9)  # 0 clear to 1 overcast
        self.rate = 0.0  # mm/h of the shower under way; 0 when dry
        self.wet = 0.0  # 0 dry to 1 after a while of rain: cools the air, raises the humidity
        self.rain: list[tuple[float, float]] = []  # (when, mm) over the past hour
        self.day = self.local_day(self.at)
        self.rain_today = 0.0

    def local_day(self, ts: float) -> int:
        return math.floor((ts + self.longitude / 15.0 * HOUR) / DAY)

    def step(self, now: float) -> Measurement:
        """The weather at ``now``, the walk moved on from the last call's time."""
        dt = max(0.0, now - self.at)
        self.at = now
        r = self.rng
        self.warmth = walk(self.warmth, 0.0, 2.0, 6 * HOUR, dt, r)
        self.damp = walk(self.damp, 0.0, 8.0, 2 * HOUR, dt, r)
        self.wind = max(0.0, walk(self.wind, 12.0, 6.0, HOUR / 2, dt, r))
        self.direction = (self.direction + r.gauss(0.0, 0.7 * math.sqrt(dt))) % 360.0  # ~40° an hour
        self.pressure = walk(self.pressure, 1013.0, 8.0, 36 * HOUR, dt, r)
        overcast = 0.9 if self.rate else 0.5  # a shower thickens the cloud
        self.cloud = min(1.0, max(0.0, walk(self.cloud, overcast, 0.3, 2 * HOUR, dt, r)))
        self.shower(now, dt)
        raining = 1.0 if self.rate else 0.0
        self.wet = raining + (self.wet - raining) * math.exp(-dt / 900.0)  # over a quarter of an hour
        temperature = self.climate(now) + self.warmth - 2.0 * self.wet
        humidity = 72.0 - 3.0 * self.diurnal(now) + self.damp + 20.0 * self.wet
        humidity = min(100.0, max(12.0, humidity))
        gusts = self.wind * (1.2 + 0.15 * abs(r.gauss(0.0, 1.0))) + 2.0 * abs(r.gauss(0.0, 1.0))
        solar, uv = self.sunshine(now)
        h = self.elevation
        station = self.pressure * (1.0 - 0.0065 * h / (temperature + 0.0065 * h + 273.15)) ** 5.257
        return Measurement(
            at=now,
            temperature=temperature,
            humidity=humidity,
            dew_point=dew_point(temperature, humidity),
            wind_speed=self.wind,
            wind_gusts=gusts,
            wind_direction=self.direction,
            pressure=self.pressure,
            station_pressure=station,
            rain_rate=self.rate,
            rain_hour=sum(mm for _, mm in self.rain),
            rain_day=self.rain_today,
            solar=solar,
            uv=uv,
        )

    def solar_hour(self, ts: float) -> float:
        return (ts % DAY) / HOUR + self.longitude / 15.0

    def diurnal(self, ts: float) -> float:
        """°C the hour adds: warmest at 15:00 solar time, less under cloud."""
        return 4.0 * (1.0 - 0.6 * self.cloud) * math.cos(2 * math.pi * (self.solar_hour(ts) - 15.0) / 24.0)

    def climate(self, ts: float) -> float:
        """°C the latitude, the season (warmest in late July north, late January south)
        and the hour make."""
        lat = self.latitude
        season = math.cos(2 * math.pi * ((ts / DAY) % 365.2422 - 200.0) / 365.2422)
        return 30.0 - 0.4 * abs(lat) + 0.2 * lat * season + self.diurnal(ts)

    def shower(self, now: float, dt: float) -> None:
        """Rain: a shower starts under thick cloud, lasts 40 minutes on average; what falls
        adds to the past hour's and the day's."""
        r = self.rng
        if self.rate:
            stops = r.random() < 1.0 - math.exp(-dt / (40 * 60))
            self.rate = 0.0 if stops else max(0.2, walk(self.rate, 2.0, 1.5, 600.0, dt, r))
        else:
            per_hour = max(0.0, self.cloud - 0.6) * 2.5
            if r.random() < 1.0 - math.exp(-dt * per_hour / HOUR):
                self.rate = max(0.2, r.gauss(2.0, 1.0))
        day = self.local_day(now)
        if day != self.day:
            self.day, self.rain_today = day, 0.0
        fallen = self.rate * dt / HOUR
        self.rain_today += fallen
        self.rain = [(t, mm) for t, mm in self.rain if t > now - HOUR]
        if fallen:
            self.rain.append((now, fallen))

    def sunshine(self, ts: float) -> tuple[float, int]:
        """(W/m², UV index) from the sun's elevation, dimmed by the cloud."""
        elevation = solar_elevation(self.latitude, self.longitude, ts)
        if elevation <= 0.0:
            return 0.0, 0
        s = math.sin(math.radians(elevation))
        solar = 1000.0 * s**1.15 * (1.0 - 0.75 * self.cloud**3)
        return solar, round(12.0 * s**2.5 * (1.0 - 0.6 * self.cloud))


def dateutc(ts: float) -> str:
    """The time as gateways write it: UTC, ``YYYY-MM-DD HH:MM:SS`` (in the URL or the form
    ``2026-10-03+10%3A30%3A16``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def fahrenheit(celsius: float) -> float:
    return celsius * 9.0 / 5.0 + 32.0


def wind_mph(m: Measurement) -> tuple[str, str]:
    """(speed, gust) in mph as sent: one decimal, the gust never below the speed."""
    speed = round(m.wind_speed / KMH_PER_MPH, 1)
    return f"{speed:.1f}", f"{max(speed, round(m.wind_gusts / KMH_PER_MPH, 1)):.1f}"


def wunderground_params(station_id: str, key: str, m: Measurement) -> dict[str, str]:
    """Weather Underground's upload (its documented parameters; US units)."""
    speed, gust = wind_mph(m)
    return {
        "ID": station_id,
        "PASSWORD": key,
        "dateutc": dateutc(m.at),
        "tempf": f"{fahrenheit(m.temperature):.1f}",
        "humidity": f"{m.humidity:.0f}",
        "dewptf": f"{fahrenheit(m.dew_point):.1f}",
        "windspeedmph": speed,
        "windgustmph": gust,
        "winddir": f"{round(m.wind_direction) % 360}",
        "baromin": f"{m.pressure / HPA_PER_INHG:.2f}",
        "rainin": f"{m.rain_hour / MM_PER_INCH:.2f}",
        "dailyrainin": f"{m.rain_day / MM_PER_INCH:.2f}",
        "solarradiation": f"{m.solar:.1f}",
        "UV": f"{m.uv}",
        "softwaretype": f"{SIM_NAME}/{version()}",
        "action": "updateraw",
    }


def ecowitt_params(passkey: str, m: Measurement) -> dict[str, str]:
    """Ecowitt's "customized" upload, as a gateway's form (US units, pressure both ways)."""
    speed, gust = wind_mph(m)
    return {
        "PASSKEY": passkey,
        "stationtype": f"{SIM_NAME}_V{version()}",
        "dateutc": dateutc(m.at),
        "tempf": f"{fahrenheit(m.temperature):.1f}",
        "humidity": f"{m.humidity:.0f}",
        "baromrelin": f"{m.pressure / HPA_PER_INHG:.3f}",
        "baromabsin": f"{m.station_pressure / HPA_PER_INHG:.3f}",
        "winddir": f"{round(m.wind_direction) % 360}",
        "windspeedmph": speed,
        "windgustmph": gust,
        "rainratein": f"{m.rain_rate / MM_PER_INCH:.3f}",
        "hourlyrainin": f"{m.rain_hour / MM_PER_INCH:.3f}",
        "dailyrainin": f"{m.rain_day / MM_PER_INCH:.3f}",
        "solarradiation": f"{m.solar:.2f}",
        "uv": f"{m.uv}",
        "model": SIM_NAME,
        "freq": "868M",
    }


def upload_url(base: str, fmt: str) -> str:
    """``--url`` with the format's path when it has none (a site's root), else as given."""
    parts = urlsplit(base)
    if parts.path in ("", "/"):
        return f"{parts.scheme}://{parts.netloc}{UPLOAD_PATHS[fmt]}"
    return base


def upload_failure(exc: httpx.HTTPError) -> str:
    """Why an upload got no answer, in a few words (never the URL: it carries the key)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {UPLOAD_TIMEOUT:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})"
    return f"{type(exc).__name__} ({exc})" if str(exc) else type(exc).__name__


def upload_line(m: Measurement, answer: str) -> str:
    speed, _ = wind_mph(m)
    return (
        f"{dateutc(m.at)} UTC  {fahrenheit(m.temperature):.1f} °F  {m.humidity:.0f}%  "
        f"wind {speed} mph  {answer}\n"
    )


def station_sim(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Upload a simulated reading every ``--every`` seconds (on a fixed schedule; one that
    falls behind skips ticks) until Ctrl-C or ``--count`` uploads. Any answer or failure is
    one line and the next tick comes anyway; with --count, 1 unless every upload was
    accepted (2xx)."""
    station = SimulatedStation(args.lat, args.lon, elevation=args.elevation, rng=random.Random(args.seed))
    url = upload_url(args.url, args.format)
    who = "as the gateway with that PASSKEY" if args.format == ECOWITT else f"as station {args.id}"
    try:
        write(
            err,
            f"weatherstream: uploading simulated readings {who} to {url} every {args.every:g} s "
            f"({args.format} format{'' if args.count else '; Ctrl-C stops'})\n",
        )
    except OutputClosed:
        pass
    sent = accepted = 0
    headers = {"User-Agent": f"{SIM_NAME}/{version()}"}
    start = time.monotonic()
    try:
        with httpx.Client(timeout=UPLOAD_TIMEOUT, headers=headers) as client:
            while True:
                m = station.step(time.time())
                try:
                    if args.format == ECOWITT:
                        response = client.post(url, data=ecowitt_params(args.passkey, m))
                    else:
                        response = client.get(url, params=wunderground_params(args.id, args.key, m))
                except httpx.HTTPError as exc:
                    answer = f"failed: {upload_failure(exc)}"
                else:
                    accepted += response.is_success
                    text = " ".join(response.text.split())[:100]
                    answer = f"{response.status_code} {text}".rstrip()
                write(out, upload_line(m, answer))
                sent += 1
                if args.count and sent >= args.count:
                    break
                ticks = max(sent, math.ceil((time.monotonic() - start) / args.every))
                time.sleep(max(0.0, start + ticks * args.every - time.monotonic()))
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK if accepted == sent else EXIT_UPLOAD_FAILED


# -- the command --------------------------------------------------------------------------


def version() -> str:
    try:
        return importlib.metadata.version("weatherstream")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return __version__


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text}")
    return value


def count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a count: {text}")
    return value


def websocket_url(text: str) -> str:
    """A ws:// or wss:// URL (argparse applies it to a default from the environment too)."""
    try:
        parse_uri(text)
    except InvalidURI as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="weatherstream", description="Live weather from a weatherstream server."
    )
    top.add_argument("--version", action="version", version=f"weatherstream {version()}")
    commands = top.add_subparsers(dest="command", required=True)
    watch = commands.add_parser(
        "watch",
        help="show live weather for cities in the terminal",
        description="Live weather for cities, from a weatherstream server (docs/cli.md).",
        epilog="exit status: 0 ok, 1 no reading, 2 usage, 3 unknown city, 4 cannot connect, "
        "5 refused by the server, 130 --once interrupted, 141 output closed",
    )
    watch.add_argument("cities", nargs="+", metavar="CITY", help='a city: Berlin, "Paris, FR", ...')
    watch.add_argument(
        "--url",
        type=websocket_url,
        default=os.environ.get(URL_VARIABLE) or DEFAULT_URL,
        help=f"the WebSocket endpoint (default: ${URL_VARIABLE}, else {DEFAULT_URL})",
    )
    watch.add_argument("--once", action="store_true", help="print one snapshot and exit")
    watch.add_argument(
        "--timeout",
        type=positive,
        default=TIMEOUT,
        help=f"--once: seconds the whole snapshot may take (default {TIMEOUT:g})",
    )
    watch.add_argument("--json", action="store_true", help="the server's frames, one JSON object per line")
    watch.add_argument(
        "--forecast",
        action="store_true",
        help=f"also the forecasts: the next {HOURS_SHOWN} hours and {DAYS_SHOWN} days of each city "
        "(--once waits for them too)",
    )
    retry = watch.add_mutually_exclusive_group()
    retry.add_argument(
        "--attempts",
        type=count,
        default=ATTEMPTS,
        metavar="N",
        help=f"give up (exit 4) after N failed connection attempts in a row (default {ATTEMPTS}; 0: never)",
    )
    retry.add_argument(
        "--retry-forever",
        dest="attempts",
        action="store_const",
        const=0,
        default=ATTEMPTS,
        help="never give up: --attempts 0",
    )
    station_sim_parser(commands)
    return top


def http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"not an http:// or https:// URL: {text}")
    return text


def station_sim_parser(commands: Any) -> None:
    sim = commands.add_parser(
        "station-sim",
        help="upload simulated readings as a personal weather station (demos, benchmarks)",
        description="Upload made-up readings (a smooth random walk) as a registered personal weather "
        "station, in a gateway's format. The server takes them as that station's real measurements: "
        "use it only for demos and benchmarks (docs/cli.md).",
        epilog="exit status: 0 every upload accepted (or stopped by Ctrl-C), 1 an upload of --count "
        "was refused or unanswered, 2 usage",
    )
    sim.add_argument(
        "--url",
        type=http_url,
        default=STATION_URL,
        help=f"the site's root (the format's path is added) or the full upload URL (default {STATION_URL})",
    )
    sim.add_argument(
        "--format", choices=(WUNDERGROUND, ECOWITT), default=WUNDERGROUND, help="the upload format"
    )
    sim.add_argument("--id", help="wunderground: the station's id (st-...)")
    sim.add_argument("--key", help="wunderground: the station's key")
    sim.add_argument("--passkey", help="ecowitt: the PASSKEY the station is registered with")
    sim.add_argument(
        "--every",
        type=positive,
        default=STATION_EVERY,
        metavar="SECONDS",
        help=f"seconds between uploads (default {STATION_EVERY:g})",
    )
    sim.add_argument(
        "--count", type=count, default=0, metavar="N", help="stop after N uploads (default: never)"
    )
    sim.add_argument("--lat", type=float, default=SIM_LATITUDE, help="where the sun is simulated for")
    sim.add_argument("--lon", type=float, default=SIM_LONGITUDE)
    sim.add_argument("--elevation", type=float, default=0.0, help="metres: ecowitt's absolute pressure")
    sim.add_argument("--seed", type=int, help="the random walk's seed (default: a new one each run)")
    sim.set_defaults(usage_error=sim.error)


def check_station_sim(args: argparse.Namespace) -> None:
    """The credentials each format takes: an id and key, or a PASSKEY alone."""
    if args.format == ECOWITT:
        if not args.passkey:
            args.usage_error("--format ecowitt needs --passkey")
        if args.id or args.key:
            args.usage_error("--format ecowitt sends --passkey only, not --id or --key")
    else:
        if not (args.id and args.key):
            args.usage_error("--format wunderground needs --id and --key")
        if args.passkey:
            args.usage_error("--passkey is for --format ecowitt")


def silence_stdout() -> None:
    """The recipe of the signal module's docs: point stdout at /dev/null so that the flush
    at exit does not fail again on the broken pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "station-sim":
            check_station_sim(args)
            return station_sim(args, sys.stdout, sys.stderr)
        return watch(args)
    except (OutputClosed, BrokenPipeError):
        silence_stdout()
        return EXIT_OUTPUT_CLOSED


def watch(args: argparse.Namespace) -> int:
    view = make_view(json_lines=args.json, once=args.once, out=sys.stdout, err=sys.stderr)
    client = Watch(args.url, args.cities, view, forecast=args.forecast)
    run = client.run_once(args.timeout) if args.once else client.run_live(args.attempts)
    try:
        return asyncio.run(until_output_closed(run, sys.stdout))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED if args.once else EXIT_OK
    except UnknownCities as exc:
        sys.stderr.write(f"weatherstream: nothing to watch: {exc}\n")
        return EXIT_UNKNOWN_CITY
    except CannotConnect as exc:
        sys.stderr.write(f"weatherstream: cannot connect to {args.url}: {exc}\n")
        return EXIT_CANNOT_CONNECT
    except Refused as exc:
        sys.stderr.write(f"weatherstream: {args.url} refused the connection: {exc}\n")
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())

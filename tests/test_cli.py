"""`weatherstream watch` (the package's console script): against the product's server and
against small WebSocket servers on loopback that misbehave on purpose, on a pty, on pipes,
and, for the reconnect rules, in process with a fast backoff."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import http.server
import importlib.metadata
import io
import json
import os
import pty
import random
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import rich.console
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response
from websockets.sync.client import connect as connect_ws
from websockets.typing import Origin

from scripts.engines import free_port
from tests.test_server import EXAMPLE
from weatherstream import cli, forecasts

WATCH = str(Path(sys.executable).parent / "weatherstream")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
REDRAW = "\r\x1b[2K"  # rich.live moves up over its last table from here, once per refresh
SIMULATED_LINE = "source simulated (not real weather)"


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: Python's stdout buffered (no PYTHONUNBUFFERED, so
    that a missing flush shows), no URL, colours or sizes from the developer's."""
    unset = ("PYTHONUNBUFFERED", cli.URL_VARIABLE, "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")
    return {**{k: v for k, v in os.environ.items() if k not in unset}, **extra}


def ws_url(server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/weather/"


def closed_port_url() -> str:
    return f"ws://127.0.0.1:{free_port()}/ws/weather/"


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [WATCH, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=user_env() if env is None else env,
        stdin=subprocess.DEVNULL,
    )


async def arun(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """`run` from an async test, whose loop keeps serving the test's fake server."""
    return await asyncio.to_thread(run, *args, timeout=timeout)


# -- the product's server -------------------------------------------------------------------


def test_once_prints_a_snapshot_and_says_by_its_exit_code_if_all_cities_have_one(server):
    ok = run("watch", "--once", "--url", ws_url(server), "Berlin", "Paris, FR")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Berlin" in ok.stdout and "Paris" in ok.stdout
    assert "simulated" in ok.stdout and cli.SIMULATED_NOTE in ok.stdout
    assert "\x1b" not in ok.stdout  # piped: plain text

    unknown = run("watch", "--once", "--url", ws_url(server), "Berlin", "Atlantis Qqq")
    assert unknown.returncode == cli.EXIT_UNKNOWN_CITY == 3, unknown.stdout + unknown.stderr
    assert "unknown_city" in unknown.stdout and "Berlin" in unknown.stdout
    assert unknown.stderr.startswith("weatherstream: Atlantis Qqq: unknown_city: No city called")

    down = run("watch", "--once", "--url", closed_port_url(), "Berlin")
    assert down.returncode == cli.EXIT_CANNOT_CONNECT == 4
    assert "cannot connect" in down.stderr and "connection refused" in down.stderr
    assert down.stdout == ""


def test_a_timeout_says_why(server):
    slow = run("watch", "--once", "--timeout", "0.001", "--url", ws_url(server), "Berlin")
    # the handshake does not fit in a millisecond: cannot connect (4), with a reason; were
    # it ever to, the reading would not: no reading (1), with the same reason
    assert slow.returncode in (4, 1), slow.stdout + slow.stderr
    assert "timed out after 0.001 s" in (slow.stderr if slow.returncode == 4 else slow.stdout)


def test_the_url_comes_from_the_environment_unless_given(server):
    env = user_env(WEATHERSTREAM_URL=ws_url(server))
    assert run("watch", "--once", "Berlin", env=env).returncode == 0
    env["WEATHERSTREAM_URL"] = closed_port_url()
    assert run("watch", "--once", "Berlin", env=env).returncode == 4
    assert run("watch", "--once", "--url", ws_url(server), "Berlin", env=env).returncode == 0
    del env["WEATHERSTREAM_URL"]
    helptext = " ".join(run("watch", "-h", env=env).stdout.split())
    assert f"default: ${cli.URL_VARIABLE}, else {cli.DEFAULT_URL}" in helptext


def test_version_and_usage():
    version = run("--version")
    assert version.returncode == 0
    assert version.stdout == f"weatherstream {importlib.metadata.version('weatherstream')}\n"
    for args in (
        ["watch"],
        ["watch", "--url", "http://example.com/", "Berlin"],
        ["watch", "--attempts", "-1", "X"],
    ):
        usage = run(*args)
        assert usage.returncode == cli.EXIT_USAGE == 2 and "usage:" in usage.stderr, args
    bad_env = run("watch", "Berlin", env=user_env(WEATHERSTREAM_URL="localhost:8000"))
    assert bad_env.returncode == 2 and "isn't a valid URI" in bad_env.stderr
    assert cli.parser().parse_args(["watch", "--retry-forever", "X"]).attempts == 0


def test_json_prints_the_servers_frames_one_per_line(server):
    with Piped([WATCH, "watch", "--json", "--url", ws_url(server), "Berlin"]) as piped:
        frames = [json.loads(piped.readline(20)) for _ in range(3)]
        piped.close_reader()
        assert piped.wait(10) == 141
    assert frames[0]["type"] == "subscribed" and frames[0]["location"]["name"] == "Berlin"
    weather = [f for f in frames if f["type"] == "weather"]
    assert weather and weather[0]["location"] == frames[0]["location"]["id"]
    assert weather[0]["weather"]["source"] == "simulated" and "temperature" in weather[0]["weather"]
    assert "live" in piped.stderr  # the connection's state goes to stderr, never between the frames


def test_piped_it_prints_a_line_per_update_and_ends_quietly_when_the_reader_goes(server):
    """`weatherstream watch Berlin | head -2`."""
    with Piped([WATCH, "watch", "--url", ws_url(server), "Berlin"]) as piped:
        lines = [piped.readline(20) for _ in range(2)]
        piped.close_reader()
        code = piped.wait(10)
    for line in lines:
        assert line.startswith("Berlin  ") and " °C  feels " in line and SIMULATED_LINE in line, line
        assert "\x1b" not in line
    assert code == cli.EXIT_OUTPUT_CLOSED == 141
    assert "Traceback" not in piped.stderr and "Exception ignored" not in piped.stderr, piped.stderr


def test_live_an_unknown_city_is_shown_and_only_unknown_cities_end_the_watch(server):
    alone = run("watch", "--url", ws_url(server), "Atlantis Qqq")
    assert alone.returncode == 3 and "nothing to watch: unknown_city" in alone.stderr
    with Piped([WATCH, "watch", "--url", ws_url(server), "Atlantis Qqq", "Berlin"]) as piped:
        lines = [piped.readline(20) for _ in range(4)]
        assert piped.proc.poll() is None  # still watching Berlin
    assert any(line.startswith("Atlantis Qqq  unknown_city: ") for line in lines), lines
    assert sum(line.startswith("Berlin  ") for line in lines) >= 2, lines


class Piped:
    """The CLI with its stdout on a pipe that the test reads, and can close."""

    def __init__(self, argv: list[str]) -> None:
        self.reader, writer = os.pipe()
        self.errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=writer, stderr=self.errors, env=user_env()
        )
        os.close(writer)
        self.buffer = b""
        self.stderr = ""

    def readline(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.reader], [], [], max(0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"no line within {timeout} s; stderr:\n{self.read_stderr()}")
            chunk = os.read(self.reader, 65536)
            if not chunk:
                raise AssertionError(f"stdout closed; stderr:\n{self.read_stderr()}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def close_reader(self) -> None:
        os.close(self.reader)
        self.reader = -1

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def read_stderr(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")

    def __enter__(self) -> Piped:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.reader >= 0:
            os.close(self.reader)
        self.stderr = self.read_stderr()
        self.errors.close()


class Terminal:
    """A process on a pseudo-terminal (160 columns, TERM=xterm), and everything it wrote."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        env = user_env(TERM="xterm-256color")
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True, env=env)
        os.close(slave)
        self.screen = ""

    def read_until(self, predicate, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.screen):
                return self.screen
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.screen += os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # EIO: the process has closed the terminal, and is ending
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.proc.wait(max(0.0, deadline - time.monotonic()))
                    if predicate(self.screen):
                        return self.screen
                    break
        raise AssertionError(f"timed out; the terminal shows:\n{self.screen[-3000:]}")

    def last_frame(self) -> str:
        """The table as rich.live last drew it, without colours."""
        return ANSI.sub("", self.screen.rsplit("\x1b[2K", 1)[-1])

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(10)
        os.close(self.master)
        return code


def test_a_live_table_updates_in_place_and_reconnects(server):
    # --attempts 1: a server that is down after the watch has been live is a restart, not a
    # failure that counts: the watch must not give up while the server restarts
    term = Terminal([WATCH, "watch", "--attempts", "1", "--url", ws_url(server), "Berlin", "Paris, FR"])
    try:
        # (until a whole table is on screen: a read may end in the middle of a redraw)
        whole = ("· live", "Berlin", "Paris", cli.SIMULATED_NOTE)
        term.read_until(lambda s: s.count(REDRAW) >= 6 and all(w in term.last_frame() for w in whole), 20)
        frame = term.last_frame()
        assert "· live" in frame and "Berlin" in frame and "Paris" in frame
        assert "simulated" in frame and cli.SIMULATED_NOTE in frame
        berlin = next(line for line in frame.splitlines() if line.startswith("Berlin"))
        assert re.match(r"Berlin\s+-?\d+\.\d\s+-?\d+\.\d\s+\d+%", berlin), berlin  # temp, feels, humidity
        assert "\x1b[2J" not in term.screen and "\x1b[H" not in term.screen  # redrawn, not cleared

        server.stop()
        term.read_until(lambda s: "reconnecting in" in term.last_frame(), 15)
        server.start()
        redraws = term.screen.count(REDRAW)
        # (the table is redrawn while the new server still answers the subscribes, and a
        # read may end in the middle of a redraw: until a whole table with its rows is there)
        term.read_until(
            lambda s: s.count(REDRAW) > redraws + 2 and all(w in term.last_frame() for w in whole), 45
        )
        assert "Berlin" in term.last_frame() and "Paris" in term.last_frame()
    finally:
        code = term.close()
    assert code == 0


def test_once_on_a_terminal_prints_the_table_without_clearing_the_screen(server):
    term = Terminal([WATCH, "watch", "--once", "--url", ws_url(server), "Berlin", "Paris, FR"])
    try:
        term.read_until(lambda s: term.proc.poll() is not None and cli.SIMULATED_NOTE in ANSI.sub("", s), 30)
    finally:
        code = term.close()
    assert code == 0, term.screen
    for sequence in ("\x1b[2J", "\x1b[H", "\x1b[J", "\x1b[2K", "\x1b[1A"):  # clear, home, erase, up
        assert sequence not in term.screen, repr(sequence)
    text = ANSI.sub("", term.screen)
    assert "Berlin" in text and "Paris" in text and "simulated" in text


# -- in-process: a broken pipe is not a network failure -----------------------------------


class BrokenPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


async def test_a_broken_pipe_on_write_ends_the_watch_instead_of_reconnecting(server):
    view = cli.LineView(BrokenPipe(), io.StringIO())
    watch = cli.Watch(ws_url(server), ["Berlin"], view)
    with pytest.raises(cli.OutputClosed):
        await asyncio.wait_for(watch.run_live(attempts=1), 20)


# -- servers that misbehave on purpose -----------------------------------------------------

BERLIN = {
    "id": "2950159", "name": "Berlin", "country": "DE", "region": "Germany",
    "lat": 52.52437, "lon": 13.41053, "timezone": "Europe/Berlin",
}  # fmt: skip
PARIS = {**BERLIN, "id": "2988507", "name": "Paris", "country": "FR", "timezone": "Europe/Paris"}
READING = {
    "temperature": 17.7, "feels_like": 17.6, "humidity": 66, "wind_speed": 3.6,
    "wind_direction": 259, "summary": "Partly cloudy", "observed_at": "2026-10-03T10:30:00Z",
}  # fmt: skip
STALE_SIMULATED = {**READING, "source": "simulated", "stale": True, "age": 120}
REAL = {**READING, "temperature": 12.5, "source": "open-meteo", "stale": False}


@contextlib.asynccontextmanager
async def fake_server(answers=None, *, status=None, close=None, hangup=False):
    """A WebSocket server on loopback. `answers` maps a city to its (location, weather) for
    `subscribed` (a city not in it gets nothing, ever); `status(n)` may answer the n-th
    handshake (from 1) with an HTTP status instead; `close` closes each connection at once
    with that code; `hangup` closes it (1001) after the first answer. Yields its url, the
    handshakes seen and the subscribe frames received."""
    seen = SimpleNamespace(handshakes=0, subscribes=[], subscribed=asyncio.Event())

    def process_request(connection, request):
        seen.handshakes += 1
        answer = status(seen.handshakes) if status else None
        return None if answer is None else connection.respond(answer, "refused\n")

    async def handler(ws):
        if close is not None:
            await ws.close(close, "refused")
            return
        with contextlib.suppress(ConnectionClosed):  # the client was killed, or gave up
            await answer(ws)

    async def answer(ws):
        async for text in ws:
            message = json.loads(text)
            seen.subscribes.append(message)
            asked = message.get("city", message.get("station"))
            if asked in (answers or {}):
                location, weather = answers[asked]
                frame = {"type": "subscribed", "id": message["id"], "location": location, "weather": weather}
                await ws.send(json.dumps(frame))
            seen.subscribed.set()
            if hangup:
                await ws.close(1001)

    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        seen.url = f"ws://127.0.0.1:{port}/ws/weather/"
        yield seen


@pytest.mark.parametrize("status", [HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND])
async def test_a_refused_handshake_exits_5_at_once(status):
    async with fake_server(status=lambda n: status) as fake:
        done = await arun("watch", "--url", fake.url, "Berlin")
    assert done.returncode == cli.EXIT_REFUSED == 5, done.stderr
    assert fake.handshakes == 1  # never retried
    assert f"refused the connection: HTTP {status.value}" in done.stderr


@pytest.mark.parametrize("code", [4003, 4029])
async def test_a_refusing_close_code_exits_5_at_once(code):
    async with fake_server(close=code) as fake:
        done = await arun("watch", "--url", fake.url, "Berlin")
    assert done.returncode == 5, done.stderr
    assert fake.handshakes == 1 and f"closed with code {code} ({cli.CLOSE_MEANINGS[code]})" in done.stderr


async def test_a_failing_server_is_retried_a_bounded_number_of_times():
    async with fake_server(status=lambda n: HTTPStatus.SERVICE_UNAVAILABLE) as fake:
        done = await arun("watch", "--attempts", "2", "--url", fake.url, "Berlin")
    assert done.returncode == 4, done.stderr
    assert fake.handshakes == 2 and "HTTP 503 Service Unavailable (2 failed attempts in a row)" in done.stderr


def test_a_server_never_reached_live_exits_4_after_the_attempts():
    done = run("watch", "--attempts", "2", "--url", closed_port_url(), "Berlin")
    assert done.returncode == 4 and "connection refused (2 failed attempts in a row)" in done.stderr


async def test_a_city_without_a_reading_exits_1():
    async with fake_server({"Berlin": (BERLIN, REAL), "Paris": (PARIS, None)}) as fake:
        late = await arun("watch", "--once", "--timeout", "1", "--url", fake.url, "Berlin", "Paris")
    async with fake_server({"Berlin": (BERLIN, REAL)}, hangup=True) as fake:
        cut = await arun("watch", "--once", "--url", fake.url, "Berlin", "Paris")
    for done, reason in ((late, "timed out after 1 s"), (cut, "closed by the server")):
        assert done.returncode == cli.EXIT_NO_READING == 1, done.stdout + done.stderr
        paris = next(line for line in done.stdout.splitlines() if line.startswith("Paris"))
        assert f"no reading: {reason}" in paris
        assert done.stderr == f"weatherstream: Paris: no reading: {reason}\n"


async def test_once_interrupted_exits_130():
    async with fake_server({}) as fake:
        proc = subprocess.Popen(
            [WATCH, "watch", "--once", "--url", fake.url, "Berlin"], stdout=subprocess.PIPE
        )
        try:
            await asyncio.wait_for(fake.subscribed.wait(), 20)
            proc.send_signal(signal.SIGINT)
            assert await asyncio.to_thread(proc.wait, 10) == cli.EXIT_INTERRUPTED == 130
        finally:
            proc.kill()
            proc.wait(10)


async def test_a_closed_pipe_ends_the_watch_even_between_updates():
    """`watch Berlin | head -1` when the next reading is 15 minutes away: the watch ends when
    `head` does, not at its next write."""
    async with fake_server({"Berlin": (BERLIN, REAL)}) as fake:
        with Piped([WATCH, "watch", "--url", fake.url, "Berlin"]) as piped:
            line = await asyncio.to_thread(piped.readline, 20)
            piped.close_reader()
            code = await asyncio.to_thread(piped.wait, 10)
    assert line.startswith("Berlin") and code == 141
    assert "Traceback" not in piped.stderr


async def test_stale_and_simulated_readings_are_marked_in_every_mode():
    answers = {"Berlin": (BERLIN, STALE_SIMULATED), "Paris": (PARIS, REAL)}
    async with fake_server(answers) as fake:
        snapshot = await arun("watch", "--once", "--url", fake.url, "Berlin", "Paris")
        json_lines = await arun("watch", "--once", "--json", "--url", fake.url, "Berlin", "Paris")
        with Piped([WATCH, "watch", "--url", fake.url, "Berlin", "Paris"]) as piped:
            lines = sorted([await asyncio.to_thread(piped.readline, 20) for _ in range(2)])
        term = await asyncio.to_thread(Terminal, [WATCH, "watch", "--url", fake.url, "Berlin", "Paris"])
        try:
            await asyncio.to_thread(term.read_until, lambda s: "open-meteo" in term.last_frame(), 20)
        finally:
            await asyncio.to_thread(term.close)

    assert snapshot.returncode == 0, snapshot.stderr
    berlin, paris = (
        next(line for line in snapshot.stdout.splitlines() if line.startswith(city))
        for city in ("Berlin", "Paris")
    )
    # observed 10:30 UTC, shown in the place's own zone (summer time in October);
    # wind from 259° is from the west
    assert "stale, 120 s old" in berlin and berlin.endswith("simulated") and "12:30 CEST" in berlin
    assert "stale" not in paris and paris.endswith("open-meteo") and "from W" in paris
    assert snapshot.stdout.rstrip().endswith(cli.SIMULATED_NOTE)

    frames = [json.loads(line) for line in json_lines.stdout.splitlines()]
    assert [f["weather"]["source"] for f in frames] == ["simulated", "open-meteo"]

    assert "(stale, 120 s old)" in lines[0] and lines[0].endswith(SIMULATED_LINE)
    assert "stale" not in lines[1] and lines[1].endswith("source open-meteo")

    table = term.last_frame()
    assert "stale, 120 s old" in table and cli.SIMULATED_NOTE in table
    row = next(line for line in table.splitlines() if line.startswith("Berlin"))
    assert row.rstrip().endswith("simulated")
    assert re.search(r"\x1b\[[0-9;]*;43msimulated", term.screen)  # on yellow, not only written


# -- in-process: what counts toward giving up, with a backoff of milliseconds ---------------


class Recorder(cli.View):
    def __init__(self) -> None:
        super().__init__(io.StringIO(), io.StringIO())
        self.statuses: list[str] = []

    def status(self, watch: cli.Watch) -> None:
        self.statuses.append(watch.status)


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(cli, "BACKOFF_BASE", 0.001)


async def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_once_live_an_unreachable_server_is_retried_forever(fast_backoff):
    view = Recorder()
    async with fake_server({"Berlin": (BERLIN, REAL)}) as fake:
        watch = cli.Watch(fake.url, ["Berlin"], view)
        task = asyncio.create_task(watch.run_live(attempts=1))
        await asyncio.wait_for(fake.subscribed.wait(), 10)
    # the server is gone (its port closed): every attempt is refused
    try:
        await wait_for(lambda: sum("connection refused" in s for s in view.statuses) >= 5 or task.done(), 10)
        assert not task.done(), task.exception()
    finally:
        task.cancel()


async def test_once_live_a_failing_server_still_counts(fast_backoff):
    def status(n):  # accepted once (then hung up on), then 503 on every handshake
        return None if n == 1 else HTTPStatus.SERVICE_UNAVAILABLE

    async with fake_server({"Berlin": (BERLIN, REAL)}, status=status, hangup=True) as fake:
        task = asyncio.create_task(cli.Watch(fake.url, ["Berlin"], Recorder()).run_live(attempts=3))
        with pytest.raises(cli.CannotConnect, match=r"HTTP 503 Service Unavailable \(3 failed attempts"):
            await asyncio.wait_for(task, 10)
    assert fake.handshakes == 4 and len(fake.subscribes) == 1


async def test_retry_forever_never_gives_up(fast_backoff):
    async with fake_server(status=lambda n: HTTPStatus.SERVICE_UNAVAILABLE) as fake:
        task = asyncio.create_task(cli.Watch(fake.url, ["Berlin"], Recorder()).run_live(attempts=0))
        try:
            await wait_for(lambda: fake.handshakes >= 8 or task.done(), 10)
            assert not task.done(), task.exception()
        finally:
            task.cancel()


def closed(code: int) -> ConnectionClosedError:
    return ConnectionClosedError(Close(code, ""), None)


def answered(status: int) -> InvalidStatus:
    return InvalidStatus(Response(status, HTTPStatus(status).phrase, Headers()))


@pytest.mark.parametrize(
    ("exc", "final"),
    [
        (answered(403), True),
        (answered(404), True),
        (answered(200), True),  # not a WebSocket endpoint
        (answered(500), False),
        (answered(503), False),
        (closed(4003), True),
        (closed(4008), True),
        (closed(4029), True),
        (closed(4009), False),  # the client stopped reading: reconnecting is allowed
        (closed(1001), False),
        (closed(1011), False),
        (ConnectionRefusedError(), False),
        (TimeoutError(), False),
    ],
)
def test_which_failures_are_refusals(exc, final):
    assert (cli.refusal(exc) is not None) is final


def test_every_failure_has_a_reason():
    assert cli.describe(TimeoutError(), 0.001) == "timed out after 0.001 s"
    assert cli.describe(ConnectionRefusedError(), 10) == "connection refused"
    assert cli.describe(OSError(), 10)


# -- --forecast -----------------------------------------------------------------------------

BERLIN_ZONE = ZoneInfo("Europe/Berlin")


def server_forecasts(server, city: str) -> dict[str, dict]:
    """The forecast frames the server sends a client of its own for `city`, by kind."""
    url = ws_url(server)
    with connect_ws(url, origin=Origin(f"http://127.0.0.1:{server.port}"), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "subscribe", "city": city, "forecast": ["hourly", "daily"]}))
        frames: dict[str, dict] = {}
        deadline = time.monotonic() + 20
        while len(frames) < 2:
            frame = json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
            if frame["type"] == "forecast":
                frames[frame["kind"]] = frame
    return frames


def next_hours(start: float, zone=BERLIN_ZONE) -> list[str]:
    """The hours a watch shows at `start`, as it writes them: from the current one."""
    hour = start // 3600 * 3600
    return [
        datetime.fromtimestamp(hour + i * 3600, zone).strftime("%a %H:%M %Z") for i in range(cli.HOURS_SHOWN)
    ]


def hours_ahead(frame: dict, start: float, zone=BERLIN_ZONE) -> list[str]:
    """The hours of an hourly forecast frame a watch shows at `start`, as it writes them:
    those not over yet, in the place's zone."""
    times = [datetime.fromisoformat(item["time"]) for item in frame["forecast"]]
    ahead = [t for t in times if t.timestamp() + 3600 > start][: cli.HOURS_SHOWN]
    assert [b - a for a, b in zip(ahead, ahead[1:])] == [timedelta(hours=1)] * (cli.HOURS_SHOWN - 1)
    return [t.astimezone(zone).strftime("%a %H:%M %Z") for t in ahead]


def next_days(start: float, zone=BERLIN_ZONE) -> list[str]:
    """The local days a watch shows at `start`, as it writes them: from the place's today."""
    today = datetime.fromtimestamp(start, zone).date()
    return [(today + timedelta(days=i)).strftime("%a %d %b") for i in range(cli.DAYS_SHOWN)]


def first_cells(lines: list[str], title: str) -> list[str]:
    """The first cell of each row of the table under `title` (its header, rule and rows),
    up to the first line that is not a row."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 3 :]:
        cell = re.match(r"(\w{3} \d\d:\d\d \w+|\w{3} \d\d \w{3})\s", line)
        if cell is None:
            break
        rows.append(cell.group(1))
    return rows


def side_by_side(lines: list[str], city: str = "Berlin") -> tuple[list[str], list[str]]:
    """The lines of a terminal's view cut where the days' table starts, right of the hours'."""
    title = next(line for line in lines if line.startswith(f"{city} · next 12 hours"))
    at = title.index(f"{city} · next 7 days")
    return [line[:at] for line in lines], [line[at:] for line in lines]


def test_forecast_json_passes_both_forecast_frames_on_whole(server):
    with Piped([WATCH, "watch", "--forecast", "--json", "--url", ws_url(server), "Berlin"]) as piped:
        frames: list[dict] = []
        deadline = time.monotonic() + 20
        while {f.get("kind") for f in frames if f["type"] == "forecast"} != {"hourly", "daily"}:
            assert time.monotonic() < deadline, frames
            frames.append(json.loads(piped.readline(20)))
        piped.close_reader()
        assert piped.wait(10) == 141
    assert frames[0]["type"] == "subscribed"
    location = frames[0]["location"]["id"]
    shown = {f["kind"]: f for f in frames if f["type"] == "forecast"}
    assert len([f for f in frames if f["type"] == "forecast"]) == 2  # each once

    # the server's frames, field for field: nothing left out, cut or reworded
    assert shown == server_forecasts(server, "Berlin")
    for kind, fields in (("hourly", forecasts.HOURLY_FIELDS), ("daily", forecasts.DAILY_FIELDS)):
        frame = shown[kind]
        assert list(frame) == ["type", "location", "kind", "issued_at", "source", "forecast"], kind
        assert frame["location"] == location and frame["source"] == "simulated"
        assert frame["issued_at"].endswith("Z")
        assert all(list(item) == list(fields) for item in frame["forecast"]), kind
    assert len(shown["hourly"]["forecast"]) >= 48 and len(shown["daily"]["forecast"]) == 7


def test_forecast_on_a_terminal_shows_the_next_hours_and_days_in_the_places_zone(server):
    start = time.time()
    term = Terminal([WATCH, "watch", "--forecast", "--url", ws_url(server), "Berlin"])
    try:
        whole = ("· live", "Berlin · next 12 hours", "Berlin · next 7 days", cli.SIMULATED_NOTE)
        term.read_until(lambda s: all(w in term.last_frame() for w in whole), 20)
        end = time.time()
        frame = term.last_frame()
    finally:
        code = term.close()
    assert code == 0
    lines = frame.splitlines()
    assert lines[0].startswith(f"{ws_url(server)} · live")
    assert any(re.match(r"Berlin\s+-?\d+\.\d\s+-?\d+\.\d\s+\d+%", line) for line in lines)  # the readings
    # the hours and the days side by side (160 columns), each titled, marked simulated
    left, right = side_by_side(lines)
    assert any(re.match(r"Berlin · next 12 hours · issued \w{3} \d\d:00 CES?T · simulated", x) for x in left)
    assert any(re.match(r"Berlin · next 7 days · issued \w{3} \d\d:00 CES?T · simulated", x) for x in right)
    hours = first_cells(left, "Berlin · next 12 hours")
    hourly = server_forecasts(server, "Berlin")["hourly"]  # the same: kept FORECAST_INTERVAL
    assert hours in (hours_ahead(hourly, start), hours_ahead(hourly, end))  # from this hour, local
    assert first_cells(right, "Berlin · next 7 days") in (next_days(start), next_days(end))
    # marked simulated: the titles on yellow, and the note under it all
    assert len(re.findall(r"issued [^\n]*?\x1b\[[0-9;]*;43msimulated", term.screen)) >= 2
    assert lines[-1].strip() == cli.SIMULATED_NOTE


def test_forecast_once_prints_both_parts_and_exits_0(server):
    start = time.time()
    done = run("watch", "--once", "--forecast", "--url", ws_url(server), "Berlin")
    end = time.time()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[2].startswith("Berlin  ") and lines[-1] == cli.SIMULATED_NOTE  # readings first
    mark = " · simulated (not real weather)"
    hours_title = next(line for line in lines if line.startswith("Berlin · next 12 hours · issued "))
    days_title = next(line for line in lines if line.startswith("Berlin · next 7 days · issued "))
    assert hours_title.endswith(mark) and days_title.endswith(mark)
    hourly = server_forecasts(server, "Berlin")["hourly"]
    hours = first_cells(lines, "Berlin · next 12 hours")
    assert hours in (hours_ahead(hourly, start), hours_ahead(hourly, end))
    assert first_cells(lines, "Berlin · next 7 days") in (next_days(start), next_days(end))
    assert "\x1b" not in done.stdout

    # on a terminal: drawn by rich, both parts, and still never a cursor move or a clear
    term = Terminal([WATCH, "watch", "--once", "--forecast", "--url", ws_url(server), "Berlin"])
    try:
        term.read_until(lambda s: term.proc.poll() is not None and cli.SIMULATED_NOTE in ANSI.sub("", s), 30)
    finally:
        code = term.close()
    assert code == 0, term.screen
    for sequence in ("\x1b[2J", "\x1b[H", "\x1b[J", "\x1b[2K", "\x1b[1A"):
        assert sequence not in term.screen, repr(sequence)
    left, right = side_by_side(ANSI.sub("", term.screen).splitlines())
    assert len(first_cells(left, "Berlin · next 12 hours")) == 12
    assert len(first_cells(right, "Berlin · next 7 days")) == 7


def test_forecast_piped_prints_a_line_per_hour_and_per_day(server):
    with Piped([WATCH, "watch", "--forecast", "--url", ws_url(server), "Berlin"]) as piped:
        lines: list[str] = []
        deadline = time.monotonic() + 20
        while sum(" daily  " in x for x in lines) < 7 or sum(" hourly  " in x for x in lines) < 12:
            assert time.monotonic() < deadline, lines
            lines.append(piped.readline(20))
    hourly = [line for line in lines if line.startswith("Berlin  hourly  ")]
    daily = [line for line in lines if line.startswith("Berlin  daily  ")]
    assert len(hourly) == 12 and len(daily) == 7, lines
    assert re.match(r"Berlin  hourly  \w{3} \d\d:\d\d CES?T  -?\d+\.\d °C  precip ", hourly[0]), hourly[0]
    assert re.match(r"Berlin  daily  \w{3} \d\d \w{3}  max -?\d+\.\d °C  min -?\d+\.\d °C  ", daily[0])
    assert all(line.endswith(SIMULATED_LINE) and "\x1b" not in line for line in hourly + daily)


async def test_forecast_is_asked_for_only_with_the_flag_and_once_waits_for_it():
    async with fake_server({"Berlin": (BERLIN, REAL)}) as fake:
        plain = await arun("watch", "--once", "--url", fake.url, "Berlin")
        asked = await arun("watch", "--once", "--forecast", "--timeout", "1", "--url", fake.url, "Berlin")
    assert fake.subscribes == [
        {"type": "subscribe", "city": "Berlin", "id": 0},  # no "forecast" key: as before
        {"type": "subscribe", "city": "Berlin", "id": 0, "forecast": ["hourly", "daily"]},
    ]
    assert plain.returncode == 0 and "next" not in plain.stdout
    # this server sends no forecast: --once waits the whole --timeout for it, says so, and
    # exits as its reading alone decides
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert asked.stderr == "weatherstream: Berlin: no hourly or daily forecast: timed out after 1 s\n"
    assert "Berlin · next hours: no forecast: timed out after 1 s" in asked.stdout
    assert "Berlin · next days: no forecast: timed out after 1 s" in asked.stdout


def forecast_frames(now: float, *, temperature: float, summary: str, source: str) -> list[dict]:
    """An hourly and a daily frame for BERLIN from the hour of `now` (the last hour over)."""
    hour = now // 3600 * 3600
    hourly = [
        {
            **dict.fromkeys(forecasts.HOURLY_FIELDS),
            "time": forecasts.iso(datetime.fromtimestamp(hour + i * 3600, UTC)),
            "temperature": temperature + i,
            "precipitation": 0.5,
            "precipitation_probability": 40,
            "summary": summary,
        }
        for i in range(-1, 30)
    ]
    today = datetime.fromtimestamp(now, BERLIN_ZONE).date()
    daily = [
        {
            **dict.fromkeys(forecasts.DAILY_FIELDS),
            "date": (today + timedelta(days=i)).isoformat(),
            "temperature_max": temperature + 20,
            "temperature_min": temperature - 20,
            "summary": summary,
        }
        for i in range(7)
    ]
    issued = forecasts.iso(datetime.fromtimestamp(hour, UTC))
    common = {"type": "forecast", "location": BERLIN["id"], "issued_at": issued, "source": source}
    return [{**common, "kind": "hourly", "forecast": hourly}, {**common, "kind": "daily", "forecast": daily}]


def test_a_changed_forecast_replaces_the_shown_one():
    out = io.StringIO()
    console = rich.console.Console(file=out, force_terminal=True, width=160, height=60)
    view = cli.LiveView(out, io.StringIO(), console)
    watch = cli.Watch("ws://127.0.0.1:9/ws/weather/", ["Berlin"], view, forecast=True)
    now = time.time()

    def receive(frame: dict) -> str:
        view.frame(watch, frame, watch.handle(frame))
        return ANSI.sub("", out.getvalue().rsplit("\x1b[2K", 1)[-1])  # what is on screen now

    with view:
        receive({"type": "subscribed", "id": 0, "location": BERLIN, "weather": REAL})
        for frame in forecast_frames(now, temperature=-3.0, summary="Heavy snow fall", source="simulated"):
            first = receive(frame)
        hourly, daily = forecast_frames(now, temperature=21.0, summary="Clear sky", source="open-meteo")
        second = receive(hourly)
        third = receive(daily)

    hours, days = side_by_side(first.splitlines())
    assert "-4.0" not in first  # the hour before this one is over: not shown
    row = next(line for line in hours if line.startswith(next_hours(now)[0]))
    assert re.match(r"\w{3} \d\d:\d\d \w+\s+-3\.0\s+0\.5\s+40%\s+Heavy snow fall", row), row
    assert sum("Heavy snow fall" in line for line in hours) == 12
    assert sum("-23.0" in line for line in days) == 7 and cli.SIMULATED_NOTE in first
    # the new hourly forecast replaces the old one at once; the days are still the old ones
    hours, days = side_by_side(second.splitlines())
    assert sum("Clear sky" in line for line in hours) == 12 and not any("snow" in line for line in hours)
    row = next(line for line in hours if line.startswith(next_hours(now)[0]))
    assert re.match(r"\w{3} \d\d:\d\d \w+\s+21\.0\s", row), row
    assert sum("-23.0" in line for line in days) == 7 and "41.0" not in second
    assert second.count("simulated") == 2  # the days' title and the note
    # and the new daily one the old days: nothing simulated is left on screen
    hours, days = side_by_side(third.splitlines())
    assert sum("41.0" in line for line in days) == 7 and "-23.0" not in third and "snow" not in third
    assert "simulated" not in third


# -- station-sim ------------------------------------------------------------------------------

WU_PARAMETERS = {
    "ID", "PASSWORD", "dateutc", "action", "softwaretype", "tempf", "humidity", "dewptf",
    "windspeedmph", "windgustmph", "winddir", "baromin", "rainin", "dailyrainin",
    "solarradiation", "UV",
}  # fmt: skip
ECOWITT_PARAMETERS = {
    "PASSKEY", "stationtype", "dateutc", "tempf", "humidity", "baromrelin", "baromabsin",
    "winddir", "windspeedmph", "windgustmph", "rainratein", "hourlyrainin", "dailyrainin",
    "solarradiation", "uv", "model", "freq",
}  # fmt: skip
DATEUTC_ENCODED = re.compile(r"(?:^|&)dateutc=(\d{4}-\d\d-\d\d)\+(\d\d)%3A(\d\d)%3A(\d\d)(?:&|$)")


@contextlib.contextmanager
def upload_server(answers=()):
    """A loopback HTTP server of the test's own, standing in for a site's upload views: it
    answers the n-th request with answers[n] (status, text), then 200 "success", and keeps
    each request as (method, path, raw query or body, content type)."""
    seen = SimpleNamespace(requests=[], answers=list(answers))

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self, raw: str) -> None:
            path, _, query = self.path.partition("?")
            body = raw or query
            seen.requests.append((self.command, path, body, self.headers.get("Content-Type", "")))
            status, text = seen.answers.pop(0) if seen.answers else (200, "success")
            data = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.answer("")

        def do_POST(self) -> None:
            self.answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    seen.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def form(raw: str) -> dict[str, str]:
    """A query or form body with one value per name, as the upload views read it."""
    pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    assert len(pairs) == len(dict(pairs)), raw
    return dict(pairs)


def sent_at(raw: str) -> datetime:
    """``dateutc`` as a device writes it in a URL or a form: ``YYYY-MM-DD+HH%3AMM%3ASS``."""
    found = DATEUTC_ENCODED.search(raw)
    assert found, raw
    day, hh, mm, ss = found.groups()
    return datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss}+00:00")


def celsius(fahrenheit: str) -> float:
    return (float(fahrenheit) - 32.0) * 5.0 / 9.0


def assert_plausible_us_units(p: dict[str, str], rain_hour: str, pressure: str) -> None:
    """Values that only fit the protocols' units: °F (the dew point agrees with the
    temperature and humidity only in °F), inHg, mph, inches, a whole UV index."""
    dew = cli.fahrenheit(cli.dew_point(celsius(p["tempf"]), float(p["humidity"])))
    assert abs(dew - float(p["dewptf"] if "dewptf" in p else dew)) < 0.6, p
    assert re.fullmatch(r"-?\d+\.\d", p["tempf"]) and -40 < float(p["tempf"]) < 120, p
    assert re.fullmatch(r"\d+", p["humidity"]) and 12 <= int(p["humidity"]) <= 100, p
    assert 27.5 < float(p[pressure]) < 31.5, p  # inHg (hPa would be ~1000)
    assert float(p["windgustmph"]) >= float(p["windspeedmph"]) >= 0, p
    assert re.fullmatch(r"\d+", p["winddir"]) and 0 <= int(p["winddir"]) < 360, p
    assert 0 <= float(p[rain_hour]) < 4 and float(p["dailyrainin"]) >= 0, p
    assert 0 <= float(p["solarradiation"]) < 1100, p
    assert re.fullmatch(r"\d+", p.get("UV", p.get("uv", ""))), p


def test_station_sim_uploads_what_a_wunderground_device_sends():
    with upload_server() as site:
        done = run("station-sim", "--url", site.url, "--id", "st-0123456789ab", "--key", "K3y",
                   "--every", "0.3", "--count", "2", "--seed", "7")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(site.requests) == 2
    for method, path, raw, _ in site.requests:
        assert (method, path) == ("GET", "/weatherstation/updateweatherstation.php")
        p = form(raw)
        assert set(p) == WU_PARAMETERS
        assert (p["ID"], p["PASSWORD"], p["action"]) == ("st-0123456789ab", "K3y", "updateraw")
        assert p["softwaretype"].startswith("weatherstream-station-sim/")
        assert abs((sent_at(raw) - datetime.now(UTC)).total_seconds()) < 60
        assert_plausible_us_units(p, "rainin", "baromin")
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(line.endswith("  200 success") for line in lines), done.stdout
    assert f"{form(site.requests[0][2])['tempf']} °F" in lines[0]
    assert "simulated" in done.stderr and "K3y" not in done.stdout + done.stderr


def test_station_sim_uploads_what_an_ecowitt_gateway_sends():
    with upload_server([(200, "OK")]) as site:
        done = run("station-sim", "--url", site.url, "--format", "ecowitt", "--passkey", "A1B2C3",
                   "--elevation", "500", "--count", "1")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [(method, path, raw, content_type)] = site.requests
    assert (method, path) == ("POST", "/data/report/")
    assert content_type == "application/x-www-form-urlencoded"
    p = form(raw)
    assert set(p) == ECOWITT_PARAMETERS
    assert p["PASSKEY"] == "A1B2C3" and p["stationtype"].startswith("weatherstream-station-sim_V")
    assert abs((sent_at(raw) - datetime.now(UTC)).total_seconds()) < 60
    assert_plausible_us_units(p, "hourlyrainin", "baromrelin")
    assert 0.93 < float(p["baromabsin"]) / float(p["baromrelin"]) < 0.95  # 500 m up: ~6% less
    assert done.stdout.endswith("  200 OK\n"), done.stdout


def test_station_sim_converts_to_the_protocols_units_exactly():
    m = cli.Measurement(
        at=datetime(2026, 10, 3, 10, 30, 16, tzinfo=UTC).timestamp(),
        temperature=20.0, humidity=55.4, dew_point=-10.0, wind_speed=16.09344,
        wind_gusts=12.0, wind_direction=359.6, pressure=1013.25, station_pressure=955.0,
        rain_rate=12.7, rain_hour=2.54, rain_day=25.4, solar=512.345, uv=4,
    )  # fmt: skip
    measured = {
        "tempf": "68.0", "humidity": "55", "windspeedmph": "10.0",
        "windgustmph": "10.0",  # the gust (7.5 mph) is never sent below the speed
        "winddir": "0", "dailyrainin": "1.00",
    }  # fmt: skip
    assert cli.wunderground_params("st-1", "k", m) == {
        "ID": "st-1", "PASSWORD": "k", "dateutc": "2026-10-03 10:30:16", "action": "updateraw",
        "softwaretype": f"weatherstream-station-sim/{cli.version()}", **measured,
        "dewptf": "14.0", "baromin": "29.92", "rainin": "0.10", "solarradiation": "512.3", "UV": "4",
    }  # fmt: skip
    assert cli.ecowitt_params("P", m) == {
        "PASSKEY": "P", "stationtype": f"weatherstream-station-sim_V{cli.version()}",
        "dateutc": "2026-10-03 10:30:16", **measured, "dailyrainin": "1.000",
        "baromrelin": "29.921", "baromabsin": "28.201", "rainratein": "0.500", "hourlyrainin": "0.100",
        "solarradiation": "512.35", "uv": "4", "model": "weatherstream-station-sim", "freq": "868M",
    }  # fmt: skip


def test_station_sim_walks_smoothly_and_follows_the_sun_and_the_rain():
    start = datetime(2026, 6, 20, 0, 0, tzinfo=UTC).timestamp()  # Berlin, midsummer
    station = cli.SimulatedStation(52.52, 13.40, elevation=34, rng=random.Random(3), start=start)
    steps = [station.step(start + 16 * i) for i in range(2 * 5400)]  # two days, every 16 s
    for a, b in zip(steps, steps[1:]):
        assert abs(b.temperature - a.temperature) < 0.5 and abs(b.pressure - a.pressure) < 0.5
        assert b.wind_gusts >= b.wind_speed >= 0 and 12 <= b.humidity <= 100
        assert b.rain_day >= a.rain_day or station.local_day(b.at) != station.local_day(a.at)
    noon = [m for m in steps if 11 <= (m.at % 86400) / 3600 + 13.40 / 15 <= 13]
    night = [m for m in steps if cli.solar_elevation(52.52, 13.40, m.at) < 0]
    assert min(m.solar for m in noon) > 150 and max(m.uv for m in noon) >= 5
    assert night and all(m.solar == 0 and m.uv == 0 for m in night)
    assert max(m.temperature for m in noon) > max(m.temperature for m in night)
    wet = [m for m in steps if m.rain_rate > 0]
    assert wet and max(m.rain_hour for m in steps) > 0.5  # showers fell (seed 3)
    # each midnight (local solar time) the day's rain starts again from nothing
    midnight = next(
        i for i in range(1, len(steps)) if station.local_day(steps[i].at) > station.local_day(steps[i - 1].at)
    )
    assert steps[midnight].rain_day < 0.1 and steps[midnight - 1].rain_day > 0


def test_station_sim_reports_refusals_and_goes_on_to_the_next_upload():
    answers = [
        (429, "Too soon: one upload every 10 seconds at most."),
        (401, "INVALIDPASSWORDID|Password or key and/or id are incorrect"),
        (500, "The server failed to take the upload."),
    ]
    with upload_server(answers) as site:
        done = run(
            "station-sim", "--url", site.url, "--id", "st-1", "--key", "k", "--every", "0.2", "--count", "4"
        )
    assert done.returncode == cli.EXIT_UPLOAD_FAILED == 1, done.stdout + done.stderr
    assert len(site.requests) == 4
    lines = done.stdout.splitlines()
    assert [line.split("  ")[-1] for line in lines] == [
        "429 Too soon: one upload every 10 seconds at most.",
        "401 INVALIDPASSWORDID|Password or key and/or id are incorrect",
        "500 The server failed to take the upload.",
        "200 success",
    ]
    assert "Traceback" not in done.stderr


def test_station_sim_reports_a_refused_connection_and_goes_on():
    started = time.monotonic()
    done = run("station-sim", "--url", f"http://127.0.0.1:{free_port()}", "--id", "st-1", "--key", "k",
               "--every", "0.3", "--count", "3")  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and all("failed: cannot connect" in line for line in lines), done.stdout
    assert "Connection refused" in lines[0]
    assert time.monotonic() - started >= 0.6  # the ticks kept their spacing


def test_station_sim_stops_quietly_on_ctrl_c():
    with upload_server() as site:
        sim = subprocess.Popen(
            [WATCH, "station-sim", "--url", site.url, "--id", "st-1", "--key", "k", "--every", "0.2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=user_env(),
        )  # fmt: skip
        try:
            assert sim.stdout.readline().endswith("200 success\n")
            assert sim.stdout.readline().endswith("200 success\n")
            sim.send_signal(signal.SIGINT)
            out, err = sim.communicate(timeout=10)
        finally:
            sim.kill()
    assert sim.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


@pytest.mark.parametrize(
    "args",
    [
        ["--id", "st-1"],  # no key
        ["--format", "ecowitt"],  # no passkey
        ["--format", "ecowitt", "--passkey", "P", "--key", "k"],
        ["--id", "st-1", "--key", "k", "--url", "ws://127.0.0.1:8000/"],
        ["--id", "st-1", "--key", "k", "--every", "0"],
    ],
)
def test_station_sim_usage_errors(args):
    done = run("station-sim", *args)
    assert done.returncode == 2 and "usage: weatherstream station-sim" in done.stderr, done.stderr


def register(server, *extra: str) -> dict[str, str]:
    """A station registered in the running server's database, as its operator would."""
    done = subprocess.run(
        [sys.executable, "manage.py", "weatherstream_station", "add", "Sim",
         "--lat", "52.52", "--lon", "13.40", "--json", *extra],
        cwd=EXAMPLE, env=server.env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_station_sim_against_the_product(server):
    wu, eco = register(server), register(server, "--passkey", "ABCDEF0123")
    site = f"http://127.0.0.1:{server.port}"
    with connect_ws(ws_url(server), origin=Origin(f"http://127.0.0.1:{server.port}"), open_timeout=20) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ws.send(json.dumps({"type": "subscribe", "station": wu["id"], "id": 1}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        done = run("station-sim", "--url", site, "--id", wu["id"], "--key", wu["key"], "--count", "1")
        assert done.returncode == 0 and done.stdout.endswith("  200 success\n"), done.stdout + done.stderr
        deadline = time.monotonic() + 10
        while (frame := json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic()))))[
            "type"
        ] == "watchers":
            pass  # (a count of watchers may come first)
    assert frame["type"] == "weather" and frame["location"] == wu["id"]
    tempf, humidity = re.search(r"UTC  (-?[\d.]+) °F  (\d+)%", done.stdout).groups()
    assert abs(frame["weather"]["temperature"] - celsius(tempf)) < 0.01
    assert frame["weather"]["humidity"] == float(humidity)
    assert frame["weather"]["source"] == f"station:{wu['id']}"
    # the server's own refusals: too soon after the last upload, a wrong key
    again = run("station-sim", "--url", site, "--id", wu["id"], "--key", wu["key"], "--count", "1")
    assert again.returncode == 1 and again.stdout.endswith(
        "  429 Too soon: one upload every 10 seconds at most.\n"
    )
    wrong = run("station-sim", "--url", site, "--id", wu["id"], "--key", "wrong", "--count", "1")
    assert wrong.returncode == 1 and "  401 INVALIDPASSWORDID|" in wrong.stdout, wrong.stdout
    ecowitt = run(
        "station-sim", "--url", site, "--format", "ecowitt", "--passkey", "abcdef0123", "--count", "1"
    )
    assert ecowitt.returncode == 0 and ecowitt.stdout.endswith("  200 OK\n"), ecowitt.stdout + ecowitt.stderr
    assert eco["id"] != wu["id"]


async def test_a_reconnecting_watch_asks_for_what_it_missed_since_its_last_reading(fast_backoff):
    station = {**BERLIN, "id": "st-0123456789ab", "name": "Garden"}
    async with fake_server(
        {"Berlin": (BERLIN, REAL), "st-0123456789ab": (station, REAL)}, hangup=True
    ) as fake:
        watch = cli.Watch(fake.url, ["Berlin", "st-0123456789AB"], Recorder())
        task = asyncio.create_task(watch.run_live(attempts=0))
        try:
            await wait_for(lambda: len([m for m in fake.subscribes if m["id"] == 0]) >= 2, 10)
        finally:
            task.cancel()
    berlin = [m for m in fake.subscribes if m["id"] == 0]
    assert berlin[0] == {"type": "subscribe", "id": 0, "city": "Berlin"}, "nothing seen yet: no since"
    assert berlin[1] == {"type": "subscribe", "id": 0, "city": "Berlin", "since": REAL["observed_at"]}
    garden = [m for m in fake.subscribes if m["id"] == 1]
    assert garden and all(m["station"] == "st-0123456789AB" and "city" not in m for m in garden)

"""`weatherstream watch` (the package's console script): against the product's server and
against small WebSocket servers on loopback that misbehave on purpose, on a pty, on pipes,
and, for the reconnect rules, in process with a fast backoff."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.metadata
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from http import HTTPStatus
from pathlib import Path
from types import SimpleNamespace

import pytest
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response

from scripts.engines import free_port
from weatherstream import cli

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
        term.read_until(lambda s: "· live" in term.last_frame() and s.count(REDRAW) > redraws + 2, 45)
        assert "Berlin" in term.last_frame()
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
            if message["city"] in (answers or {}):
                location, weather = answers[message["city"]]
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

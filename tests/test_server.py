"""The product as a user runs it: a real ASGI server process, a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import websockets

from scripts.engines import free_port, wait_for_port
from scripts.makeflags import make_run_flags

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example"


def server_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example.settings",
        "WEATHERSTREAM_PROVIDER": "simulated",
        "WEATHERSTREAM_POLL_INTERVAL": "1",
        "WEATHERSTREAM_VAR_DIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(EXAMPLE), str(ROOT / "src")]),
    }


def start(cmd: list[str], tmp_path: Path, port: int) -> subprocess.Popen:
    env = server_env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=EXAMPLE,
        env=env,
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        cmd, cwd=EXAMPLE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for_port(port, proc)
    except Exception:
        proc.kill()
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def watch_two_cities(port: int, seconds: float) -> dict[str, list[dict]]:
    uri = f"ws://127.0.0.1:{port}/ws/weather/"
    async with websockets.connect(uri, origin=f"http://127.0.0.1:{port}", open_timeout=20) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["provider"] == "simulated"
        ids = {}
        for n, city in enumerate(["Berlin", "Tokyo"]):
            await ws.send(json.dumps({"type": "subscribe", "city": city, "id": n}))
        frames: dict[str, list[dict]] = {}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            except TimeoutError:
                break
            if frame["type"] == "subscribed":
                ids[frame["location"]["id"]] = frame["location"]["name"]
            elif frame["type"] == "weather":
                frame["received_at"] = time.time()
                frames.setdefault(ids[frame["location"]], []).append(frame)
        return frames


def test_uvicorn_pushes_each_city_about_every_second(tmp_path):
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "example.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *make_run_flags(),
    ]
    proc = start(cmd, tmp_path, port)
    try:
        frames = asyncio.run(watch_two_cities(port, 5.5))
        page = httpx.get(f"http://127.0.0.1:{port}/")
        script = httpx.get(f"http://127.0.0.1:{port}/static/weatherstream/js/client.js")
    finally:
        stop(proc)
    log = proc.stdout.read()
    assert "Traceback" not in log and "Warning" not in log, log
    assert page.status_code == 200 and "data-ws-path" in page.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert set(frames) == {"Berlin", "Tokyo"}
    for city, got in frames.items():
        assert 4 <= len(got) <= 7, (city, len(got))
        times = [f["received_at"] for f in got]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert max(gaps) < 1.6, (city, gaps)
        assert all(f["weather"]["source"] == "simulated" for f in got)
        latency = [f["received_at"] - f["published_at"] for f in got]
        assert max(latency) < 0.5


def test_runserver_serves_the_websocket_endpoint_too(tmp_path):
    port = free_port()
    cmd = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    proc = start(cmd, tmp_path, port)
    try:
        frames = asyncio.run(watch_two_cities(port, 3.5))
    finally:
        stop(proc)
    assert set(frames) == {"Berlin", "Tokyo"}
    assert all(len(got) >= 2 for got in frames.values())


def test_only_runserver_loads_daphnes_app(tmp_path):
    """daphne's app (Twisted, 25 MiB a process) is for `manage.py runserver` alone: the
    example's ASGI application, which uvicorn serves, runs without it."""
    probe = "import sys, django; django.setup(); import example.asgi; print('twisted' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=EXAMPLE, env=server_env(tmp_path), capture_output=True, text=True
    )
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def uvicorn(port: int, *extra: str) -> list[str]:
    app = ["-m", "uvicorn", "example.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    return [sys.executable, *app, *make_run_flags(), *extra]


async def send_and_wait_close(port: int, text: str) -> tuple[int, str] | None:
    uri = f"ws://127.0.0.1:{port}/ws/weather/"
    async with websockets.connect(uri, origin=f"http://127.0.0.1:{port}", max_size=None) as ws:
        await ws.recv()  # hello
        try:
            await ws.send(text)
            async with asyncio.timeout(20):
                while True:
                    await ws.recv()
        except websockets.ConnectionClosed as closed:
            return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else None


def test_oversized_frames_are_refused_without_growing_the_server(tmp_path):
    port = free_port()
    proc = start(uvicorn(port), tmp_path, port)
    try:
        assert asyncio.run(send_and_wait_close(port, "x" * 5000)) == (1009, "")  # MAX_MESSAGE_BYTES
        for _ in range(3):  # warm up what a connection allocates
            asyncio.run(send_and_wait_close(port, "x" * 5000))
        before = rss_kib(proc.pid)
        codes = [asyncio.run(send_and_wait_close(port, "x" * (2 * 1024 * 1024))) for _ in range(20)]
        grown = rss_kib(proc.pid) - before
    finally:
        stop(proc)
    # uvicorn's --ws-max-size refuses them from the frame header, before reading them
    assert all(code == 1009 and "exceeds limit" in reason for code, reason in codes), codes[0]
    assert grown < 8 * 1024, f"RSS grew {grown} KiB after 40 MiB of refused frames"


def test_a_dead_peer_is_reaped_by_the_ping_timeout(tmp_path):
    port = free_port()
    proc = start(uvicorn(port, "--ws-ping-interval", "1", "--ws-ping-timeout", "1"), tmp_path, port)
    try:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            b"GET /ws/weather/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1\r\n\r\n"
        )
        opened = time.monotonic()
        sock.settimeout(10)
        received = b""
        while b"101 Switching Protocols" not in received:
            received += sock.recv(4096)
        # From here on the peer is dead: it never answers the server's pings.
        time.sleep(2.5)
        while chunk := sock.recv(65536):  # what the server sent, up to its close
            received += chunk
        closed_after = time.monotonic() - opened
        sock.close()
    finally:
        stop(proc)
    assert b"\x89" in received, "the server pinged"
    assert closed_after < 5, f"the dead peer was still connected after {closed_after:.1f}s"


async def scrape_with_subscribers(port: int, seconds: float) -> str:
    """Two clients (Berlin and Tokyo; Berlin) read updates for ``seconds``, then /metrics
    is scraped while they are still connected."""
    uri = f"ws://127.0.0.1:{port}/ws/weather/"

    async def read(ws, until: float) -> None:
        while (left := until - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                return

    async with (
        websockets.connect(uri, origin=f"http://127.0.0.1:{port}") as one,
        websockets.connect(uri, origin=f"http://127.0.0.1:{port}") as two,
    ):
        for ws, city in ((one, "Berlin"), (one, "Tokyo"), (two, "Berlin")):
            await ws.send(json.dumps({"type": "subscribe", "city": city}))
        until = time.monotonic() + seconds
        await asyncio.gather(read(one, until), read(two, until))
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{port}/metrics")).text


def samples(text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "le")
            out[s.name + (f"{{{labels}}}" if labels else "")] = s.value
    return out


def test_metrics_and_health_scraped_during_a_run_with_subscribers(tmp_path):
    port = free_port()
    proc = start(uvicorn(port), tmp_path, port)
    try:
        during = samples(asyncio.run(scrape_with_subscribers(port, 3.5)))
        time.sleep(0.5)
        after = samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
        healthz = httpx.get(f"http://127.0.0.1:{port}/healthz")
        readyz = httpx.get(f"http://127.0.0.1:{port}/readyz")
    finally:
        stop(proc)
    assert during["weatherstream_connections"] == 2
    assert during["weatherstream_subscriptions"] == 3
    assert during["weatherstream_frames_sent_total"] >= 6  # ~3 s of Berlin x2 and Tokyo
    assert during["weatherstream_fanout_seconds_count"] >= 4
    assert during["weatherstream_upstream_requests_total{outcome=ok,provider=simulated}"] >= 3
    assert during["weatherstream_upstream_requests_total{outcome=error,provider=simulated}"] == 0
    assert during["weatherstream_upstream_request_seconds_count{provider=simulated}"] >= 3
    assert during["weatherstream_upstream_calls_total{provider=simulated}"] >= 3
    assert during["weatherstream_effective_interval_seconds"] == 1.0
    assert during["weatherstream_watched_locations"] == 2
    assert during["weatherstream_circuit_open{provider=simulated}"] == 0
    assert 0 <= during["weatherstream_poller_lag_seconds"] < 1
    assert after["weatherstream_connections"] == 0 and after["weatherstream_subscriptions"] == 0
    assert healthz.status_code == 200 and healthz.json() == {"status": "ok"}
    assert readyz.status_code == 200
    assert readyz.json()["checks"] == {"database": "ok", "channel_layer": "ok", "poller": "ok"}


class Server:
    """A server process that can be stopped and started again on the same port."""

    def __init__(self, folder: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = {**server_env(folder), **env}
        self.proc: subprocess.Popen | None = None
        self.log = ""  # what the stopped processes printed
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], cwd=EXAMPLE, env=self.env, check=True
        )

    def start(self) -> None:
        cmd = [sys.executable, "-m", "uvicorn", "example.asgi:application", "--host", "127.0.0.1"]
        self.proc = subprocess.Popen(
            [*cmd, "--port", str(self.port), *make_run_flags()],
            cwd=EXAMPLE,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_for_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.log += self.proc.stdout.read() if self.proc.stdout else ""
            self.proc = None

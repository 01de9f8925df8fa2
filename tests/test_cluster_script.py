"""`make cluster` (scripts/cluster.py) as users run it: a supervisor of redis-server,
PostgreSQL, two servers and two pollers. Killing the polling poller shows a failover
(the script restarts it; clients keep their connection and their updates), a process
that keeps exiting stops everything, and Ctrl-C or SIGTERM leave no process behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
import websockets

from scripts.engines import free_port
from scripts.makeflags import make_run_flags
from weatherstream.election import LEASE_KEY

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "cluster.py"
LEASE = 1.5  # WEATHERSTREAM_LEADER_LEASE: a dead leader's lease is taken over within 2 * LEASE
START = 120.0  # seconds for the whole cluster to come up (initdb, migrate, four Django processes)
STOPPED = 40.0  # seconds for the script to stop everything (its own deadlines: 10 + 20 + 10 s)

T = TypeVar("T")


def two_free_ports() -> int:
    """A free loopback port whose successor is free too (PORT and PORT+1)."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


def stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def alive(pid: int, started: int) -> bool:
    """Whether that very process (not a later one with its pid) still runs."""
    now = stat(pid)
    return now is not None and now[2] == started and now[0] != "Z"


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class ClusterScript:
    """`python scripts/cluster.py` with the environment `make cluster` gives it, in a
    process group of its own, as a terminal's foreground job is (Ctrl-C: SIGINT to it)."""

    def __init__(self, folder: Path, ports: dict[str, int] | None = None) -> None:
        self.folder = folder
        if ports is None:
            ports = {"PORT": two_free_ports(), "REDIS_PORT": free_port(), "PG_PORT": free_port()}
        self.ports = ports
        self.port = ports["PORT"]
        self.out = folder / f"cluster-{len(list(folder.glob('cluster-*.out')))}.out"
        self.seen: dict[int, tuple[int, str]] = {}  # every descendant seen: pid -> (start time, name)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WEATHERSTREAM_", "DJANGO_"))}
        env.pop("REDIS_URL", None)
        env.pop("DATABASE_URL", None)
        env.update(
            HOST="127.0.0.1",
            UVICORN_FLAGS=shlex.join(make_run_flags()),
            CLUSTER_DIR=str(folder / "cluster"),
            WEATHERSTREAM_PROVIDER="simulated",
            WEATHERSTREAM_POLL_INTERVAL="1",
            WEATHERSTREAM_LEADER_LEASE=str(LEASE),
            **{name: str(port) for name, port in self.ports.items()},
        )
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(SCRIPT)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,
            )

    @property
    def server_ports(self) -> list[int]:
        return [self.port, self.port + 1]

    @property
    def all_ports(self) -> list[int]:
        return [*self.server_ports, self.ports["REDIS_PORT"], self.ports["PG_PORT"]]

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def tail(self) -> str:
        return "--- cluster.py's output, last lines ---\n" + "\n".join(self.output().splitlines()[-40:])

    def children(self) -> dict[int, str]:
        """The script's descendants now (pid -> name), also remembered in ``seen``."""
        table: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (info := stat(int(entry))) is not None:
                table.setdefault(info[1], []).append(int(entry))
        found: dict[int, str] = {}
        todo = list(table.get(self.proc.pid, []))
        while todo:
            pid = todo.pop()
            info = stat(pid)
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if info is not None:
                found[pid] = name
                self.seen.setdefault(pid, (info[2], name))
                todo += table.get(pid, [])
        return found

    def direct_children(self) -> set[int]:
        return {pid for pid in self.children() if (info := stat(pid)) and info[1] == self.proc.pid}

    def survivors(self) -> dict[int, str]:
        return {pid: name for pid, (started, name) in self.seen.items() if alive(pid, started)}

    async def until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        """Poll ``check`` until it returns something truthy, for at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not (value := check()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:g} s\n{self.tail()}")
            self.children()
            await asyncio.sleep(0.1)
        return value

    async def serving(self) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"cluster.py exited with {self.proc.returncode}\n{self.tail()}")
            return all(answers(port) for port in self.server_ports)

        await self.until(up, START, "both servers answer")
        async with httpx.AsyncClient() as http:
            for port in self.server_ports:
                assert (await http.get(f"http://127.0.0.1:{port}/", timeout=10)).status_code == 200
        self.children()

    def server_pid(self, port: int) -> int:
        """The pid of the server process on ``port``, from its command line."""
        for pid in self.direct_children():
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"uvicorn" in args and args[args.index(b"--port") + 1] == str(port).encode():
                return pid
        raise AssertionError(f"no server on port {port} among {self.children()}")

    async def exited(self, timeout: float = STOPPED) -> int:
        await self.until(lambda: self.proc.poll() is not None, timeout, "cluster.py exits")
        assert self.proc.returncode is not None
        return self.proc.returncode

    async def assert_nothing_left(self) -> None:
        """Every process the script started has gone, and their ports are closed."""
        names = {name for _, name in self.seen.values()}
        assert {"redis-server", "postgres"} <= names, names  # it saw the engines it started
        try:
            await self.until(lambda: not self.survivors(), 5, "its processes are gone")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nstill running: {self.survivors()}") from None
        assert not [port for port in self.all_ports if answers(port)], self.tail()

    def lease_holder(self) -> int | None:
        """The pid of the poller holding the lease (holders are host:pid:nonce)."""
        client = redis.Redis(port=self.ports["REDIS_PORT"], socket_timeout=2)
        try:
            holder = client.get(LEASE_KEY)
        except redis.RedisError:
            return None
        finally:
            client.close()
        return int(holder.decode().split(":")[1]) if holder else None

    def cleanup(self) -> None:
        """After a failure: nothing of ours may outlive the test."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOPPED)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for pid in self.survivors():
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def folder() -> Iterator[Path]:
    # Not tmp_path: as root, PostgreSQL runs as the postgres user, who must reach its folder.
    path = Path(tempfile.mkdtemp(prefix="weatherstream-cluster-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Watcher:
    """A WebSocket client subscribed to one city, keeping every frame it receives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.frames: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    async def start(self, city: str) -> None:
        uri = f"ws://127.0.0.1:{self.port}/ws/weather/"
        ws = await websockets.connect(uri, origin=f"http://127.0.0.1:{self.port}", open_timeout=20)
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
        await ws.send(json.dumps({"type": "subscribe", "city": city, "id": 1}))
        self.task = asyncio.create_task(self._receive(ws))

    async def _receive(self, ws: Any) -> None:
        async with ws:
            async for message in ws:
                self.frames.append(json.loads(message))

    def connected(self) -> bool:
        return self.task is not None and not self.task.done()

    def weather_after(self, moment: float) -> list[dict[str, Any]]:
        """Weather frames published after ``moment`` (time.time())."""
        return [f for f in self.frames if f["type"] == "weather" and f["published_at"] > moment]

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def test_killing_the_polling_poller_fails_over_and_ctrl_c_stops_everything(folder):
    cluster = ClusterScript(folder)
    watcher = Watcher(cluster.port)
    try:
        await cluster.serving()
        assert len(cluster.direct_children()) == 6, cluster.children()  # 2 engines, 2 servers, 2 pollers
        await watcher.start("Berlin")
        await cluster.until(lambda: watcher.weather_after(0), 20, "a first weather frame")

        leader = await cluster.until(cluster.lease_holder, 10, "a poller holds the lease")
        assert leader in cluster.direct_children(), (leader, cluster.children())
        killed_at = time.time()
        os.kill(leader, signal.SIGKILL)

        # The standby takes the lease, and the client's updates go on without a
        # reconnection: a frame published after the kill within three leases of it.
        first = await cluster.until(
            lambda: watcher.weather_after(killed_at), killed_at + 3 * LEASE - time.time(), "an update"
        )
        assert watcher.connected()
        holder = await cluster.until(cluster.lease_holder, 5, "a lease holder")
        assert holder != leader and holder in cluster.direct_children()

        # The script reports the kill, and restarts the poller as a new process.
        report = (
            rf"weatherstream cluster: poller (\d) \(pid {leader}\) exited with -9 \(SIGKILL\); restarting"
        )
        number = (await cluster.until(lambda: re.search(report, cluster.output()), 10, "the report"))[1]
        restarted = rf"poller {number} restarted \(pid (\d+)\)"
        new = int((await cluster.until(lambda: re.search(restarted, cluster.output()), 10, "a restart"))[1])
        assert new != leader and new in cluster.direct_children(), (new, cluster.children())

        await cluster.until(lambda: len(watcher.weather_after(killed_at)) >= 3, 10, "more updates")
        assert watcher.connected()
        assert {f["location"] for f in watcher.weather_after(killed_at)} == {first[0]["location"]}
        async with httpx.AsyncClient() as http:
            for port in cluster.server_ports:
                assert (await http.get(f"http://127.0.0.1:{port}/", timeout=10)).status_code == 200
        assert cluster.proc.poll() is None

        # Ctrl-C: the terminal sends SIGINT to the foreground process group.
        cluster.children()
        os.killpg(cluster.proc.pid, signal.SIGINT)
        assert await cluster.exited() == 0, cluster.tail()
        assert "SIGINT received; stopping everything" in cluster.output()
        await cluster.assert_nothing_left()
    finally:
        await watcher.close()
        cluster.cleanup()


async def test_a_process_that_keeps_exiting_stops_everything(folder):
    cluster = ClusterScript(folder)
    try:
        await cluster.serving()
        name = f"server :{cluster.port + 1}"
        pid = cluster.server_pid(cluster.port + 1)
        for n in range(1, 6):
            cluster.children()
            os.kill(pid, signal.SIGKILL)
            if n < 5:
                line = rf"{name} \(pid {pid}\) exited with -9 \(SIGKILL\); restarting in [\d.]+ s\n.*?"
                found = await cluster.until(
                    lambda line=line: re.search(
                        rf"{line}{name} restarted \(pid (\d+)\)", cluster.output(), re.S
                    ),
                    15,
                    f"restart {n}",
                )
                pid = int(found[1])
        assert await cluster.exited() == 1, cluster.tail()
        assert re.search(
            rf"{name} \(pid {pid}\) exited with -9 \(SIGKILL\): 5 exits within 30 s", cluster.output()
        )
        await cluster.assert_nothing_left()
    finally:
        cluster.cleanup()


async def test_sigterm_stops_it_and_a_second_cluster_leaves_the_first_alone(folder):
    first = ClusterScript(folder)
    try:
        await first.serving()
        lease = await first.until(first.lease_holder, 10, "a poller holds the lease")
        # Another `make cluster` on the same ports starts nothing and stops nothing.
        second = ClusterScript(folder, ports=first.ports)
        try:
            assert await second.exited(30) == 1
            assert f"something already listens on port {first.ports['REDIS_PORT']}" in second.output()
            assert not second.seen
        finally:
            second.cleanup()
        assert first.lease_holder() == lease and first.proc.poll() is None
        assert all(answers(port) for port in first.all_ports)

        first.children()
        first.proc.send_signal(signal.SIGTERM)  # the script alone, as `make` forwards SIGTERM
        assert await first.exited() == 0, first.tail()
        assert "SIGTERM received; stopping everything" in first.output()
        await first.assert_nothing_left()
    finally:
        first.cleanup()

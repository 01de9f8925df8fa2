"""`make cluster`: the scaled-out topology on one machine, supervised until Ctrl-C.

redis-server and PostgreSQL on loopback (data under var/cluster/, or CLUSTER_DIR), two
server processes (PORT and PORT+1) with WEATHERSTREAM_POLLER=off, and two pollers of
which the one holding the Redis lease polls. Everything else comes from the environment,
as for `make run` (WEATHERSTREAM_PROVIDER, WEATHERSTREAM_POLL_INTERVAL, ...).

Supervision: a process that exits is reported on one line and started again after
RESTART_DELAYS (0.5 s, then 1, 2, 4 s while it keeps exiting); the fifth exit of one
process within 30 s stops everything with a message saying which. So SIGKILL of the
polling poller shows a failover: the other poller takes the lease meanwhile and the
restarted one stands by.

Stopping: SIGINT (Ctrl-C), SIGTERM or SIGHUP stops what this script started, and only
that: servers and pollers (SIGTERM, SIGKILL after GRACE), then PostgreSQL and
redis-server. Every child runs in a process group of its own (a terminal's Ctrl-C reaches
this script alone, which stops them in that order) and is sent SIGTERM by the kernel
should this script die without stopping them (SIGKILL), so none is left behind.

Ports in use: if anything already listens on 127.0.0.1 at PORT, PORT+1, REDIS_PORT (6380)
or PG_PORT (5433), the script starts nothing and says which port: it never uses, nor
stops, a Redis or PostgreSQL it did not start. A PostgreSQL of another `make cluster`
running on the same CLUSTER_DIR keeps it (PostgreSQL's own lock); ours does not start.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines import Postgres, Redis, install

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example"

RESTART_DELAYS = (0.5, 1.0, 2.0, 4.0)  # after a process's 1st, 2nd, ... exit within CRASH_WINDOW
CRASH_LIMIT = 5  # this many exits of one process within CRASH_WINDOW seconds: stop everything
CRASH_WINDOW = 30.0
GRACE = 10.0  # seconds a server or poller has to stop after SIGTERM, before SIGKILL
START_TIMEOUT = 60.0  # seconds for both servers to answer
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def say(message: str) -> None:
    print(f"weatherstream cluster: {message}", file=sys.stderr, flush=True)


class Stop(BaseException):
    """Stop everything: a signal (exit status 0), or a failure (1)."""

    def __init__(self, reason: str, status: int = 1) -> None:
        super().__init__(reason)
        self.status = status


def _on_signal(signum: int, frame: object) -> None:
    _ignore_signals()
    raise Stop(f"{signal.Signals(signum).name} received", status=0)


def _ignore_signals() -> None:
    def again(signum: int, frame: object) -> None:
        say(f"{signal.Signals(signum).name}: already stopping")

    for sig in STOP_SIGNALS:
        signal.signal(sig, again)  # not SIG_IGN, which children would inherit


_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1


def child_options(death_signal: signal.Signals) -> dict[str, Any]:
    """subprocess.Popen arguments: a process group of its own, and ``death_signal``
    from the kernel if this script dies first (Linux)."""
    parent = os.getpid()

    def die_with_parent() -> None:
        if _libc is not None:
            _libc.prctl(PR_SET_PDEATHSIG, int(death_signal))
            if os.getppid() != parent:  # it died before prctl
                os.kill(os.getpid(), death_signal)

    return {"process_group": 0, "stdin": subprocess.DEVNULL, "preexec_fn": die_with_parent}


def exit_status(proc: subprocess.Popen[bytes]) -> int | None:
    """``proc``'s exit status once it has exited, else None. Before reaping it, SIGKILL
    to what is left of its process group (uvicorn's workers, say): while unreaped, its
    pid, the group's id, cannot belong to anyone else."""
    if proc.returncode is not None:
        return proc.returncode
    try:
        exited = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return proc.poll()
    if exited is None:
        return None
    kill_group(proc.pid)
    return proc.wait()


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def describe(status: int) -> str:
    try:
        return f"{status} ({signal.Signals(-status).name})" if status < 0 else str(status)
    except ValueError:
        return str(status)


@dataclass
class Child:
    """One supervised process: ``start`` starts it (and, for an engine, waits until it
    listens)."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    proc: subprocess.Popen[bytes] | None = None
    exits: list[float] = field(default_factory=list)  # when, within CRASH_WINDOW
    restart_at: float = 0.0

    def launch(self) -> None:
        self.proc = self.start()

    def supervise(self, now: float) -> None:
        """Restart the process once it has exited and its delay is over."""
        if self.proc is not None:
            status = exit_status(self.proc)
            if status is not None:
                pid, self.proc = self.proc.pid, None
                self._exited(now, f"(pid {pid}) exited with {describe(status)}")
        elif now >= self.restart_at:
            try:
                self.launch()
            except Exception as exc:  # an engine that does not come back up
                self._exited(now, f"did not restart ({exc})")
            else:
                assert self.proc is not None
                say(f"{self.name} restarted (pid {self.proc.pid})")

    def _exited(self, now: float, what: str) -> None:
        self.exits = [t for t in self.exits if now - t < CRASH_WINDOW] + [now]
        if len(self.exits) >= CRASH_LIMIT:
            raise Stop(
                f"{self.name} {what}: {len(self.exits)} exits within {CRASH_WINDOW:g} s, "
                "giving up (its output above should say why)"
            )
        delay = RESTART_DELAYS[min(len(self.exits), len(RESTART_DELAYS)) - 1]
        say(f"{self.name} {what}; restarting in {delay:g} s")
        self.restart_at = now + delay


def listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def main() -> int:
    install()
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    flags = shlex.split(os.environ.get("UVICORN_FLAGS", ""))
    folder = Path(os.environ.get("CLUSTER_DIR", ROOT / "var" / "cluster")).resolve()
    redis_port = int(os.environ.get("REDIS_PORT", "6380"))
    pg_port = int(os.environ.get("PG_PORT", "5433"))
    probe = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    ports = {"REDIS_PORT": redis_port, "PG_PORT": pg_port, "PORT": port, "PORT+1": port + 1}
    for name, number in ports.items():
        if listening("127.0.0.1", number) or (name.startswith("PORT") and listening(probe, number)):
            say(
                f"something already listens on port {number} ({name}); this script starts its own "
                "redis-server, PostgreSQL and servers, and never uses or stops others: stop it, "
                "or choose other ports (PORT, REDIS_PORT, PG_PORT)"
            )
            return 1

    redis = Redis(folder / "redis", port=redis_port, popen=child_options(signal.SIGTERM))
    pg = Postgres(folder / "postgres", port=pg_port, popen=child_options(signal.SIGINT))
    engines = [
        Child("redis-server", lambda: _started(redis.start().proc)),
        Child("postgres", lambda: _started(pg.start().proc)),
    ]
    apps: list[Child] = []
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_signal)
    try:
        for engine in engines:
            try:
                engine.launch()
            except Exception as exc:
                log = f" (its log: {pg.folder / 'server.log'})" if engine.name == "postgres" else ""
                raise Stop(f"{engine.name} did not start: {exc}{log}") from exc
        apps = start_apps(redis, pg, folder, host, port, flags)
        wait_until_serving([*engines, *apps], probe, [port, port + 1])
        print(
            f"weatherstream cluster: http://{host}:{port}/ and http://{host}:{port + 1}/\n"
            f"  REDIS_URL={redis.url} DATABASE_URL={pg.url()}\n"
            f"  pids: {', '.join(f'{c.name} {c.proc.pid}' for c in [*engines, *apps] if c.proc)}\n"
            "  two pollers (one polls, the other stands by). A process that exits is restarted\n"
            "  (kill -9 the polling one: the other takes over). Ctrl-C stops everything.",
            flush=True,
        )
        while True:
            now = time.monotonic()
            for child in [*engines, *apps]:
                child.supervise(now)
            time.sleep(0.2)
    except Stop as stop:
        _ignore_signals()
        say(f"{stop}; stopping everything")
        status = stop.status
    finally:
        _ignore_signals()
        stop_apps(apps)
        pg.stop()
        redis.stop()
    say("stopped")
    return status


def _started(proc: subprocess.Popen[bytes] | None) -> subprocess.Popen[bytes]:
    assert proc is not None
    return proc


def start_apps(
    redis: Redis, pg: Postgres, folder: Path, host: str, port: int, flags: list[str]
) -> list[Child]:
    env = {
        **os.environ,
        "REDIS_URL": redis.url,
        "DATABASE_URL": pg.url(),
        "WEATHERSTREAM_POLLER": "off",
        "WEATHERSTREAM_VAR_DIR": str(folder),
    }
    options = child_options(signal.SIGTERM)
    manage = [sys.executable, "manage.py"]
    try:
        subprocess.run([*manage, "migrate", "--noinput"], cwd=EXAMPLE, env=env, check=True, **options)
    except subprocess.CalledProcessError as exc:
        raise Stop(f"manage.py migrate exited with {describe(exc.returncode)}") from exc

    def spawn(cmd: list[str]) -> Callable[[], subprocess.Popen[bytes]]:
        return lambda: subprocess.Popen(cmd, cwd=EXAMPLE, env=env, **options)

    uvicorn = [sys.executable, "-m", "uvicorn", "example.asgi:application", "--host", host]
    apps = [Child(f"poller {n}", spawn([*manage, "weatherstream_poll"])) for n in (1, 2)]
    apps += [Child(f"server :{p}", spawn([*uvicorn, "--port", str(p), *flags])) for p in (port, port + 1)]
    for app in apps:
        app.launch()
    return apps


def wait_until_serving(children: list[Child], host: str, ports: list[int]) -> None:
    """Until every port answers; an exit meanwhile is a start-up failure (bad flags, say):
    restarting would not help."""
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(ports)
    while waiting:
        for child in children:
            if child.proc is not None and (status := exit_status(child.proc)) is not None:
                raise Stop(
                    f"{child.name} (pid {child.proc.pid}) exited with {describe(status)} while starting"
                )
        waiting = [p for p in waiting if not listening(host, p)]
        if waiting and time.monotonic() > deadline:
            raise Stop(f"nothing answers on port {waiting[0]} after {START_TIMEOUT:g} s")
        time.sleep(0.1)


def stop_apps(apps: list[Child]) -> None:
    """SIGTERM to every server and poller, SIGKILL to their process groups after GRACE."""
    running = [app.proc for app in apps if app.proc is not None and exit_status(app.proc) is None]
    for proc in running:
        proc.terminate()
    deadline = time.monotonic() + GRACE
    while running and time.monotonic() < deadline:
        time.sleep(0.05)
        running = [proc for proc in running if exit_status(proc) is None]
    for proc in running:
        say(f"pid {proc.pid} still runs {GRACE:g} s after SIGTERM: SIGKILL")
        kill_group(proc.pid)
        proc.wait()


if __name__ == "__main__":
    sys.exit(main())

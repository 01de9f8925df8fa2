"""`make cluster`: the scaled-out topology on one machine, until Ctrl-C.

redis-server and PostgreSQL on loopback (data under var/cluster/), two server
processes (PORT and PORT+1) with WEATHERSTREAM_POLLER=off, and two pollers of which
the one holding the Redis lease polls. Everything else comes from the environment,
as for `make run` (WEATHERSTREAM_PROVIDER, WEATHERSTREAM_POLL_INTERVAL, ...).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engines import Postgres, Redis, install, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example"


def main() -> None:
    install()
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    flags = shlex.split(os.environ.get("UVICORN_FLAGS", ""))
    folder = Path(os.environ.get("CLUSTER_DIR", ROOT / "var" / "cluster")).resolve()
    redis = Redis(folder / "redis", port=int(os.environ.get("REDIS_PORT", "6380")))
    pg = Postgres(folder / "postgres", port=int(os.environ.get("PG_PORT", "5433")))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        redis.start()
        pg.start()
        run_cluster(redis, pg, folder, host, port, flags, procs)
    finally:
        for proc in procs:
            proc.terminate()
        deadline = time.monotonic() + 10
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        pg.stop()
        redis.stop()


def run_cluster(
    redis: Redis, pg: Postgres, folder: Path, host: str, port: int, flags: list[str], procs: list[Any]
) -> None:
    env = {
        **os.environ,
        "REDIS_URL": redis.url,
        "DATABASE_URL": pg.url(),
        "WEATHERSTREAM_POLLER": "off",
        "WEATHERSTREAM_VAR_DIR": str(folder),
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=EXAMPLE, env=env, check=True)
    for _ in range(2):
        procs.append(subprocess.Popen([*manage, "weatherstream_poll"], cwd=EXAMPLE, env=env))
    for n in range(2):
        cmd = [sys.executable, "-m", "uvicorn", "example.asgi:application", "--host", host]
        procs.append(subprocess.Popen([*cmd, "--port", str(port + n), *flags], cwd=EXAMPLE, env=env))
        wait_for_port(port + n, procs[-1], timeout=60)
    print(
        f"weatherstream cluster: http://{host}:{port}/ and http://{host}:{port + 1}/\n"
        f"  REDIS_URL={redis.url} DATABASE_URL={pg.url()}\n"
        "  two pollers (one polls, the other stands by). Ctrl-C stops everything.",
        flush=True,
    )
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    while signal.sigtimedwait(stop, 1.0) is None:
        if any(p.poll() is not None for p in procs):
            print("weatherstream cluster: a process exited; stopping", file=sys.stderr)
            return


if __name__ == "__main__":
    main()

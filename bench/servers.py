"""The designs the benchmark compares, and their server processes: commands, start, probe, stop.

Imported by fanout.py, which puts the repository on sys.path (for scripts.makeflags).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import procs

from scripts.makeflags import make_run_flags

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

PRODUCT_SERVERS = [
    "uvicorn-websockets",
    "uvicorn-websockets-sansio",
    "uvicorn-wsproto",
    "daphne",
    "granian",
]
BASELINES = {"plain": "plain-websockets", "textbook": "textbook-channels"}
# --redis: the scaled-out topology, two server processes (uvicorn as `make run` runs it)
# with WEATHERSTREAM_POLLER=off, one `manage.py weatherstream_poll`, and redis-server,
# over channels_redis's pub/sub layer or its core (list-based) layer.
CLUSTER_SERVERS = {"pubsub": "redis-pubsub-2proc", "core": "redis-core-2proc"}
# --stalled F: the same server again with a fraction F of subscribers that never read.
STALLED = "+stalled"
# --watchers-off: the same server again with no watchers frames (issue 17's cost)
WATCHERS_OFF = "+watchers-off"
# The server `make run` uses: each --redis row runs two of it.
CLUSTER_SERVER = "uvicorn-websockets-sansio"
# --workers W: one uvicorn with `--workers W` on one port, over the Redis pub/sub layer,
# with the separate poller and redis-server (issue 18), as the row "uvicorn-workers-W".
WORKERS = "uvicorn-workers-"


def add_scaled_options(p: argparse.ArgumentParser) -> None:
    """--redis and --workers: the scaled-out rows (see design())."""
    p.add_argument(
        "--redis",
        nargs="?",
        const="pubsub",
        default="",
        metavar="LAYERS",
        help="also run the scaled-out topology (two server processes, the subscribers split "
        "between them, a separate poller, redis-server) over these channels_redis layers: "
        "pubsub, core or pubsub,core (default pubsub)",
    )
    p.add_argument(
        "--workers",
        default="",
        metavar="W[,W...]",
        help="also run uvicorn with --workers W on one port over the Redis pub/sub layer, with the "
        "separate poller and redis-server, one row per W (e.g. 1,2)",
    )


def scaled_designs(args: argparse.Namespace) -> list[str]:
    """The rows that --redis and --workers ask for, by design name."""
    out = [CLUSTER_SERVERS[layer.strip()] for layer in args.redis.split(",") if args.redis]
    return out + [WORKERS + w.strip() for w in args.workers.split(",") if w.strip()]


def bench_flags() -> list[str]:
    """uvicorn's flags exactly as `make run` passes them, less the `--ws` choice."""
    flags = make_run_flags()
    if "--ws" in flags:
        at = flags.index("--ws")
        del flags[at : at + 2]
    return flags


UVICORN_FLAGS = bench_flags()
GRANIAN_FLAGS = ["--loop", "uvloop", "--workers", "1", "--no-access-log", "--log-level", "warning"]
PRODUCT_APP = "example.asgi:application"
# The product's settings in every server process: simulated weather, one poll a second.
PRODUCT_ENV = {
    "PYTHONPATH": f"{REPO / 'example'}:{REPO / 'src'}",
    "WEATHERSTREAM_PROVIDER": "simulated",
    "WEATHERSTREAM_POLL_INTERVAL": "1",
    "WEATHERSTREAM_MAX_CONNECTIONS_PER_ADDRESS": "null",  # every subscriber is 127.0.0.1
    "DJANGO_SETTINGS_MODULE": "example.settings",
}

# One process of a design: (command, cwd, env, port to wait for or None).
Process = tuple[list[str], Path, dict[str, str], int | None]


# -- commands ---------------------------------------------------------------------------


def _listen(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port)]


def server_command(
    name: str, port: int, python: str, textbook_ws: str = "websockets-sansio"
) -> tuple[list[str], Path, dict[str, str]]:
    """The command, working directory and environment of one server of ``name``."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    baselines = BENCH / "baselines"
    if name == "plain-websockets":
        return [python, str(baselines / "plain_ws.py"), "--port", str(port)], baselines, env
    if name == "textbook-channels":
        env["PYTHONPATH"] = str(baselines)
        env["DJANGO_SETTINGS_MODULE"] = "textbook.settings"
        uvicorn = [python, "-m", "uvicorn", "textbook.asgi:application", *_listen(port)]
        return [*uvicorn, "--ws", textbook_ws, *UVICORN_FLAGS], baselines, env
    env |= PRODUCT_ENV
    return product_command(name, port, python), REPO / "example", env


def product_command(name: str, port: int, python: str) -> list[str]:
    """The product under one of the ASGI server options (PRODUCT_SERVERS)."""
    bindir = Path(python).parent
    if name.startswith("uvicorn-"):
        ws = name.removeprefix("uvicorn-")
        return [python, "-m", "uvicorn", PRODUCT_APP, *_listen(port), "--ws", ws, *UVICORN_FLAGS]
    if name == "daphne":
        return [str(bindir / "daphne"), "-b", "127.0.0.1", "-p", str(port), PRODUCT_APP]
    if name == "granian":
        return [str(bindir / "granian"), "--interface", "asgi", *_listen(port), *GRANIAN_FLAGS, PRODUCT_APP]
    raise SystemExit(f"unknown server {name!r}; choose from {', '.join(PRODUCT_SERVERS)}")


def design(
    name: str, args: argparse.Namespace, workdir: Path, db_template: Path | None, tag: str
) -> list[Process]:
    """The processes of one row, in start order: (command, cwd, env, port to wait for)."""
    watchers_off = name.endswith(WATCHERS_OFF)
    name = name.removesuffix(WATCHERS_OFF).removesuffix(STALLED)
    layer = next((k for k, v in CLUSTER_SERVERS.items() if v == name), None)
    workers = int(name.removeprefix(WORKERS)) if name.startswith(WORKERS) else 0
    single = CLUSTER_SERVER if layer or workers else name
    port = procs.free_port()
    cmd, cwd, env = server_command(single, port, args.python, args.textbook_ws)
    if name in BASELINES.values():
        if name == "plain-websockets" and getattr(args, "places_per_client", 1) > 1:
            cmd.append("--same-tick")  # the product's poll updates all places in one tick
        return [(cmd, cwd, env, port)]
    # the product: its own copy of the migrated database
    var = workdir / f"var-{tag}"
    var.mkdir()
    assert db_template is not None
    shutil.copy(db_template, var / db_template.name)
    env["WEATHERSTREAM_VAR_DIR"] = str(var)
    if watchers_off:  # the counts still go into `subscribed`; no frame follows a change
        env["WEATHERSTREAM_WATCHERS_EVERY"] = str(10 * 24 * 3600)
    if workers:
        return cluster("pubsub", (cmd + ["--workers", str(workers)], cwd, env, port), args, var, second=False)
    if layer is None:
        return [(cmd, cwd, env, port)]
    return cluster(layer, (cmd, cwd, env, port), args, var)


def cluster(
    layer: str, first: Process, args: argparse.Namespace, var: Path, second: bool = True
) -> list[Process]:
    """--redis: redis-server, the separate poller, then two servers (``first`` and another);
    --workers: the same with ``first`` alone (its own workers share its port)."""
    cmd, cwd, env, port = first
    redis_port = procs.free_port()
    redis = ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", ""]
    env |= {
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "REDIS_LAYER": layer,
        "WEATHERSTREAM_POLLER": "off",
    }
    poller = [args.python, "manage.py", "weatherstream_poll"]
    out: list[Process] = [
        (redis + ["--dir", str(var)], var, env, redis_port),
        (poller, cwd, env, None),
        (cmd, cwd, env, port),
    ]
    if second:
        port2 = procs.free_port()
        cmd2, _, _ = server_command(CLUSTER_SERVER, port2, args.python, args.textbook_ws)
        out.append((cmd2, cwd, env, port2))
    return out


def migrate_template(args: argparse.Namespace, workdir: Path) -> Path:
    """The product's SQLite database, migrated once per benchmark; design() copies it per server."""
    var = workdir / "template"
    var.mkdir()
    env = dict(
        os.environ,
        PYTHONPATH=f"{REPO / 'example'}:{REPO / 'src'}",
        WEATHERSTREAM_VAR_DIR=str(var),
        WEATHERSTREAM_PROVIDER="simulated",
        DJANGO_SETTINGS_MODULE="example.settings",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    subprocess.run(
        [args.python, "manage.py", "migrate", "--noinput"],
        cwd=REPO / "example",
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    return var / "weatherstream.sqlite3"


def snapshot(workdir: Path) -> Path:
    """Run the product from here on from a copy of ``src/`` and ``example/`` taken now, so
    that edits made in the checkout while a benchmark runs do not mix into its rows (the
    installed package is an editable one: PYTHONPATH puts the copy before it). Returns the
    copy's root, which takes the repository's place for the product's commands."""
    tree = workdir / "tree"
    skip = shutil.ignore_patterns("__pycache__", "*.sqlite3*", "var")
    for part in ("src", "example"):
        shutil.copytree(REPO / part, tree / part, ignore=skip)
    use_tree(tree)
    return tree


def export(revision: str, workdir: Path) -> Path:
    """``src/`` and ``example/`` as committed at ``revision`` (git archive), for a row of
    the product at that commit next to the current one."""
    tree = workdir / f"tree-{revision}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(BENCH.parent), "archive", revision, "src", "example"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def trees_at(revisions: list[str], names: list[str], workdir: Path) -> dict[str, Path]:
    """--at: a row ``"<name> @<rev>"`` for each name at each revision, with that commit's
    export (one per revision)."""
    exports = {rev: export(rev, workdir) for rev in revisions}
    return {f"{name} @{rev}": tree for rev, tree in exports.items() for name in names}


def use_tree(tree: Path) -> None:
    """Run the product's commands from ``tree`` (a snapshot or an export) from now on."""
    global REPO
    REPO = tree
    PRODUCT_ENV["PYTHONPATH"] = f"{tree / 'example'}:{tree / 'src'}"


# -- running ----------------------------------------------------------------------------


def probe(port: int, timeout: float) -> None:
    """One real WebSocket connection that gets ``hello`` (starts a lazy engine, e.g. under daphne)."""
    from websockets.sync.client import connect

    with connect(
        f"ws://127.0.0.1:{port}/ws/weather/",
        origin=f"http://127.0.0.1:{port}",
        open_timeout=timeout,
        compression=None,
    ) as ws:
        hello = json.loads(ws.recv(timeout=timeout))
        assert hello.get("type") == "hello", hello


@dataclass
class Servers:
    """The running processes of one row's design; its CPU and RSS are their sum."""

    processes: list[subprocess.Popen[Any]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)  # where subscribers connect, round robin
    parts: list[tuple[Process, Path]] = field(default_factory=list)  # each process and its log

    def start(
        self,
        name: str,
        args: argparse.Namespace,
        workdir: Path,
        db_template: Path | None,
        tag: str,
        title: str,
    ) -> None:
        """Start each process in order and wait for its port, then get a ``hello`` from each server."""
        for part, process in enumerate(design(name, args, workdir, db_template, tag)):
            log = workdir / f"{tag}-{part}.log"
            print(f"\n== {title}: {' '.join(process[0])}  (log: {log})", flush=True)
            self.parts.append((process, log))
            self._spawn(process, log)
            if process[3] is not None and process[0][0] != "redis-server":
                self.ports.append(process[3])
        for port in self.ports:
            probe(port, timeout=60)

    def restart(self, outage: float) -> None:
        """Stop every process (SIGTERM, as a deploy does), wait ``outage`` seconds, start
        them again on the same ports and database, and wait for a ``hello`` from each."""
        self.stop()
        self.processes.clear()
        time.sleep(outage)
        for process, log in self.parts:
            self._spawn(process, log)
        for port in self.ports:
            probe(port, timeout=60)

    def _spawn(self, process: Process, log: Path) -> None:
        cmd, cwd, env, port = process
        self.processes.append(procs.spawn(cmd, cwd=cwd, env=env, log=log))
        if port is not None:
            procs.wait_port(port, self.processes[-1], timeout=90)

    @property
    def last_pid(self) -> int:
        """The last process started: the one --profile records."""
        return self.processes[-1].pid

    def pids(self) -> list[int]:
        """Every process of the design and all their descendants."""
        return [pid for s in self.processes for pid in procs.tree(s.pid)]

    def stop(self) -> None:
        for server in reversed(self.processes):
            procs.stop(server)

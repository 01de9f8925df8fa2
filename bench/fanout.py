"""Fan-out benchmark for weatherstream (issue #3).

Starts each server the way it runs in production, connects N WebSocket
subscribers over K locations (round robin) from the same load generator,
measures one window of steady fan-out, and prints one markdown table with the
ratios against a plain ``websockets`` broadcast server.

    python bench/fanout.py                       # N=2000, K=50, 20 s window, everything
    python bench/fanout.py --n 10000 --k 100 --servers uvicorn-websockets-sansio
    python bench/fanout.py --n 10000 --k 100 --servers uvicorn-websockets-sansio \
        --baselines plain --runs 3               # medians of 3 alternating rounds

See bench/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

import loadgen  # noqa: E402
import procs  # noqa: E402

from scripts.makeflags import make_run_flags  # noqa: E402

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


def bench_flags() -> list[str]:
    """uvicorn's flags exactly as `make run` passes them, less the `--ws` choice."""
    flags = make_run_flags()
    if "--ws" in flags:
        at = flags.index("--ws")
        del flags[at : at + 2]
    return flags


UVICORN_FLAGS = bench_flags()


@dataclass
class Row:
    name: str
    kind: str  # "baseline" | "product"
    n: int = 0
    subscribed: int = 0
    connect_failures: dict[str, int] = field(default_factory=dict)
    connect_seconds: float = 0.0
    connects_per_s: float = 0.0
    frames: int = 0
    expected: int = 0
    publications: int = 0  # distinct (location, published_at) inside the window
    cpu_user_s: float = 0.0  # the user-mode part of cpu_s (the rest is kernel time)
    cpu_s: float = 0.0
    window: float = 0.0
    gen_cpu_s: float = 0.0
    rss0_kib: int = 0
    rss1_kib: int = 0
    lat_ms: dict[str, float] = field(default_factory=dict)
    sub_rtt_ms: dict[str, float] = field(default_factory=dict)
    ping_rtt_ms: dict[str, float] = field(default_factory=dict)
    rtt_failures: dict[str, int] = field(default_factory=dict)
    rtt_samples_ms: dict[str, list[float]] = field(default_factory=dict)
    closed: int = 0
    close_codes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    note: str = ""
    run: int = 1  # 1-based round of --runs
    stalled: int = 0  # subscribers that never read (--stalled); not counted in frames/latency

    @property
    def cpu_us_per_frame(self) -> float | None:
        return self.cpu_s / self.frames * 1e6 if self.frames else None

    @property
    def kib_per_sub(self) -> float | None:
        return (self.rss1_kib - self.rss0_kib) / self.subscribed if self.subscribed else None


# -- servers ----------------------------------------------------------------------------


def server_command(
    name: str, port: int, python: str, textbook_ws: str = "websockets-sansio"
) -> tuple[list[str], Path, dict[str, str]]:
    bindir = Path(python).parent
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    if name == "plain-websockets":
        return (
            [python, str(BENCH / "baselines" / "plain_ws.py"), "--port", str(port)],
            BENCH / "baselines",
            env,
        )
    if name == "textbook-channels":
        env["PYTHONPATH"] = str(BENCH / "baselines")
        env["DJANGO_SETTINGS_MODULE"] = "textbook.settings"
        cmd = [
            python,
            "-m",
            "uvicorn",
            "textbook.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ws",
            textbook_ws,
            *UVICORN_FLAGS,
        ]
        return cmd, BENCH / "baselines", env
    env["PYTHONPATH"] = f"{REPO / 'example'}:{REPO / 'src'}"
    env["WEATHERSTREAM_PROVIDER"] = "simulated"
    env["WEATHERSTREAM_POLL_INTERVAL"] = "1"
    env["WEATHERSTREAM_MAX_CONNECTIONS_PER_ADDRESS"] = "null"  # every subscriber is 127.0.0.1
    env["DJANGO_SETTINGS_MODULE"] = "example.settings"
    app = "example.asgi:application"
    if name.startswith("uvicorn-"):
        ws = name.removeprefix("uvicorn-")
        cmd = [
            python,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ws",
            ws,
            *UVICORN_FLAGS,
        ]
    elif name == "daphne":
        cmd = [str(bindir / "daphne"), "-b", "127.0.0.1", "-p", str(port), app]
    elif name == "granian":
        cmd = [
            str(bindir / "granian"),
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
            app,
        ]
    else:
        raise SystemExit(f"unknown server {name!r}; choose from {', '.join(PRODUCT_SERVERS)}")
    return cmd, REPO / "example", env


def design(
    name: str, args: argparse.Namespace, workdir: Path, db_template: Path | None, tag: str
) -> list[tuple[list[str], Path, dict[str, str], int | None]]:
    """The processes of one row, in start order: (command, cwd, env, port to wait for)."""
    name = name.removesuffix(STALLED)
    layer = next((k for k, v in CLUSTER_SERVERS.items() if v == name), None)
    single = "uvicorn-websockets-sansio" if layer else name
    port = procs.free_port()
    cmd, cwd, env = server_command(single, port, args.python, args.textbook_ws)
    if name in BASELINES.values():
        return [(cmd, cwd, env, port)]
    var = workdir / f"var-{tag}"
    var.mkdir()
    assert db_template is not None
    shutil.copy(db_template, var / db_template.name)
    env["WEATHERSTREAM_VAR_DIR"] = str(var)
    if layer is None:
        return [(cmd, cwd, env, port)]
    redis_port = procs.free_port()
    redis = ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", ""]
    env |= {
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "REDIS_LAYER": layer,
        "WEATHERSTREAM_POLLER": "off",
    }
    poller = [args.python, "manage.py", "weatherstream_poll"]
    second = procs.free_port()
    cmd2, _, _ = server_command(single, second, args.python, args.textbook_ws)
    return [
        (redis + ["--dir", str(var)], var, env, redis_port),
        (poller, cwd, env, None),
        (cmd, cwd, env, port),
        (cmd2, cwd, env, second),
    ]


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


# -- statistics -------------------------------------------------------------------------


def pct(values: array[float] | list[float], scale: float = 1e3) -> dict[str, float]:
    if not len(values):
        return {}
    s = sorted(values)
    n = len(s)

    def q(p: float) -> float:
        return s[min(n - 1, int(p * n))] * scale

    return {"p50": q(0.50), "p99": q(0.99), "max": s[-1] * scale, "n": n}


def recv_all(gens: list[tuple[Any, Any]], timeout: float) -> list[Any]:
    """One answer from each generator; raises if one dies or stays silent past ``timeout``."""
    out = []
    deadline = time.monotonic() + timeout
    for proc, pipe in gens:
        while not pipe.poll(0.5):
            if not proc.is_alive():
                raise RuntimeError(f"load generator {proc.pid} died (exit {proc.exitcode})")
            if time.monotonic() > deadline:
                raise TimeoutError("load generator did not answer")
        out.append(pipe.recv())
    return out


def doubles(blobs: list[bytes]) -> array[float]:
    out = array("d")
    for b in blobs:
        out.frombytes(b)
    return out


# -- one row ----------------------------------------------------------------------------


def run_row(
    name: str, args: argparse.Namespace, workdir: Path, db_template: Path | None, run: int = 1
) -> Row:
    row = Row(name=name, kind="baseline" if name in BASELINES.values() else "product", n=args.n, run=run)
    tag = f"{name}-run{run}" if args.runs > 1 else name
    round_ = f" [run {run}/{args.runs}]" if args.runs > 1 else ""
    servers: list[Any] = []  # every process of the design: CPU and RSS are their sum
    ports: list[int] = []  # where subscribers connect, round robin
    gens: list[tuple[Any, Any]] = []

    def all_pids() -> list[int]:
        return [pid for s in servers for pid in procs.tree(s.pid)]

    try:
        for part, (cmd, cwd, env, port) in enumerate(design(name, args, workdir, db_template, tag)):
            log = workdir / f"{tag}-{part}.log"
            print(f"\n== {name}{round_}: {' '.join(cmd)}  (log: {log})", flush=True)
            servers.append(procs.spawn(cmd, cwd=cwd, env=env, log=log))
            if port is not None:
                procs.wait_port(port, servers[-1], timeout=90)
                if cmd[0] != "redis-server":
                    ports.append(port)
        for port in ports:
            probe(port, timeout=60)
        time.sleep(args.idle)
        pids = all_pids()
        row.rss0_kib = procs.rss_kib(pids)
        print(f"   ready; idle RSS {row.rss0_kib / 1024:.0f} MiB", flush=True)

        ctx = mp.get_context("spawn")
        for _ in range(args.gen_procs):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=loadgen.run, args=(child,), daemon=True)
            p.start()
            gens.append((p, parent))
        # connect phase
        prof = (
            profile_start(servers[-1].pid, name, "connect", args, args.connect_timeout)
            if args.profile
            else None
        )
        g = len(gens)
        for j, (_, pipe) in enumerate(gens):
            pipe.send(
                (
                    "connect",
                    {
                        "host": "127.0.0.1",
                        "ports": ports,
                        "path": "/ws/weather/",
                        "k": args.k,
                        "indices": list(range(j, args.n, g)),
                        "concurrency": max(1, args.concurrency // g),
                        "stalled": args.stalled if name.endswith(STALLED) else 0.0,
                        "conn_timeout": args.conn_timeout,
                        "phase_timeout": args.connect_timeout,
                    },
                )
            )
        results = recv_all(gens, args.connect_timeout + args.conn_timeout + 60)
        profile_stop(prof)
        row.subscribed = sum(r["ok"] for r in results)
        row.stalled = sum(r["stalled"] for r in results)
        for r in results:
            for why, c in r["failures"].items():
                row.connect_failures[why] = row.connect_failures.get(why, 0) + c
        t_first = min(r["t_first"] for r in results if r["t_first"])
        t_last = max(r["t_last"] for r in results)
        row.connect_seconds = max(0.0, t_last - t_first)
        row.connects_per_s = row.subscribed / row.connect_seconds if row.connect_seconds > 0 else 0.0
        print(
            f"   subscribed {row.subscribed}/{args.n} in {row.connect_seconds:.2f}s "
            f"({row.connects_per_s:.0f}/s) failures={row.connect_failures or 0}",
            flush=True,
        )
        if not row.subscribed:
            row.note = "no subscriber got through"
            return row

        # steady fan-out window
        time.sleep(args.settle)
        pids = all_pids()
        gen_pids = [p.pid for p, _ in gens]
        t0 = time.time() + 0.3
        t1 = t0 + args.window
        for _, pipe in gens:
            pipe.send(("window", t0, t1))
        time.sleep(max(0.0, t0 - time.time()))
        split_a, gcpu_a = procs.cpu_split(pids), procs.cpu_seconds(gen_pids)
        time.sleep(max(0.0, t1 - time.time()))
        split_b, gcpu_b = procs.cpu_split(pids), procs.cpu_seconds(gen_pids)
        cpu_a, cpu_b = sum(split_a), sum(split_b)
        row.cpu_user_s = split_b[0] - split_a[0]
        row.rss1_kib = procs.rss_kib(all_pids())
        results = recv_all(gens, 60)
        row.window = args.window
        row.cpu_s = cpu_b - cpu_a
        row.gen_cpu_s = gcpu_b - gcpu_a
        row.frames = sum(r["frames"] for r in results)
        # Expected: every publication of a location inside the window (seen by any of its
        # subscribers, in any generator process) reaching each of its open subscribers.
        publications: dict[int, set[float]] = {}
        subscribers: dict[int, int] = {}
        for r in results:
            for loc, seen in r["publications"].items():
                publications.setdefault(int(loc), set()).update(seen)
            for loc, count in r["subscribers"].items():
                subscribers[int(loc)] = subscribers.get(int(loc), 0) + count
        row.expected = sum(len(publications.get(loc, ())) * count for loc, count in subscribers.items())
        row.publications = sum(len(seen) for seen in publications.values())
        row.lat_ms = pct(doubles([r["latencies"] for r in results]))
        row.closed = sum(r["closed_in_window"] for r in results)
        for r in results:
            for code, c in r["close_codes"].items():
                row.close_codes[str(code)] = row.close_codes.get(str(code), 0) + c
            for why, c in r["errors"].items():
                row.errors[why] = row.errors.get(why, 0) + c
        print(
            f"   window {args.window:.0f}s: {row.frames}/{row.expected} frames "
            f"({row.publications} publications of {args.k} locations), "
            f"server CPU {row.cpu_s / args.window * 100:.0f}% "
            f"(user {row.cpu_user_s / max(row.cpu_s, 1e-9) * 100:.0f}% of it), "
            f"{row.cpu_us_per_frame or 0:.1f} us/frame, latency {fmt_lat(row.lat_ms)} ms, "
            f"RSS +{(row.rss1_kib - row.rss0_kib) / 1024:.0f} MiB",
            flush=True,
        )
        if args.profile:
            profile_stop(profile_start(servers[-1].pid, name, "steady", args, args.profile), wait=True)

        # round trips on a sample, with the fan-out still running
        sample = min(args.rtt_sample, row.subscribed)
        for j, (_, pipe) in enumerate(gens):
            pipe.send(
                (
                    "rtt",
                    {
                        "sample": sample // g + (1 if j < sample % g else 0),
                        "pings": args.rtt_pings,
                        "spread": args.rtt_spread,
                        "timeout": 10.0,
                        "k": args.k,
                    },
                )
            )
        results = recv_all(gens, args.rtt_spread + args.rtt_pings * 10 + 30)
        pings, subs = doubles([r["pings"] for r in results]), doubles([r["subs"] for r in results])
        row.ping_rtt_ms, row.sub_rtt_ms = pct(pings), pct(subs)
        row.rtt_samples_ms = {
            "ping": [round(x * 1e3, 3) for x in pings],
            "subscribe": [round(x * 1e3, 3) for x in subs],
        }
        for r in results:
            for why, c in r["failures"].items():
                row.rtt_failures[why] = row.rtt_failures.get(why, 0) + c
        print(
            f"   subscribe RTT {fmt_lat(row.sub_rtt_ms)} ms, ping RTT {fmt_lat(row.ping_rtt_ms)} ms"
            f"{' failures=' + str(row.rtt_failures) if row.rtt_failures else ''}",
            flush=True,
        )
        return row
    except Exception as exc:  # a broken server is a row with a note, not a broken run
        row.note = f"{type(exc).__name__}: {exc}"
        print(f"   FAILED: {row.note}", flush=True)
        return row
    finally:
        for server in reversed(servers):
            procs.stop(server)
        for p, pipe in gens:
            try:
                pipe.send(("close",))
                if pipe.poll(10):
                    pipe.recv()
            except (BrokenPipeError, EOFError, OSError):
                pass
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(2)


def _pyspy(args: argparse.Namespace) -> str | None:
    pyspy = shutil.which("py-spy") or str(Path(args.python).parent / "py-spy")
    return pyspy if Path(pyspy).exists() else None


def profile_start(pid: int, name: str, phase: str, args: argparse.Namespace, seconds: float) -> Any:
    """py-spy record (collapsed stacks) of ``pid`` in the background; stop it with profile_stop."""
    pyspy = _pyspy(args)
    if pyspy is None:
        print("   (py-spy not installed; no profile)")
        return None
    out = BENCH / "profiles" / f"{name}-n{args.n}-k{args.k}-{phase}.txt"
    out.parent.mkdir(exist_ok=True)
    cmd = [
        pyspy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--format",
        "raw",
        "--subprocesses",
        "-o",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs._started.append(proc)
    return proc, out


def profile_stop(handle: Any, wait: bool = False) -> None:
    if handle is None:
        return
    proc, out = handle
    if not wait and proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        pass
    procs.stop(proc, grace=1)
    print(f"   profile: {out} (collapsed stacks; bench/topstacks.py summarizes)", flush=True)


# -- table ------------------------------------------------------------------------------


def fmt_lat(d: dict[str, float]) -> str:
    if not d:
        return "-"
    return f"{d['p50']:.1f} / {d['p99']:.1f} / {d['max']:.0f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    return f"{a / b:.2f}x"


def revision() -> str:
    """The product's git commit (read-only look-up), marked dirty if src/ or example/ differ."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "example"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + (" (src/example modified)" if dirty else "") if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def metrics(r: Row) -> dict[str, float | None]:
    """The figures one run contributes to the table (None: not measured)."""
    return {
        "subscribed": float(r.subscribed),
        "connects_per_s": r.connects_per_s,
        "frames": float(r.frames),
        "expected": float(r.expected),
        "delivered_pct": r.frames / r.expected * 100 if r.expected else None,
        "cpu_pct": r.cpu_s / r.window * 100 if r.window else None,
        "cpu_us_per_frame": r.cpu_us_per_frame,
        "lat_p50": r.lat_ms.get("p50"),
        "lat_p99": r.lat_ms.get("p99"),
        "lat_max": r.lat_ms.get("max"),
        "kib_per_sub": r.kib_per_sub,
        "sub_p99": r.sub_rtt_ms.get("p99"),
        "ping_p99": r.ping_rtt_ms.get("p99"),
        "gen_cpu_pct": r.gen_cpu_s / r.window * 100 if r.window else None,
        "closed": float(r.closed),
        "rss_growth_kib": float(r.rss1_kib - r.rss0_kib) if r.rss1_kib else None,
    }


def median_metrics(runs: list[Row]) -> dict[str, float | None]:
    """Per column, the median over the runs that delivered frames (ratios are taken from these)."""
    ok = [metrics(r) for r in runs if r.frames]
    out: dict[str, float | None] = {}
    for key in metrics(runs[0]):
        vals = [m[key] for m in ok if m[key] is not None]
        out[key] = statistics.median(vals) if vals else None
    return out


def group(rows: list[Row]) -> dict[str, list[Row]]:
    """Runs per design, in first-seen order."""
    out: dict[str, list[Row]] = {}
    for r in rows:
        out.setdefault(r.name, []).append(r)
    return out


def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def table(rows: list[Row], args: argparse.Namespace) -> str:
    groups = group(rows)
    med = {name: median_metrics(runs) for name, runs in groups.items()}
    base = med.get("plain-websockets") if any(r.frames for r in groups.get("plain-websockets", [])) else None
    head = [
        "design / server",
        "subscribed",
        "connects/s",
        "frames delivered / expected",
        "server CPU",
        "CPU us/frame",
        "latency p50 / p99 / max (ms)",
        "RSS KiB/sub",
        "subscribe p99 (ms)",
        "ping p99 (ms)",
        "gen CPU",
        "CPU/frame vs plain",
        "mem/sub vs plain",
        "connects/s vs plain",
        "p99 vs plain",
    ]
    runs_note = (
        f", {args.runs} runs per row (alternating designs per round); every column is the median of the runs"
        if args.runs > 1
        else ""
    )
    lines = [
        f"N={args.n} subscribers, K={args.k} locations, {args.window:.0f} s window, "
        f"{args.gen_procs} generator process(es), {os.cpu_count()} CPUs, "
        f"product at {args.revision}{runs_note}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for name, runs in groups.items():
        m = med[name]
        label = name + (" (baseline)" if runs[0].kind == "baseline" else "")
        sub = m["subscribed"] if m["subscribed"] is not None else max(r.subscribed for r in runs)
        subscribed = f"{sub:.0f}/{args.n}"
        if not any(r.frames for r in runs):
            note = "; ".join(sorted({r.note for r in runs if r.note})) or "no frames"
            dashes = " | ".join("-" for _ in head[2:-1])
            lines.append(f"| {label} | {subscribed} | {dashes} | {note} |")
            continue

        def rel(key: str, m: dict[str, float | None] = m) -> str:
            return ratio(m[key], base[key] if base else None)

        lines.append(
            "| "
            + " | ".join(
                [
                    label,
                    subscribed,
                    _f(m["connects_per_s"], ".0f"),
                    f"{m['frames']:.0f} / {m['expected']:.0f} ({m['delivered_pct']:.1f}%)",
                    _f(m["cpu_pct"], ".0f") + "%",
                    _f(m["cpu_us_per_frame"], ".1f"),
                    f"{_f(m['lat_p50'], '.1f')} / {_f(m['lat_p99'], '.1f')} / {_f(m['lat_max'], '.0f')}",
                    _f(m["kib_per_sub"], ".1f"),
                    _f(m["sub_p99"], ".1f"),
                    _f(m["ping_p99"], ".1f"),
                    _f(m["gen_cpu_pct"], ".0f") + "%",
                    rel("cpu_us_per_frame"),
                    rel("kib_per_sub"),
                    rel("connects_per_s"),
                    rel("lat_p99"),
                ]
            )
            + " |"
        )
    if args.runs > 1:
        lines.append("")
        lines.append("Individual runs (in run order):")
        lines.append("")
        for name, runs in groups.items():
            ms = [metrics(r) for r in runs]

            def each(key: str, fmt: str, ms: list[dict[str, float | None]] = ms) -> str:
                return ", ".join(_f(x[key], fmt) for x in ms)

            lines.append(
                f"- {name}: CPU us/frame {each('cpu_us_per_frame', '.1f')}; "
                f"KiB/sub {each('kib_per_sub', '.1f')}; "
                f"connects/s {each('connects_per_s', '.0f')}; frame p99 ms {each('lat_p99', '.1f')}; "
                f"delivered % {each('delivered_pct', '.1f')}"
            )
    notes = [r for r in rows if r.note or r.connect_failures or r.closed or r.rtt_failures or r.errors]
    if notes:
        lines.append("")
        for r in notes:
            bits = []
            if r.note:
                bits.append(r.note)
            if r.connect_failures:
                bits.append(f"connect failures {r.connect_failures}")
            if r.closed:
                bits.append(f"{r.closed} connections closed during the window (codes {r.close_codes})")
            if r.rtt_failures:
                bits.append(f"round-trip failures {r.rtt_failures}")
            if r.errors:
                bits.append(f"errors {r.errors}")
            which = f" (run {r.run})" if args.runs > 1 else ""
            lines.append(f"- {r.name}{which}: " + "; ".join(bits))
    targets = target_lines(groups, med, base, args)
    if targets:
        lines.append("")
        lines.extend(targets)
    return "\n".join(lines)


# Issue #3's targets, as ratios to the plain-websockets baseline at the same N.
TARGETS = [
    # (label, metric, comparison, limit)
    ("CPU/frame", "cpu_us_per_frame", "<=", 1.1),
    ("memory/subscriber", "kib_per_sub", "<=", 1.3),
    ("connects/s", "connects_per_s", ">=", 0.8),
    ("frame-latency p99", "lat_p99", "<=", 1.2),
]
LARGE_N = 15000
CLUSTER_P99 = 2.0  # issue #4: the --redis topology's p99 against one process
STALLED_P99 = 1.2  # issue #5: readers' p99 beside non-readers, against the run without
LARGE_N_P99_MS = 500.0


def target_lines(
    groups: dict[str, list[Row]],
    med: dict[str, dict[str, float | None]],
    base: dict[str, float | None] | None,
    args: argparse.Namespace,
) -> list[str]:
    """PASS/MISS per product row against the issue's targets (ratios from the medians)."""
    products = [name for name, runs in groups.items() if runs[0].kind == "product"]
    if not products:
        return []
    out = []
    for name in products:
        m, runs = med[name], groups[name]
        who = f"{name}: " if len(products) > 1 else ""
        if name.endswith(STALLED):  # issue #5: readers beside non-readers, against no non-readers
            calm = med.get(name.removesuffix(STALLED))
            if calm is None or not calm["lat_p99"] or m["lat_p99"] is None:
                out.append(f"{who}target fast readers' p99 <= {STALLED_P99}x: not checked (no such row)")
            else:
                r = m["lat_p99"] / calm["lat_p99"]
                out.append(
                    f"{who}target fast readers' p99 <= {STALLED_P99}x the run without non-readers: "
                    f"{r:.3f}x {'PASS' if r <= STALLED_P99 else 'MISS'}; {runs[0].stalled} non-readers; "
                    f"server RSS +{(m['rss_growth_kib'] or 0) / 1024:.0f} MiB against "
                    f"+{(calm['rss_growth_kib'] or 0) / 1024:.0f} MiB"
                )
            per_run = [(r.subscribed, r.frames, r.expected) for r in runs]
            ok = all(s == args.n and e > 0 and f == e for s, f, e in per_run)
            detail = ", ".join(f"{s}/{args.n} subscribed {f}/{e} frames" for s, f, e in per_run)
            out.append(f"{who}target every frame to every reader: {detail} {'PASS' if ok else 'MISS'}")
            continue
        if name in CLUSTER_SERVERS.values():  # issue #4: against one process at the same N
            single = med.get("uvicorn-websockets-sansio")
            if single is None or not single["lat_p99"] or m["lat_p99"] is None:
                out.append(f"{who}target p99 <= {CLUSTER_P99}x one process: not checked (no such row)")
            else:
                r = m["lat_p99"] / single["lat_p99"]
                verdict = "PASS" if r <= CLUSTER_P99 else "MISS"
                out.append(f"{who}target p99 <= {CLUSTER_P99}x one process: {r:.3f}x {verdict}")
        for label, key, op, limit in TARGETS if name not in CLUSTER_SERVERS.values() else []:
            if base is None or m[key] is None or not base[key]:
                out.append(f"{who}target {label} {op} {limit}x plain: not checked (no plain baseline in run)")
                continue
            r = m[key] / base[key]
            ok = r <= limit if op == "<=" else r >= limit
            out.append(f"{who}target {label} {op} {limit}x plain: {r:.3f}x {'PASS' if ok else 'MISS'}")
        # every frame delivered: in every run, all N subscribed, each publication inside the
        # window reached every subscriber of its location, no connection closed
        per_run = [(r.subscribed, r.frames, r.expected, r.closed) for r in runs]
        ok = all(s == args.n and e > 0 and f == e and c == 0 for s, f, e, c in per_run)
        detail = ", ".join(f"{s}/{args.n} subscribed {f}/{e} frames {c} closed" for s, f, e, c in per_run)
        out.append(
            f"{who}target every frame delivered (all subscribed, every publication to every subscriber, "
            f"no connection closed, every run): {detail} {'PASS' if ok else 'MISS'}"
        )
        if args.n >= LARGE_N:
            p99s = [r.lat_ms.get("p99") for r in runs]
            p99_ok = all(p is not None and p < LARGE_N_P99_MS for p in p99s)
            out.append(
                f"{who}target at N >= {LARGE_N}: every frame delivered {'PASS' if ok else 'MISS'}; "
                f"frame p99 < {LARGE_N_P99_MS:.0f} ms: "
                f"{', '.join(_f(p, '.1f') for p in p99s)} ms {'PASS' if p99_ok else 'MISS'}"
            )
    return out


# -- main -------------------------------------------------------------------------------


def migrate_template(args: argparse.Namespace, workdir: Path) -> Path:
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="subscribers (default 2000)")
    p.add_argument("--k", type=int, default=50, help="locations, round robin (default 50)")
    p.add_argument("--window", type=float, default=20.0, help="measuring window, seconds (default 20)")
    p.add_argument(
        "--servers",
        default=",".join(PRODUCT_SERVERS),
        help=f"product server options, comma separated, or 'none' (default: {','.join(PRODUCT_SERVERS)})",
    )
    p.add_argument("--baselines", default="plain,textbook", help="plain,textbook or 'none' (default both)")
    p.add_argument(
        "--runs",
        type=int,
        default=1,
        help="rounds: run every selected row this many times, designs alternating per round; "
        "the table shows the medians (default 1)",
    )
    p.add_argument(
        "--redis",
        nargs="?",
        const="pubsub",
        default="",
        metavar="LAYERS",
        help="also run the scaled-out topology (two server processes, a separate poller, "
        "redis-server) over these channels_redis layers: pubsub, core or pubsub,core (default pubsub)",
    )
    p.add_argument(
        "--stalled",
        type=float,
        default=0.0,
        metavar="F",
        help="also run each product server with this fraction of subscribers that stop reading "
        "after subscribing (issue #5: e.g. 0.1); the fast ones' p99 is compared with the run without",
    )
    p.add_argument("--gen-procs", type=int, default=1, help="load generator processes (default 1)")
    p.add_argument(
        "--concurrency", type=int, default=200, help="connects in flight, all generators (default 200)"
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=120.0,
        help="cap on the whole connect phase, seconds (default 120)",
    )
    p.add_argument(
        "--conn-timeout", type=float, default=30.0, help="per-connection connect+subscribe timeout"
    )
    p.add_argument("--settle", type=float, default=3.0, help="seconds between connect phase and window")
    p.add_argument("--idle", type=float, default=2.0, help="seconds idle before the 0-client RSS reading")
    p.add_argument("--rtt-sample", type=int, default=200, help="connections that measure round trips")
    p.add_argument("--rtt-pings", type=int, default=3, help="pings per sampled connection")
    p.add_argument("--rtt-spread", type=float, default=2.0, help="sampled connections start over this many s")
    p.add_argument(
        "--profile",
        type=float,
        default=0.0,
        help="py-spy record each server during the connect phase, and for this many seconds "
        "of steady fan-out after the window (0: off)",
    )
    p.add_argument(
        "--textbook-ws",
        default="websockets-sansio",
        help="uvicorn --ws of the textbook baseline (default: what `make run` uses)",
    )
    p.add_argument("--json", type=Path, help="also write raw results here")
    p.add_argument(
        "--report",
        type=Path,
        metavar="JSON",
        help="run nothing: print the table and target checks again from a file written by --json",
    )
    p.add_argument("--python", default=sys.executable, help="interpreter of the servers' venv")
    a = p.parse_args(argv)
    if a.runs < 1:
        p.error("--runs must be at least 1")
    a.server_list = [] if a.servers == "none" else [s.strip() for s in a.servers.split(",") if s.strip()]
    a.baseline_list = [] if a.baselines == "none" else [BASELINES[b.strip()] for b in a.baselines.split(",")]
    if a.redis:
        a.server_list += [CLUSTER_SERVERS[layer.strip()] for layer in a.redis.split(",")]
    if a.stalled:
        a.server_list += [s + STALLED for s in a.server_list if s not in CLUSTER_SERVERS.values()]
    return a


def report(path: Path) -> str:
    """The table of a finished run, from its --json file."""
    data = json.loads(path.read_text())
    args = argparse.Namespace(**data["args"])
    args.runs = getattr(args, "runs", 1)
    rows = []
    for raw in data["rows"]:
        fields = {k: v for k, v in raw.items() if k in Row.__dataclass_fields__}
        rows.append(Row(**fields))
    return table(rows, args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print(report(args.report))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    workdir = Path(tempfile.mkdtemp(prefix="wsbench-"))
    args.revision = revision()
    rows: list[Row] = []
    started = time.monotonic()
    try:
        db = migrate_template(args, workdir) if args.server_list else None
        for run in range(1, args.runs + 1):
            for name in args.baseline_list + args.server_list:
                rows.append(run_row(name, args, workdir, db, run))
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
    finally:
        procs.stop_all()
    out = table(rows, args)
    print(f"\n{out}\n\n(total {time.monotonic() - started:.0f}s; server logs in {workdir})")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "rows": [
                        r.__dict__ | {"cpu_us_per_frame": r.cpu_us_per_frame, "kib_per_sub": r.kib_per_sub}
                        for r in rows
                    ],
                    "medians": {name: median_metrics(runs) for name, runs in group(rows).items()},
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

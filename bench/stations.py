"""Upload -> subscriber latency of personal weather stations.

N WebSocket subscribers watch ONE station, then N watch 100 stations (N/100 each): one
row per ``--stations`` item, ``COUNT`` or ``COUNT@SECONDS``. A driver uploads each
station's readings in Weather Underground's format (``GET
/weatherstation/updateweatherstation.php``, one connection per upload as a gateway makes
it; the readings of ``weatherstream station-sim``) every SECONDS (``--every``, default
1 s), the stations round robin, and every subscriber records when each ``weather`` frame
arrives. Latency is that receipt time minus the moment the driver began the upload
(before its connect).

The product runs as `make run` runs it (uvicorn with `make -s print-UVICORN_FLAGS`,
SQLite), with ``WEATHERSTREAM_STATION_MIN_INTERVAL=0``, from a copy of ``src/`` and
``example/`` taken at the start (edits made meanwhile do not reach it); its stations are
registered in the migrated database before it starts. ``--gc-log`` counts the servers'
slow garbage collections in each window (bench/gclog.py). The baseline, in the same process tree with the
same load generator and driver, is the plain ``websockets`` server (baselines/plain_ws.py)
answering the same upload by broadcasting its reading at once: bench/README.md says why.

    python bench/stations.py --n 10000                 # 1 and 100 stations, plain and product
    python bench/stations.py --n 10000 --stations 1,100@16,100   # and a 16 s gateway interval
    python bench/stations.py --n 2000 --stations 100 --baselines none

The subscribers come from bench/loadgen.py and the servers from bench/servers.py, as in
bench/fanout.py.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hashlib
import json
import os
import random
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
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(BENCH), str(REPO), str(REPO / "src")]

import loadgen  # noqa: E402
import procs  # noqa: E402
import pyspy  # noqa: E402
from measure import Generators, add_counts, connect, doubles, fmt_lat, pct, read_idle_rss  # noqa: E402
from row import Row  # noqa: E402
from servers import (  # noqa: E402
    BASELINES,
    Servers,
    add_scaled_options,
    migrate_template,
    scaled_designs,
    snapshot,
    trees_at,
    use_tree,
)

from scripts.makeflags import make_run_flags  # noqa: E402
from weatherstream.cli import UPLOAD_PATHS, WUNDERGROUND, SimulatedStation, wunderground_params  # noqa: E402

PLAIN = BASELINES["plain"]
UPLOAD_PATH = UPLOAD_PATHS[WUNDERGROUND]
TAIL = 3.0  # seconds after the last upload in which its frames still count
UPLOAD_TIMEOUT = 10.0
GOAL_N, GOAL_P99_MS = 10000, 50.0  # the goal: upload -> subscriber p99 under 50 ms at N=10,000
UNFROZEN = " GC_FREEZE=false"  # --unfrozen: the product's row with the collector left as Python sets it


def product_server() -> str:
    """The product under `make run`'s WebSocket implementation, as bench/servers.py names it."""
    flags = make_run_flags()
    return "uvicorn-" + flags[flags.index("--ws") + 1]


@dataclass
class StationRow(Row):
    """One run of one design with N subscribers over ``stations`` stations.

    ``frames``/``expected``/``lat_ms`` are per upload: frames matched to an accepted
    upload, the subscribers of its station summed over the accepted uploads, and
    receipt - upload start."""

    stations: int = 0
    every: float = 1.0  # seconds between two uploads of one station
    uploads: int = 0
    uploads_ok: int = 0
    upload_errors: dict[str, int] = field(default_factory=dict)
    unmatched: int = 0  # frames inside the window that no upload accounts for
    fanout_ms: dict[str, float] = field(default_factory=dict)  # receipt - published_at
    answer_ms: dict[str, float] = field(default_factory=dict)  # the upload's HTTP answer
    slowest: list[tuple[float, float]] = field(default_factory=list)  # (start, answer ms), --json
    gc_pauses: list[tuple[float, int, float]] = field(default_factory=list)  # --gc-log: (end, gen, ms)
    driver_cpu_s: float = 0.0


def revision() -> str:
    """The checkout's commit, read from .git's files (no git process: nothing takes the
    index lock while others work in the tree); the working tree may differ from it."""
    git = REPO / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:7]
        ref = head.removeprefix("ref: ")
        if (git / ref).exists():
            return (git / ref).read_text().strip()[:7]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:7]
    except OSError:
        pass
    return "unknown"


def tree_digest(tree: Path) -> str:
    """A short SHA-256 of every file of the product's copy: which working tree was measured."""
    sha = hashlib.sha256()
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        sha.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:12]


# -- the stations -------------------------------------------------------------------------

REGISTER = """
import json, sys
import django
django.setup()
from weatherstream import services, stations
from weatherstream.places import Place
out = []
for j, (lat, lon) in enumerate(json.loads(sys.argv[1])):
    place = Place(id=stations.new_id(), latitude=lat, longitude=lon, name=f"Bench station {j}")
    key = stations.new_key()
    services.station_create(place=place, key_hash=stations.digest(key))
    out.append([place.id, key])
print(json.dumps(out))
"""


def register_stations(args: argparse.Namespace, db: Path, count: int) -> list[tuple[str, str]]:
    """``count`` stations (id, key) in the migrated template database, on loadgen's land grid."""
    tree = args.tree  # the product's copy (servers.snapshot)
    env = dict(
        os.environ,
        PYTHONPATH=f"{tree / 'example'}:{tree / 'src'}",
        WEATHERSTREAM_VAR_DIR=str(db.parent),
        DJANGO_SETTINGS_MODULE="example.settings",
    )
    where = json.dumps([loadgen.location(j) for j in range(count)])
    done = subprocess.run(
        [args.python, "-c", REGISTER, where],
        cwd=tree / "example",
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return [(sid, key) for sid, key in json.loads(done.stdout.splitlines()[-1])]


# -- the driver ---------------------------------------------------------------------------


@dataclass
class Upload:
    loc: int
    started: float  # wall clock, before the connect
    answered: float = 0.0
    status: int = 0  # 0: no answer
    error: str = ""


async def upload_one(port: int, loc: int, station: tuple[str, str], sim: SimulatedStation) -> Upload:
    """One upload as a gateway makes it: connect, GET, read the answer to the close."""
    up = Upload(loc=loc, started=time.time())
    query = urlencode(wunderground_params(station[0], station[1], sim.step(up.started)))
    request = (
        f"GET {UPLOAD_PATH}?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "User-Agent: weatherstream-bench\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        async with asyncio.timeout(UPLOAD_TIMEOUT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            answer = await reader.read()
            writer.close()
    except (OSError, TimeoutError) as exc:
        up.error = type(exc).__name__
        return up
    up.answered = time.time()
    head = answer.split(b"\r\n", 1)[0].split()
    up.status = int(head[1]) if len(head) > 1 and head[1].isdigit() else 0
    if up.status == 0:
        up.error = "malformed answer"
    return up


async def drive(
    port: int, stations: list[tuple[str, str]], t0: float, t1: float, every: float, sample: Any
) -> tuple[list[Upload], Any, Any]:
    """Every station every ``every`` seconds from ``t0`` to ``t1``, round robin, each upload
    started on time whatever the others are doing; ``sample()`` at t0 and at t1."""
    sims = [SimulatedStation(rng=random.Random(j)) for j in range(len(stations))]
    step = every / len(stations)
    count = int((t1 - t0) / step)
    tasks = []
    await asyncio.sleep(max(0.0, t0 - time.time()))
    before = sample()
    for i in range(count):
        await asyncio.sleep(max(0.0, t0 + i * step - time.time()))
        loc = i % len(stations)
        tasks.append(asyncio.create_task(upload_one(port, loc, stations[loc], sims[loc])))
    await asyncio.sleep(max(0.0, t1 - time.time()))
    after = sample()
    return list(await asyncio.gather(*tasks)), before, after


# -- one row ------------------------------------------------------------------------------


def run_upload_row(
    name: str,
    shape: tuple[int, float],
    args: argparse.Namespace,
    workdir: Path,
    db: Path | None,
    stations: list[tuple[str, str]],
    run: int,
) -> StationRow:
    """Start the design, subscribe N to ``count`` stations, upload each every ``every``
    seconds for a window, stop."""
    count, every = shape
    kind = "baseline" if name in BASELINES.values() else "product"
    row = StationRow(name=name, kind=kind, n=args.n, run=run, stations=count, every=every)
    mine = stations[:count]
    a = argparse.Namespace(**vars(args))
    a.k, a.station_ids, a.profile, a.stalled, a.every = count, [sid for sid, _ in mine], 0.0, 0.0, every
    label = name.replace(UNFROZEN, "-unfrozen").replace(" @", "-at-")  # for file names
    tag = f"{label}-{count}st-{every:g}s-run{run}"
    servers, gens = Servers(), Generators()
    try:
        title = f"{name}, {count} station(s) every {every:g} s, run {run}/{args.runs}"
        if name.endswith(UNFROZEN):  # the server inherits it; the other rows run the default
            os.environ["WEATHERSTREAM_GC_FREEZE"] = "false"
        else:
            os.environ.pop("WEATHERSTREAM_GC_FREEZE", None)
        use_tree(args.trees.get(name, args.tree))  # --at: that commit's product
        servers.start(name.removesuffix(UNFROZEN).partition(" @")[0], a, workdir, db, tag, title)
        read_idle_rss(row, a, servers)
        gens.start(a.gen_procs)
        connect(row, a, servers, gens)
        if not row.subscribed:
            row.note = "no subscriber got through"
            return row
        t0 = measure_uploads(row, a, servers, gens, mine)
        if args.gc_log:
            row.gc_pauses = gc_pauses(workdir.glob(f"{tag}-*.log"), t0, t0 + args.window + TAIL)
        if args.profile:  # after the window: py-spy pauses the server for each sample
            prof = pyspy.start(servers.last_pid, label, f"uploads-{count}st-{every:g}s", a, args.profile)
            t0 = time.time() + 0.2
            asyncio.run(drive(servers.ports[0], mine, t0, t0 + args.profile, every, lambda: None))
            pyspy.stop(prof, wait=True)
        return row
    except Exception as exc:  # a broken server is a row with a note, not a broken run
        row.note = f"{type(exc).__name__}: {exc}"
        print(f"   FAILED: {row.note}", flush=True)
        return row
    finally:
        servers.stop()
        gens.close()


def measure_uploads(
    row: StationRow,
    args: argparse.Namespace,
    servers: Servers,
    gens: Generators,
    stations: list[tuple[str, str]],
) -> float:
    """After ``--settle`` s: upload for ``--window`` s; server, generator and driver CPU over
    it; then match every frame the generators saw to the upload it carries. Returns when
    the uploads began."""
    time.sleep(args.settle)
    pids, gen_pids = servers.pids(), gens.pids()
    t0 = time.time() + 0.5  # a moment for every generator to get the message
    t1 = t0 + args.window
    gens.send([("window", t0, t1 + TAIL, True)] * len(gens))

    def sample() -> tuple[tuple[float, float], float, float]:
        return procs.cpu_split(pids), procs.cpu_seconds(gen_pids), time.process_time()

    uploads, before, after = asyncio.run(drive(servers.ports[0], stations, t0, t1, args.every, sample))
    row.rss1_kib = procs.rss_kib(servers.pids())
    results = gens.recv_all(60 + TAIL)
    row.window = t1 - t0
    row.cpu_s = sum(after[0]) - sum(before[0])
    row.cpu_user_s = after[0][0] - before[0][0]
    row.gen_cpu_s = after[1] - before[1]
    row.driver_cpu_s = after[2] - before[2]
    tally_uploads(row, uploads, results)
    print(
        f"   window {args.window:.0f}s: {row.uploads_ok}/{row.uploads} uploads accepted, "
        f"{row.frames}/{row.expected} frames, server CPU {row.cpu_s / row.window * 100:.0f}%, "
        f"upload->frame {fmt_lat(row.lat_ms)} ms, published->frame {fmt_lat(row.fanout_ms)} ms, "
        f"answer {fmt_lat(row.answer_ms)} ms",
        flush=True,
    )
    return t0


def gc_pauses(logs: Any, t0: float, t1: float) -> list[tuple[float, int, float]]:
    """--gc-log: the collections bench/gclog.py noted in the servers' logs between t0 and t1."""
    found = []
    for log in logs:
        for line in Path(log).read_text(errors="replace").splitlines():
            if line.startswith("GCPAUSE "):
                f = dict(part.split("=", 1) for part in line.split()[1:])
                if t0 <= float(f["wall"]) <= t1:
                    found.append((float(f["wall"]), int(f["gen"]), float(f["ms"])))
    return sorted(found)


def upload_failures(uploads: list[Upload]) -> dict[str, int]:
    """The uploads not answered 200, counted by why (the driver's error, or the status)."""
    out: dict[str, int] = {}
    for u in uploads:
        if u.status != 200:
            key = u.error or f"HTTP {u.status}"
            out[key] = out.get(key, 0) + 1
    return out


def tally_uploads(row: StationRow, uploads: list[Upload], results: list[Any]) -> None:
    """Each frame belongs to the last upload of its station started before the server
    published it (uploads of one station are a second or more apart)."""
    row.uploads = len(uploads)
    row.uploads_ok = sum(1 for u in uploads if u.status == 200)
    add_counts(row.upload_errors, upload_failures(uploads))
    subscribers: dict[int, int] = {}
    for r in results:
        for loc, n in r["subscribers"].items():
            subscribers[int(loc)] = subscribers.get(int(loc), 0) + n
    starts: dict[int, list[float]] = {}
    accepted: set[tuple[int, int]] = set()  # (loc, its i-th upload) answered 200
    for u in sorted(uploads, key=lambda u: u.started):
        if u.status == 200:
            accepted.add((u.loc, len(starts.get(u.loc, []))))
        starts.setdefault(u.loc, []).append(u.started)
    got: dict[tuple[int, int], int] = {}
    latencies = array("d")
    arrivals = doubles([r["arrivals"] for r in results])
    for j in range(0, len(arrivals), 3):
        loc, published, received = int(arrivals[j]), arrivals[j + 1], arrivals[j + 2]
        mine = starts.get(loc, [])
        i = bisect.bisect_right(mine, published) - 1
        if i < 0:
            row.unmatched += 1
            continue
        got[(loc, i)] = got.get((loc, i), 0) + 1
        latencies.append(received - mine[i])
    row.expected = sum(subscribers.get(u.loc, 0) for u in uploads if u.status == 200)
    # an upload the driver gave up on may still be published later: its frames are not counted
    row.frames = sum(min(n, subscribers.get(key[0], 0)) for key, n in got.items() if key in accepted)
    row.lat_ms = pct(latencies)
    row.fanout_ms = pct(doubles([r["latencies"] for r in results]))
    row.answer_ms = pct([u.answered - u.started for u in uploads if u.status])
    late = sorted(uploads, key=lambda u: (u.answered or float("inf")) - u.started, reverse=True)
    row.slowest = [
        (u.started, round((u.answered - u.started) * 1e3, 1) if u.status else -1.0) for u in late[:10]
    ]
    row.closed = sum(r["closed_in_window"] for r in results)
    for r in results:
        add_counts(row.close_codes, r["close_codes"])
        add_counts(row.errors, r["errors"])


# -- the table ----------------------------------------------------------------------------

COLUMNS = [
    "design / server",
    "stations x subscribers",
    "subscribed",
    "uploads accepted / sent",
    "frames delivered / expected",
    "server CPU",
    "upload -> frame p50 / p99 / max (ms)",
    "published -> frame p50 / p99 (ms)",
    "upload answered p50 / p99 (ms)",
    "gen + driver CPU",
    "p99 vs plain",
]


def _median(rows: list[StationRow], get: Any) -> float | None:
    values = [v for v in (get(r) for r in rows if r.frames) if v is not None]
    return statistics.median(values) if values else None


def _ms(v: float | None, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def table(rows: list[StationRow], args: argparse.Namespace) -> str:
    """One line per (stations, design): medians over its runs; then each run's p99, notes
    and the goal's check for the product."""
    groups: dict[tuple[int, float, str], list[StationRow]] = {}
    for r in rows:
        groups.setdefault((r.stations, r.every, r.name), []).append(r)
    title = (
        f"N={args.n} subscribers, {args.window:.0f} s of uploads, "
        f"{args.gen_procs} generator process(es), {os.cpu_count()} CPUs, "
        f"product at {args.revision}" + (f"; medians of {args.runs} runs" if args.runs > 1 else "")
    )
    lines = [title, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    checks, notes = [], []
    for (count, every, name), runs in groups.items():
        plain = groups.get((count, every, PLAIN), [])
        p99 = _median(runs, lambda r: r.lat_ms.get("p99"))
        plain_p99 = _median(plain, lambda r: r.lat_ms.get("p99"))
        label = name + (" (baseline)" if runs[0].kind == "baseline" else "")
        shape = f"{count} x {args.n // count}, every {every:g} s"
        which = f"{count} station(s) every {every:g} s"
        if not any(r.frames for r in runs):
            note = "; ".join(sorted({r.note for r in runs if r.note})) or "no frames"
            lines.append("| " + " | ".join([label, shape, *("-" for _ in COLUMNS[2:-1]), note]) + " |")
            continue

        def med(get: Any, fmt: str = ".0f", runs: list[StationRow] = runs) -> str:
            return _ms(_median(runs, get), fmt)

        def spread(attr: str, *keys: str, runs: list[StationRow] = runs) -> str:
            """Percentiles of one latency, each the median over the runs."""
            got = [_median(runs, lambda row, key=k: getattr(row, attr).get(key)) for k in keys]
            return " / ".join(_ms(v, ".0f" if k == "max" else ".1f") for k, v in zip(keys, got))

        cells = [
            label,
            shape,
            f"{med(lambda r: r.subscribed)}/{args.n}",
            f"{med(lambda r: r.uploads_ok)} / {med(lambda r: r.uploads)}",
            f"{med(lambda r: r.frames)} / {med(lambda r: r.expected)} "
            f"({med(lambda r: r.frames / r.expected * 100 if r.expected else None, '.1f')}%)",
            med(lambda r: r.cpu_s / r.window * 100) + "%",
            spread("lat_ms", "p50", "p99", "max"),
            spread("fanout_ms", "p50", "p99"),
            spread("answer_ms", "p50", "p99"),
            med(lambda r: (r.gen_cpu_s + r.driver_cpu_s) / r.window * 100) + "%",
            f"{p99 / plain_p99:.2f}x" if p99 is not None and plain_p99 else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if args.runs > 1:
            each = ", ".join(_ms(r.lat_ms.get("p99")) for r in runs)
            notes.append(f"- {name}, {which}: upload -> frame p99 ms of each run {each}")
        for r in runs:
            bits = [r.note] if r.note else []
            bits += [f"upload failures {r.upload_errors}"] if r.upload_errors else []
            bits += [f"{r.unmatched} frames matched no upload"] if r.unmatched else []
            bits += [f"{r.closed} connections closed (codes {r.close_codes})"] if r.closed else []
            bits += [f"errors {r.errors}"] if r.errors else []
            if args.gc_log:
                full = [ms for _, gen, ms in r.gc_pauses if gen == 2]
                longest = f", longest {max(full):.0f} ms" if full else ""
                bits.append(f"{len(full)} full (gen 2) collections in the window{longest}")
            if bits:
                notes.append(f"- {name}, {which}, run {r.run}: " + "; ".join(bits))
        if runs[0].kind == "product" and p99 is not None:
            ok = p99 < GOAL_P99_MS
            at = "" if args.n >= GOAL_N else f" (measured at N={args.n}, not {GOAL_N})"
            checks.append(
                f"goal upload -> subscriber p99 < {GOAL_P99_MS:.0f} ms at N={GOAL_N}, {which}"
                f"{'' if name == product_server() else f' ({name})'}: "
                f"{p99:.1f} ms {'PASS' if ok else 'MISS'}{at}"
            )
    for block in (notes, checks):
        if block:
            lines += ["", *block]
    return "\n".join(lines)


# -- command line -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10000, help="subscribers (default 10000)")
    p.add_argument(
        "--stations",
        default="1,100",
        help="rows: station counts, each COUNT or COUNT@SECONDS between two uploads of a station "
        "(default 1,100)",
    )
    p.add_argument(
        "--every",
        type=float,
        default=1.0,
        help="seconds between two uploads of one station when a row does not say, at least 1 (default 1)",
    )
    p.add_argument("--window", type=float, default=20.0, help="seconds of uploads measured (default 20)")
    p.add_argument("--baselines", default="plain", help="plain or none (default plain)")
    p.add_argument("--runs", type=int, default=1, help="rounds, designs alternating (default 1)")
    p.add_argument("--gen-procs", type=int, default=1, help="load generator processes (default 1)")
    p.add_argument("--concurrency", type=int, default=200, help="connects in flight (default 200)")
    p.add_argument("--connect-timeout", type=float, default=120.0, help="cap on the connect phase, s")
    p.add_argument(
        "--conn-timeout", type=float, default=30.0, help="per-connection connect+subscribe timeout"
    )
    p.add_argument("--settle", type=float, default=3.0, help="seconds between connect phase and window")
    p.add_argument("--idle", type=float, default=2.0, help="seconds idle before the 0-client RSS reading")
    p.add_argument(
        "--profile",
        type=float,
        default=0.0,
        help="py-spy record each server for this many seconds of uploads after the window (0: off)",
    )
    p.add_argument(
        "--gc-log",
        action="store_true",
        help="start the servers through bench/gclog.py and count their slow garbage collections "
        "in each window",
    )
    p.add_argument(
        "--unfrozen",
        action="store_true",
        help=f"also run the product with WEATHERSTREAM_GC_FREEZE=false (a row named '...{UNFROZEN}')",
    )
    p.add_argument(
        "--at",
        action="append",
        default=[],
        metavar="REV",
        help="also run the product as committed at REV (git archive of src/ and example/; a row "
        "named '... @REV', and one for each --redis and --workers row); may be given more than once",
    )
    add_scaled_options(p)
    p.add_argument("--json", type=Path, help="also write every run's figures here")
    p.add_argument("--python", default=sys.executable, help="interpreter of the servers' venv")
    a = p.parse_args(argv)
    a.shapes = []
    for item in a.stations.split(","):
        count, _, every = item.strip().partition("@")
        a.shapes.append((int(count), float(every) if every else a.every))
    if any(every < 1 for _, every in a.shapes):
        p.error(
            "a station uploads at most once a second: dateutc has whole seconds, and the "
            "product sends a second upload of one station within the same second to nobody"
        )
    if a.runs < 1 or any(c < 1 or c > a.n for c, _ in a.shapes):
        p.error("--runs and each station count must be at least 1, the counts at most --n")
    a.designs = ([PLAIN] if a.baselines == "plain" else []) + [product_server()]
    if a.unfrozen:
        a.designs.append(product_server() + UNFROZEN)
    a.designs += scaled_designs(a)  # the driver uploads to the first server
    a.textbook_ws = "websockets-sansio"  # servers.design() asks; no textbook row here
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    os.environ["WEATHERSTREAM_STATION_MIN_INTERVAL"] = "0"  # every server inherits it
    workdir = Path(tempfile.mkdtemp(prefix="wsbench-stations-"))
    args.revision = revision()
    if args.gc_log:  # the servers' interpreter becomes a script that runs it through gclog.py
        wrapper = workdir / "python-gclog"
        wrapper.write_text(f'#!/bin/sh\nexec "{args.python}" "{BENCH / "gclog.py"}" "$@"\n')
        wrapper.chmod(0o755)
        os.environ["PATH"] = f"{Path(args.python).parent}:{os.environ['PATH']}"  # py-spy stays found
        args.python = str(wrapper)
    started = time.monotonic()
    rows: list[StationRow] = []
    try:
        args.tree = snapshot(workdir)  # edits to the checkout during the run do not reach the servers
        products = [d for d in args.designs if d != PLAIN and not d.endswith(UNFROZEN)]
        args.trees = trees_at(args.at, products, workdir)
        args.designs += list(args.trees)
        args.revision += f" (src/ and example/ as copied: {tree_digest(args.tree)})"
        db = migrate_template(args, workdir)
        stations = register_stations(args, db, max(count for count, _ in args.shapes))
        for shape in args.shapes:
            for run in range(1, args.runs + 1):
                for name in args.designs:
                    rows.append(run_upload_row(name, shape, args, workdir, db, stations, run))
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
    finally:
        procs.stop_all()
    print(f"\n{table(rows, args)}\n\n(total {time.monotonic() - started:.0f}s; server logs in {workdir})")
    if args.json:
        raw = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": [r.__dict__ for r in rows]}
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

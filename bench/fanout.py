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
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The bench modules import each other by name, and servers.py imports scripts.makeflags.
BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

import procs  # noqa: E402
import report  # noqa: E402
from measure import run_row  # noqa: E402
from row import Row  # noqa: E402
from servers import (  # noqa: E402
    BASELINES,
    CLUSTER_SERVERS,
    PRODUCT_SERVERS,
    STALLED,
    WATCHERS_OFF,
    add_scaled_options,
    migrate_template,
    scaled_designs,
    trees_at,
    use_tree,
)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print(report.from_json(args.report))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    workdir = Path(tempfile.mkdtemp(prefix="wsbench-"))
    args.revision = revision()
    started = time.monotonic()
    rows = run_all(args, workdir)
    out = report.table(rows, args)
    print(f"\n{out}\n\n(total {time.monotonic() - started:.0f}s; server logs in {workdir})")
    if args.json:
        report.write_json(args.json, args, rows)
    return 0


def run_all(args: argparse.Namespace, workdir: Path) -> list[Row]:
    """Every selected row, in --runs rounds (baselines first in each); on Ctrl-C/SIGTERM,
    the rows measured so far. Every process started is stopped either way."""
    rows: list[Row] = []
    try:
        db = migrate_template(args, workdir) if args.server_list else None
        args.station_pairs = soak_stations(args, db)
        trees = trees_at(args.at, args.server_list, workdir)
        for run in range(1, args.runs + 1):
            for name in args.baseline_list + args.server_list + list(trees):
                use_tree(trees.get(name, REPO))  # --at: that commit's product
                rows.append(run_row(name, args, workdir, db, run))
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
    finally:
        procs.stop_all()
    return rows


def soak_stations(args: argparse.Namespace, db: Path | None) -> list[tuple[str, str]]:
    """--soak: the stations that upload, (id, key), registered in the template database
    (the baselines check no key: made-up ones when no product row runs)."""
    if not args.soak or not args.soak_stations:
        return []
    if db is None:
        return [(f"st-soak{j}", "unchecked") for j in range(args.soak_stations)]
    import stations  # loads the product's CLI module for its uploads

    args.tree = REPO
    return stations.register_stations(args, db, args.soak_stations)


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


# -- command line -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_row_options(p)
    _add_load_options(p)
    _add_other_options(p)
    a = p.parse_args(argv)
    if a.runs < 1:
        p.error("--runs must be at least 1")
    if not 1 <= a.places_per_client <= a.k:
        p.error("--places-per-client must be between 1 and --k")
    if a.places_per_client > 1 and a.storm:
        p.error("--storm resubscribes one place per subscriber: leave out --places-per-client")
    # the rows to run, by design name
    a.server_list = [] if a.servers == "none" else [s.strip() for s in a.servers.split(",") if s.strip()]
    a.baseline_list = [] if a.baselines == "none" else [BASELINES[b.strip()] for b in a.baselines.split(",")]
    a.server_list += scaled_designs(a)
    if a.stalled:
        a.server_list += [s + STALLED for s in a.server_list if s not in CLUSTER_SERVERS.values()]
    if a.watchers_off:
        a.server_list += [s + WATCHERS_OFF for s in a.server_list if not s.endswith(STALLED)]
    return a


def _add_row_options(p: argparse.ArgumentParser) -> None:
    """The load's size and the rows: which designs, how many runs."""
    p.add_argument("--n", type=int, default=2000, help="subscribers (default 2000)")
    p.add_argument("--k", type=int, default=50, help="locations, round robin (default 50)")
    p.add_argument("--window", type=float, default=20.0, help="measuring window, seconds (default 20)")
    p.add_argument(
        "--places-per-client",
        type=int,
        default=1,
        metavar="M",
        help="places each subscriber watches: its own (i %% K) and the M-1 after it (default 1)",
    )
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
    add_scaled_options(p)
    p.add_argument(
        "--stalled",
        type=float,
        default=0.0,
        metavar="F",
        help="also run each product server with this fraction of subscribers that stop reading "
        "after subscribing (issue #5: e.g. 0.1); the fast ones' p99 is compared with the run without",
    )
    p.add_argument(
        "--watchers-off",
        action="store_true",
        help="also run each product server with no watchers frames (issue 17: what they cost)",
    )
    p.add_argument(
        "--storm",
        action="store_true",
        help="after each row's window, restart its server: every subscriber reconnects at once "
        "and resubscribes with since (issue 17's reconnect storm; bench/storm.py)",
    )
    p.add_argument(
        "--storm-outage", type=float, default=2.0, help="--storm: seconds the server is down (default 2)"
    )
    p.add_argument(
        "--storm-check",
        type=float,
        default=3.0,
        help="--storm: seconds of live frames after the storm that the continuity check covers (default 3)",
    )

    p.add_argument(
        "--soak",
        type=float,
        default=0.0,
        metavar="S",
        help="after each row's window, S seconds in minutes: a tenth of the subscribers reconnect "
        "(with since) each minute, stations upload every 16 s; RSS, errors and p99 per minute "
        "(issue 18; bench/soak.py)",
    )
    p.add_argument("--soak-minute", type=float, default=60.0, help="--soak: seconds per step (default 60)")
    p.add_argument(
        "--soak-stations",
        type=int,
        default=10,
        help="--soak: stations registered in the product's database, each uploading every 16 s (default 10)",
    )


def _add_load_options(p: argparse.ArgumentParser) -> None:
    """The load generator: processes, connects, timings, the round-trip sample."""
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


def _add_other_options(p: argparse.ArgumentParser) -> None:
    """Profiling, the textbook baseline's WebSocket implementation, output, the servers' Python."""
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
    p.add_argument(
        "--at",
        action="append",
        default=[],
        metavar="REV",
        help="also run each product server as committed at REV (git archive of src/ and example/; "
        "rows named '... @REV'); may be given more than once",
    )
    p.add_argument("--json", type=Path, help="also write raw results here")
    p.add_argument(
        "--report",
        type=Path,
        metavar="JSON",
        help="run nothing: print the table and target checks again from a file written by --json",
    )
    p.add_argument("--python", default=sys.executable, help="interpreter of the servers' venv")


if __name__ == "__main__":
    raise SystemExit(main())

"""The reconnect storm (issue 17, ``fanout.py --storm``): after a row's window, its server
restarts and every subscriber connects again at once, resubscribing with ``since`` (the
``observed_at`` of the last reading it got), as client.js does after any reconnect.

Measured: how long until all N are subscribed again and until the last replayed reading has
arrived, the server's CPU over that time, how many readings were replayed, and whether every
subscriber then holds an unbroken series: each connection's readings after its ``since``
(replayed, then live) must be in order, none twice, and none missing that another
subscriber of its place got inside the same span.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import measure  # measure runs this step: its names are looked up at call time
import procs
from row import Row
from servers import Servers

TRACK = 2.5  # seconds of frames before the restart, so every subscriber has a last reading


def measure_storm(row: Row, args: argparse.Namespace, servers: Servers, gens: measure.Generators) -> None:
    """Restart the servers and time the storm of resubscriptions with ``since``."""
    g = len(gens)
    gens.send([("track",)] * g)
    gens.recv_all(30)
    time.sleep(TRACK)
    servers.restart(args.storm_outage)
    pids = servers.pids()
    rss0, cpu0, t0 = procs.rss_kib(pids), procs.cpu_seconds(pids), time.time()
    gens.send([("storm", measure.connect_job(j, g, servers.ports, row.name, args)) for j in range(g)])
    connects = gens.recv_all(args.connect_timeout + args.conn_timeout + 60)
    pids = servers.pids()
    cpu1, t1 = procs.cpu_seconds(pids), time.time()
    gens.send([("storm_check", args.storm_check)] * g)
    checks = gens.recv_all(args.storm_check + 60)
    t_first = min((r["t_first"] for r in connects if r["t_first"]), default=t0)
    t_last = max(r["t_last"] for r in connects)
    t_replay = max(c["t_last_replay"] for c in checks)
    storm: dict[str, Any] = {
        "subscribed": sum(r["ok"] for r in connects),
        "failures": {},
        "without_since": sum(r["without_since"] for r in connects),
        "seconds_to_subscribed": max(0.0, t_last - t_first),
        "seconds_to_last_replay": max(0.0, t_replay - t_first) if t_replay else None,
        "cpu_s": cpu1 - cpu0,
        "seconds": t1 - t0,
        "rss_growth_kib": procs.rss_kib(pids) - rss0,
        "recovered": sum(c["recovered"] for c in checks),
        "not_recovered": sum(c["not_recovered"] for c in checks),
        "replayed": sum(c["replayed"] for c in checks),
        "watchers_frames": sum(c["watchers_frames"] for c in checks),
        "closed": sum(c["closed"] for c in checks),
        **continuity([client for c in checks for client in c["clients"]]),
    }
    for r in connects:
        measure.add_counts(storm["failures"], r["failures"])
    for c in checks:
        measure.add_counts(row.errors, c["errors"])
    row.storm = storm
    print(f"   storm: {describe(storm)}", flush=True)


def continuity(clients: list[tuple[int, str, list[str]]]) -> dict[str, int]:
    """Each (place, since, readings received after since in order) against the others.

    A reading is missing from a connection when another subscriber of its place got it, it
    is newer than the connection's ``since`` and not newer than the connection's last one.
    """
    union: dict[int, set[str]] = {}
    for loc, _, seen in clients:
        union.setdefault(loc, set()).update(seen)
    out = {"checked": len(clients), "out_of_order": 0, "duplicated": 0, "gaps": 0, "missing": 0, "empty": 0}
    for loc, since, seen in clients:
        if not seen:
            out["empty"] += 1
            continue
        if any(b <= a for a, b in zip([since, *seen], seen)):  # ISO 8601 UTC, one format
            out["out_of_order"] += 1
        if len(set(seen)) < len(seen):
            out["duplicated"] += 1
        last = max(seen)
        missing = {x for x in union[loc] if since < x <= last} - set(seen)
        if missing:
            out["gaps"] += 1
            out["missing"] += len(missing)
    return out


def describe(s: dict[str, Any]) -> str:
    """One line of the storm's figures, for the progress output and the notes."""
    replay = s["seconds_to_last_replay"]
    return (
        f"{s['subscribed']} resubscribed in {s['seconds_to_subscribed']:.2f}s, last replay at "
        f"{'-' if replay is None else f'{replay:.2f}s'}, {s['replayed']} readings replayed "
        f"(recovered {s['recovered']}, not {s['not_recovered']}), server CPU "
        f"{s['cpu_s']:.1f}s over {s['seconds']:.1f}s, {s['watchers_frames']} watchers frames; "
        f"continuity of {s['checked']}: {s['gaps']} with gaps ({s['missing']} readings), "
        f"{s['duplicated']} with duplicates, {s['out_of_order']} out of order, {s['empty']} empty"
    )

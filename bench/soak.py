"""The soak (issue 18, ``fanout.py --soak S``): S seconds of steady fan-out after a row's
window, in minutes. At the start of each minute a tenth of the subscribers (a different
tenth each minute) drop their connection and connect again, resubscribing with ``since``
as client.js does; the rest of the minute is a measuring window. With ``--soak-stations``
(default 10) registered stations upload every 16 s in the Weather Underground format
throughout, each on its own connection as a gateway does.

Per minute: the server's RSS at its end, frames delivered against expected, frame latency,
the reconnects, and every error (a failed reconnect, a connection closed by the server, an
``error`` frame, an upload not answered 200). The targets: RSS at the end within 2% of the
first minute's, no error, p99 stable (no minute of the second half above twice the median
minute of the first half).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from typing import Any

import loadgen
import measure  # measure runs this step: its names are looked up at call time
import procs
from row import Row
from servers import Servers

PARTS = 10  # a tenth of the subscribers reconnect each minute
UPLOAD_EVERY = 16.0  # seconds between two uploads of one station (an Ecowitt gateway's shortest)


def measure_soak(row: Row, args: argparse.Namespace, servers: Servers, gens: measure.Generators) -> None:
    """Minutes of fan-out with reconnects and uploads; the figures go to ``row.soak``."""
    g = len(gens)
    gens.send([("track",)] * g)  # each connection notes its last reading: its since
    gens.recv_all(30)
    several = measure.several_processes(servers)
    start = time.time()
    end = start + args.soak
    uploads = _Uploads(servers.ports[0], args.station_pairs, start, end) if args.station_pairs else None
    minutes: list[dict[str, Any]] = []
    seen = dict(row.errors)  # the generators count errors from their start: each minute takes the new ones
    while end - time.time() >= args.soak_minute / 2:  # on Ctrl-C the uploads' thread (a daemon) is left
        minutes.append(_minute(len(minutes), row, args, servers, gens, several, end, seen))
        print(f"   soak minute {len(minutes)}: {_describe_minute(minutes[-1])}", flush=True)
    sent, upload_errors = uploads.finish() if uploads is not None else ([], {})
    for m in minutes:
        mine = [u for u in sent if m["t_start"] <= u.started < m["t_end"]]
        m["uploads_sent"] = len(mine)
        m["uploads_ok"] = sum(1 for u in mine if u.status == 200)
    row.soak = summary(minutes, len(sent), sum(1 for u in sent if u.status == 200), upload_errors)
    for m in minutes:
        measure.add_counts(row.errors, m["errors"])
    measure.add_counts(row.errors, upload_errors)
    print(f"   soak: {describe(row.soak)}", flush=True)


def _minute(
    index: int,
    row: Row,
    args: argparse.Namespace,
    servers: Servers,
    gens: measure.Generators,
    several: bool,
    end: float,
    seen: dict[str, int],
) -> dict[str, Any]:
    """One minute: a tenth reconnect, then a window to the minute's end. ``seen``: the
    generators' error counts so far (updated)."""
    g = len(gens)
    t_start = time.time()
    job = {"part": index % PARTS, "parts": PARTS}
    gens.send(
        [("reconnect", measure.connect_job(j, g, servers.ports, row.name, args) | job) for j in range(g)]
    )
    reconnects = gens.recv_all(args.connect_timeout + args.conn_timeout + 60)
    t_reconnected = time.time()
    t0 = t_reconnected + 0.3
    t1 = max(t0 + 1.0, min(t_start + args.soak_minute, end) - loadgen.LATE_GRACE)
    pids = servers.pids()
    cpu_a = procs.cpu_seconds(pids)
    gens.send([("window", t0, t1, False, several)] * g)
    results = gens.recv_all(t1 - time.time() + 60)
    cpu_b = procs.cpu_seconds(servers.pids())
    window = Row(name=row.name, kind=row.kind)
    measure.tally_window(window, results, (t0, t1) if several else None)
    failures: dict[str, int] = {}
    for r in reconnects:
        measure.add_counts(failures, r["failures"])
    errors = {k: n - seen.get(k, 0) for k, n in window.errors.items() if n > seen.get(k, 0)}
    seen.update(window.errors)
    closed = window.closed + sum(r["closed"] for r in reconnects)  # by the server, not by the reconnect
    if closed:
        errors["closed by the server"] = closed
    return {
        "t_start": t_start,
        "t_end": time.time(),
        "rss_kib": procs.rss_kib(servers.pids()),
        "cpu_pct": (cpu_b - cpu_a) / (t1 - t0) * 100,
        "reconnected": sum(r["ok"] for r in reconnects),
        "dropped": sum(r["dropped"] for r in reconnects),
        "reconnect_seconds": t_reconnected - t_start,
        "reconnect_failures": failures,
        "window_s": t1 - t0,
        "publications": window.publications,
        "frames": window.frames,
        "expected": window.expected,
        "lat_ms": window.lat_ms,
        "errors": errors,
    }


def summary(
    minutes: list[dict[str, Any]], uploads_sent: int, uploads_ok: int, upload_errors: dict[str, int]
) -> dict[str, Any]:
    """The soak's verdicts from its minutes and all its uploads."""
    if not minutes:
        return {"minutes": []}
    first, last = minutes[0]["rss_kib"], minutes[-1]["rss_kib"]
    p99s = [m["lat_ms"].get("p99", 0.0) for m in minutes]
    half = max(1, len(p99s) // 2)
    errors: dict[str, int] = {}
    for m in minutes:
        measure.add_counts(errors, m["errors"])
        measure.add_counts(errors, {f"reconnect: {k}": v for k, v in m["reconnect_failures"].items()})
    measure.add_counts(errors, upload_errors)
    short = sum(max(0, m["expected"] - m["frames"]) for m in minutes)
    if short:
        errors["frames not delivered"] = short
    return {
        "minutes": minutes,
        "rss_first_kib": first,
        "rss_last_kib": last,
        "rss_growth_pct": (last - first) / first * 100 if first else 0.0,
        "p99_first_half_ms": statistics.median(p99s[:half]),
        "p99_second_half_max_ms": max(p99s[half:] or p99s),
        "errors": errors,
        "uploads_sent": uploads_sent,
        "uploads_ok": uploads_ok,
    }


def targets(name: str, s: dict[str, Any]) -> list[str]:
    """The soak's three targets for one run, PASS or MISS."""
    if not s.get("minutes"):
        return [f"{name}: soak: no minute measured MISS"]
    growth = s["rss_growth_pct"]
    stable = s["p99_second_half_max_ms"] <= 2 * s["p99_first_half_ms"]
    return [
        f"{name}: soak target RSS at the end within 2% of the first minute's: "
        f"{s['rss_first_kib'] / 1024:.1f} -> {s['rss_last_kib'] / 1024:.1f} MiB ({growth:+.2f}%) "
        f"{'PASS' if abs(growth) <= 2 else 'MISS'}",
        f"{name}: soak target no error: {s['errors'] or 'none'} {'PASS' if not s['errors'] else 'MISS'}",
        f"{name}: soak target p99 stable (no second-half minute above 2x the first half's median): "
        f"{s['p99_first_half_ms']:.1f} ms, then at most {s['p99_second_half_max_ms']:.1f} ms "
        f"{'PASS' if stable else 'MISS'}",
    ]


def _describe_minute(m: dict[str, Any]) -> str:
    return (
        f"{m['reconnected']}/{m['dropped']} reconnected in {m['reconnect_seconds']:.1f}s, "
        f"{m['frames']}/{m['expected']} frames, p50/p99/max {measure.fmt_lat(m['lat_ms'])} ms, "
        f"CPU {m['cpu_pct']:.0f}%, RSS {m['rss_kib'] / 1024:.1f} MiB, errors {m['errors'] or 0}"
    )


def describe(s: dict[str, Any]) -> str:
    """One line of the soak's figures."""
    if not s.get("minutes"):
        return "no minute measured"
    return (
        f"{len(s['minutes'])} minutes, RSS {s['rss_first_kib'] / 1024:.1f} -> "
        f"{s['rss_last_kib'] / 1024:.1f} MiB ({s['rss_growth_pct']:+.2f}%), p99 first half "
        f"{s['p99_first_half_ms']:.1f} ms, second half at most {s['p99_second_half_max_ms']:.1f} ms, "
        f"uploads {s['uploads_ok']}/{s['uploads_sent']} answered 200, errors {s['errors'] or 'none'}"
    )


class _Uploads:
    """The stations' uploads, driven by bench/stations.py's driver in a thread of its own."""

    def __init__(self, port: int, pairs: list[tuple[str, str]], t0: float, t1: float) -> None:
        import stations  # the driver; imported here: it loads the product's CLI module

        self.result: list[Any] = []
        self.failure: str | None = None
        self.t1 = t1
        self.timeout = stations.UPLOAD_TIMEOUT
        self.thread = threading.Thread(
            target=self._run,
            args=(stations.drive(port, pairs, t0, t1, UPLOAD_EVERY, lambda: None),),
            daemon=True,
        )
        self.thread.start()

    def _run(self, drive: Any) -> None:
        try:
            self.result.extend(asyncio.run(drive)[0])
        except Exception as exc:  # noqa: BLE001 - reported as an error of the soak
            self.failure = f"{type(exc).__name__}: {exc}"[:120]

    def finish(self) -> tuple[list[Any], dict[str, int]]:
        """Every upload made (after the soak's end and its last answers), and the errors:
        those not answered 200, inside a minute or not, and the driver's own failure."""
        import stations

        self.thread.join(timeout=max(0.0, self.t1 - time.time()) + self.timeout + 30.0)
        sent = list(self.result)
        errors = {f"upload: {k}": v for k, v in stations.upload_failures(sent).items()}
        failure = "did not finish" if self.thread.is_alive() else self.failure
        if failure:
            errors[f"upload driver: {failure}"] = 1
        return sent, errors

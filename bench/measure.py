"""One run of one row, in steps: start the design's servers, read idle RSS, connect N
subscribers, measure a window of steady fan-out, sample round trips, stop everything."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from array import array
from pathlib import Path
from typing import Any

import loadgen
import procs
import pyspy
import soak
import storm
from row import Row
from servers import BASELINES, STALLED, Servers


def run_row(
    name: str, args: argparse.Namespace, workdir: Path, db_template: Path | None, run: int = 1
) -> Row:
    """One run of the design ``name``: start it, measure it under N subscribers, stop it."""
    row = Row(name=name, kind="baseline" if name in BASELINES.values() else "product", n=args.n, run=run)
    label = name.replace(" @", "-at-")  # for file names
    tag = f"{label}-run{run}" if args.runs > 1 else label
    title = f"{name} [run {run}/{args.runs}]" if args.runs > 1 else name
    servers, gens = Servers(), Generators()
    try:
        servers.start(name.partition(" @")[0], args, workdir, db_template, tag, title)
        read_idle_rss(row, args, servers)
        gens.start(args.gen_procs)
        connect(row, args, servers, gens)
        if not row.subscribed:
            row.note = "no subscriber got through"
            return row
        measure_window(row, args, servers, gens)
        if args.profile:  # after the window: py-spy pauses the server for each sample
            pyspy.stop(pyspy.start(servers.last_pid, name, "steady", args, args.profile), wait=True)
        if args.soak:  # before the round trips, whose second subscriptions would count as frames
            soak.measure_soak(row, args, servers, gens)
        measure_round_trips(row, args, gens)
        if args.storm:
            storm.measure_storm(row, args, servers, gens)
        return row
    except Exception as exc:  # a broken server is a row with a note, not a broken run
        row.note = f"{type(exc).__name__}: {exc}"
        print(f"   FAILED: {row.note}", flush=True)
        return row
    finally:
        servers.stop()
        gens.close()


# -- load generators --------------------------------------------------------------------


class Generators:
    """The load generator processes (bench/loadgen.py), each driven over its pipe."""

    def __init__(self) -> None:
        self.gens: list[tuple[Any, Any]] = []  # (process, pipe)

    def start(self, count: int) -> None:
        ctx = mp.get_context("spawn")
        for _ in range(count):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=loadgen.run, args=(child,), daemon=True)
            p.start()
            self.gens.append((p, parent))

    def __len__(self) -> int:
        return len(self.gens)

    def pids(self) -> list[int]:
        return [p.pid for p, _ in self.gens]

    def send(self, messages: list[tuple[Any, ...]]) -> None:
        """One message to each generator, in order."""
        for (_, pipe), message in zip(self.gens, messages):
            pipe.send(message)

    def recv_all(self, timeout: float) -> list[Any]:
        """One answer from each generator; raises if one dies or stays silent past ``timeout``."""
        out = []
        deadline = time.monotonic() + timeout
        for proc, pipe in self.gens:
            while not pipe.poll(0.5):
                if not proc.is_alive():
                    raise RuntimeError(f"load generator {proc.pid} died (exit {proc.exitcode})")
                if time.monotonic() > deadline:
                    raise TimeoutError("load generator did not answer")
            out.append(pipe.recv())
        return out

    def close(self) -> None:
        """Ask each generator to close its connections and exit; kill it if it does not."""
        for p, pipe in self.gens:
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


# -- the steps --------------------------------------------------------------------------


def read_idle_rss(row: Row, args: argparse.Namespace, servers: Servers) -> None:
    """The design's RSS with no clients, after ``--idle`` seconds."""
    time.sleep(args.idle)
    row.rss0_kib = procs.rss_kib(servers.pids())
    print(f"   ready; idle RSS {row.rss0_kib / 1024:.0f} MiB", flush=True)


def connect(row: Row, args: argparse.Namespace, servers: Servers, gens: Generators) -> None:
    """The connect phase: the generators share the N subscribers, each subscribing to location i % K."""
    prof = (
        pyspy.start(servers.last_pid, row.name, "connect", args, args.connect_timeout)
        if args.profile
        else None
    )
    g = len(gens)
    gens.send([("connect", connect_job(j, g, servers.ports, row.name, args)) for j in range(g)])
    results = gens.recv_all(args.connect_timeout + args.conn_timeout + 60)
    pyspy.stop(prof)
    tally_connects(row, results)
    print(
        f"   subscribed {row.subscribed}/{args.n} in {row.connect_seconds:.2f}s "
        f"({row.connects_per_s:.0f}/s) failures={row.connect_failures or 0}",
        flush=True,
    )


def connect_job(j: int, g: int, ports: list[int], name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Generator ``j`` of ``g``: subscribers j, j+g, j+2g, … and its share of the connects in flight."""
    return {
        "host": "127.0.0.1",
        "ports": ports,
        "path": "/ws/weather/",
        "k": args.k,
        "stations": getattr(args, "station_ids", None),  # bench/stations.py: subscribe to these
        "indices": list(range(j, args.n, g)),
        "concurrency": max(1, args.concurrency // g),
        "stalled": args.stalled if name.endswith(STALLED) else 0.0,
        "places_per_client": getattr(args, "places_per_client", 1),
        "conn_timeout": args.conn_timeout,
        "phase_timeout": args.connect_timeout,
    }


def tally_connects(row: Row, results: list[Any]) -> None:
    row.subscribed = sum(r["ok"] for r in results)
    row.stalled = sum(r["stalled"] for r in results)
    for r in results:
        add_counts(row.connect_failures, r["failures"])
    t_first = min(r["t_first"] for r in results if r["t_first"])
    t_last = max(r["t_last"] for r in results)
    row.connect_seconds = max(0.0, t_last - t_first)
    row.connects_per_s = row.subscribed / row.connect_seconds if row.connect_seconds > 0 else 0.0


def measure_window(row: Row, args: argparse.Namespace, servers: Servers, gens: Generators) -> None:
    """Steady fan-out: after ``--settle`` s, server and generator CPU over ``--window`` s,
    the server's RSS at its end, and the frames the generators got for it."""
    time.sleep(args.settle)
    pids = servers.pids()
    gen_pids = gens.pids()
    t0 = time.time() + 0.3  # a moment for every generator to get the message
    t1 = t0 + args.window
    several = several_processes(servers)
    by_tick = getattr(args, "places_per_client", 1) > 1
    gens.send([("window", t0, t1, False, several, by_tick)] * len(gens))
    time.sleep(max(0.0, t0 - time.time()))
    split_a, gcpu_a = procs.cpu_split(pids), procs.cpu_seconds(gen_pids)
    time.sleep(max(0.0, t1 - time.time()))
    split_b, gcpu_b = procs.cpu_split(pids), procs.cpu_seconds(gen_pids)
    cpu_a, cpu_b = sum(split_a), sum(split_b)
    row.cpu_user_s = split_b[0] - split_a[0]
    row.rss1_kib = procs.rss_kib(servers.pids())
    results = gens.recv_all(60)
    row.window = args.window
    row.cpu_s = cpu_b - cpu_a
    row.gen_cpu_s = gcpu_b - gcpu_a
    tally_window(row, results, (t0, t1) if several else None)
    print(
        f"   window {args.window:.0f}s: {row.frames}/{row.expected} frames "
        f"({row.publications} publications of {args.k} locations), "
        f"server CPU {row.cpu_s / args.window * 100:.0f}% "
        f"(user {row.cpu_user_s / max(row.cpu_s, 1e-9) * 100:.0f}% of it), "
        f"{row.cpu_us_per_frame or 0:.1f} us/frame, latency {fmt_lat(row.lat_ms)} ms, "
        f"RSS +{(row.rss1_kib - row.rss0_kib) / 1024:.0f} MiB",
        flush=True,
    )


def several_processes(servers: Servers) -> bool:
    """Whether several server processes serve the subscribers (--redis, --workers): each
    stamps its own ``published_at`` on one reading, so frames are counted by reading."""
    return len(servers.ports) > 1 or any("--workers" in cmd for (cmd, *_), _ in servers.parts)


def tally_window(row: Row, results: list[Any], by_reading: tuple[float, float] | None = None) -> None:
    row.frames = sum(r["frames"] for r in results)
    row.expected, row.publications = expected_frames(results)
    if by_reading is not None:
        row.frames, row.expected, row.publications = reading_frames(results, *by_reading)
    row.lat_ms = pct(doubles([r["latencies"] for r in results]))
    row.tick_lat_ms = pct(doubles([r.get("tick_latencies", b"") for r in results]))
    row.closed = sum(r["closed_in_window"] for r in results)
    for r in results:
        add_counts(row.close_codes, r["close_codes"])
        add_counts(row.errors, r["errors"])


def expected_frames(results: list[Any]) -> tuple[int, int]:
    """(frames expected, publications) in the window.

    Expected: every publication of a location inside the window (seen by any of its
    subscribers, in any generator process) reaching each of its open subscribers.
    """
    publications: dict[int, set[float]] = {}
    subscribers: dict[int, int] = {}
    for r in results:
        for loc, seen in r["publications"].items():
            publications.setdefault(int(loc), set()).update(seen)
        for loc, count in r["subscribers"].items():
            subscribers[int(loc)] = subscribers.get(int(loc), 0) + count
    expected = sum(len(publications.get(loc, ())) * count for loc, count in subscribers.items())
    return expected, sum(len(seen) for seen in publications.values())


def reading_frames(results: list[Any], t0: float, t1: float) -> tuple[int, int, int]:
    """(frames, expected, publications) counted by reading, for several server processes:
    each stamps its own published_at on one reading, so a reading is one publication,
    inside the window when its earliest stamp is."""
    counts: dict[tuple[int, str], int] = {}
    first: dict[tuple[int, str], float] = {}
    subscribers: dict[int, int] = {}
    for r in results:
        for loc, key, n, at in r["readings"]:
            counts[loc, key] = counts.get((loc, key), 0) + n
            first[loc, key] = min(first.get((loc, key), at), at)
        for loc, count in r["subscribers"].items():
            subscribers[int(loc)] = subscribers.get(int(loc), 0) + count
    inside = [key for key, at in first.items() if t0 <= at <= t1]
    frames = sum(counts[key] for key in inside)
    expected = sum(subscribers.get(loc, 0) for loc, _ in inside)
    return frames, expected, len(inside)


def measure_round_trips(row: Row, args: argparse.Namespace, gens: Generators) -> None:
    """Ping and subscribe round trips on a sample of connections, with the fan-out still running."""
    sample, g = min(args.rtt_sample, row.subscribed), len(gens)
    job = {"pings": args.rtt_pings, "spread": args.rtt_spread, "timeout": 10.0, "k": args.k}
    gens.send([("rtt", {"sample": sample // g + (1 if j < sample % g else 0)} | job) for j in range(g)])
    results = gens.recv_all(args.rtt_spread + args.rtt_pings * 10 + 30)
    pings, subs = doubles([r["pings"] for r in results]), doubles([r["subs"] for r in results])
    row.ping_rtt_ms, row.sub_rtt_ms = pct(pings), pct(subs)
    row.rtt_samples_ms = {
        "ping": [round(x * 1e3, 3) for x in pings],
        "subscribe": [round(x * 1e3, 3) for x in subs],
    }
    for r in results:
        add_counts(row.rtt_failures, r["failures"])
    print(
        f"   subscribe RTT {fmt_lat(row.sub_rtt_ms)} ms, ping RTT {fmt_lat(row.ping_rtt_ms)} ms"
        f"{' failures=' + str(row.rtt_failures) if row.rtt_failures else ''}",
        flush=True,
    )


# -- arithmetic -------------------------------------------------------------------------


def add_counts(total: dict[str, int], counts: dict[Any, int]) -> None:
    """Add ``counts`` into ``total``, keys as strings (close codes arrive as ints)."""
    for key, c in counts.items():
        total[str(key)] = total.get(str(key), 0) + c


def pct(values: array[float] | list[float], scale: float = 1e3) -> dict[str, float]:
    if not len(values):
        return {}
    s = sorted(values)
    n = len(s)

    def q(p: float) -> float:
        return s[min(n - 1, int(p * n))] * scale

    return {"p50": q(0.50), "p99": q(0.99), "max": s[-1] * scale, "n": n}


def doubles(blobs: list[bytes]) -> array[float]:
    out = array("d")
    for b in blobs:
        out.frombytes(b)
    return out


def fmt_lat(d: dict[str, float]) -> str:
    if not d:
        return "-"
    return f"{d['p50']:.1f} / {d['p99']:.1f} / {d['max']:.0f}"

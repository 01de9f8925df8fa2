"""The benchmark's output: the markdown table against the plain-websockets baseline, the
issues' target checks, and the --json file that --report prints them again from."""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import soak
import storm
from measure import fmt_lat
from row import Row
from servers import CLUSTER_SERVER, CLUSTER_SERVERS, STALLED, WORKERS

Metrics = dict[str, float | None]

COLUMNS = [
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
# The metrics of the "vs plain" columns, in order.
RATIOS = ["cpu_us_per_frame", "kib_per_sub", "connects_per_s", "lat_p99"]

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
IDLE_RSS_MIB = 90.0  # issue 18: a server process with no clients


# -- figures ----------------------------------------------------------------------------


def metrics(r: Row) -> Metrics:
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
        "tick_p50": r.tick_lat_ms.get("p50"),
        "tick_p99": r.tick_lat_ms.get("p99"),
        "tick_max": r.tick_lat_ms.get("max"),
        "kib_per_sub": r.kib_per_sub,
        "sub_p99": r.sub_rtt_ms.get("p99"),
        "ping_p99": r.ping_rtt_ms.get("p99"),
        "gen_cpu_pct": r.gen_cpu_s / r.window * 100 if r.window else None,
        "closed": float(r.closed),
        "rss_growth_kib": float(r.rss1_kib - r.rss0_kib) if r.rss1_kib else None,
        "idle_rss_mib": r.rss0_kib / 1024 if r.rss0_kib else None,
    }


def median_metrics(runs: list[Row]) -> Metrics:
    """Per column, the median over the runs that delivered frames (ratios are taken from these)."""
    ok = [metrics(r) for r in runs if r.frames]
    out: Metrics = {}
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


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    return f"{a / b:.2f}x"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# -- the table --------------------------------------------------------------------------


def table(rows: list[Row], args: argparse.Namespace) -> str:
    """The title, one line per design (medians of its runs), then each run's figures (--runs > 1),
    notes on runs that failed or lost connections, and the target checks."""
    groups = group(rows)
    med = {name: median_metrics(runs) for name, runs in groups.items()}
    base = med.get("plain-websockets") if any(r.frames for r in groups.get("plain-websockets", [])) else None
    lines = [_title(args), "", _cells(COLUMNS), "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += [_design_line(runs, med[name], base, args.n) for name, runs in groups.items()]
    if args.runs > 1:
        lines += ["", "Individual runs (in run order):", "", *_individual_runs(groups)]
    blocks = (
        _notes(rows, args),
        tick_lines(groups, med, base),
        target_lines(groups, med, base, args),
        storm_table(groups, args),
        soak_table(groups),
    )
    for block in blocks:
        if block:
            lines += ["", *block]
    return "\n".join(lines)


def _title(args: argparse.Namespace) -> str:
    runs_note = (
        f", {args.runs} runs per row (alternating designs per round); every column is the median of the runs"
        if args.runs > 1
        else ""
    )
    m = getattr(args, "places_per_client", 1)
    return (
        f"N={args.n} subscribers, K={args.k} locations{f', M={m} places per subscriber' if m > 1 else ''}, "
        f"{args.window:.0f} s window, "
        f"{args.gen_procs} generator process(es), {os.cpu_count()} CPUs, "
        f"product at {args.revision}{runs_note}"
    )


def _cells(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _design_line(runs: list[Row], m: Metrics, base: Metrics | None, n: int) -> str:
    """One design's medians and their ratios to plain's; dashes and the reason if it measured nothing."""
    label = runs[0].name + (" (baseline)" if runs[0].kind == "baseline" else "")
    sub = m["subscribed"] if m["subscribed"] is not None else max(r.subscribed for r in runs)
    subscribed = f"{sub:.0f}/{n}"
    if not any(r.frames for r in runs):
        note = "; ".join(sorted({r.note for r in runs if r.note})) or "no frames"
        return _cells([label, subscribed, *("-" for _ in COLUMNS[2:-1]), note])
    return _cells(
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
            *(ratio(m[key], base[key] if base else None) for key in RATIOS),
        ]
    )


def _individual_runs(groups: dict[str, list[Row]]) -> list[str]:
    """Per design, the headline figures of each of its runs, in run order."""
    lines = []
    for name, runs in groups.items():
        ms = [metrics(r) for r in runs]
        lines.append(
            f"- {name}: CPU us/frame {_each(ms, 'cpu_us_per_frame', '.1f')}; "
            f"KiB/sub {_each(ms, 'kib_per_sub', '.1f')}; "
            f"connects/s {_each(ms, 'connects_per_s', '.0f')}; frame p99 ms {_each(ms, 'lat_p99', '.1f')}; "
            f"delivered % {_each(ms, 'delivered_pct', '.1f')}; "
            f"idle RSS MiB {_each(ms, 'idle_rss_mib', '.1f')}"
        )
    return lines


def _each(ms: list[Metrics], key: str, fmt: str) -> str:
    return ", ".join(_f(m[key], fmt) for m in ms)


def _notes(rows: list[Row], args: argparse.Namespace) -> list[str]:
    """One line per run with a failure, connect or round-trip failures, closed connections or errors."""
    lines = []
    for r in rows:
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
        if bits:
            which = f" (run {r.run})" if args.runs > 1 else ""
            lines.append(f"- {r.name}{which}: " + "; ".join(bits))
    return lines


def tick_lines(groups: dict[str, list[Row]], med: dict[str, Metrics], base: Metrics | None) -> list[str]:
    """--places-per-client: latency from the poll tick (receipt minus the first
    ``published_at`` of the frame's tick), which counts the wait behind the tick's other
    places in both designs; the table's latency starts at each place's own publication."""
    if not any(m.get("tick_p99") is not None for m in med.values()):
        return []
    lines = ["Latency from the poll tick (ms, p50 / p99 / max; medians of the runs):", ""]
    for name, runs in groups.items():
        m = med[name]
        if m.get("tick_p99") is None:
            continue
        each = ", ".join(_f(metrics(r)["tick_p99"], ".1f") for r in runs)
        vs = ratio(m["tick_p99"], base.get("tick_p99") if base else None)
        lines.append(
            f"- {name}: {_f(m['tick_p50'], '.1f')} / {_f(m['tick_p99'], '.1f')} / {_f(m['tick_max'], '.0f')}"
            f" (p99 of each run {each}; p99 vs plain {vs})"
        )
    return lines


# -- target checks ----------------------------------------------------------------------


def target_lines(
    groups: dict[str, list[Row]],
    med: dict[str, Metrics],
    base: Metrics | None,
    args: argparse.Namespace,
) -> list[str]:
    """PASS/MISS per product row against the issues' targets (ratios from the medians)."""
    products = [name for name, runs in groups.items() if runs[0].kind == "product"]
    out = []
    for name in products:
        m, runs = med[name], groups[name]
        if name.endswith(STALLED):
            lines = _stalled_targets(m, med.get(name.removesuffix(STALLED)), runs, args.n)
        elif name.startswith(WORKERS):  # four processes: no single-process targets
            lines = _delivery_targets(runs, args.n)
        elif name in CLUSTER_SERVERS.values():
            lines = [_cluster_target(m, med.get(CLUSTER_SERVER)), *_delivery_targets(runs, args.n)]
        else:
            lines = [*_plain_targets(m, base), *_delivery_targets(runs, args.n), _idle_rss_target(m, base)]
            if m.get("tick_p99") is not None:
                lines.append(_tick_target(m, base))
        who = f"{name}: " if len(products) > 1 else ""
        out += [who + line for line in lines]
    return out


def _plain_targets(m: Metrics, base: Metrics | None) -> list[str]:
    """Issue #3: the ratios to the plain-websockets baseline."""
    out = []
    for label, key, op, limit in TARGETS:
        value, plain = m[key], base[key] if base is not None else None
        if value is None or not plain:
            out.append(f"target {label} {op} {limit}x plain: not checked (no plain baseline in run)")
            continue
        r = value / plain
        ok = r <= limit if op == "<=" else r >= limit
        out.append(f"target {label} {op} {limit}x plain: {r:.3f}x {_verdict(ok)}")
    return out


def _tick_target(m: Metrics, base: Metrics | None) -> str:
    """Issue 18, several places per subscriber: p99 <= 1.0x plain's, both from the tick."""
    plain = base.get("tick_p99") if base else None
    if not plain or m["tick_p99"] is None:
        return "target frame p99 from the tick <= 1.0x plain: not checked (no plain baseline in run)"
    r = m["tick_p99"] / plain
    return f"target frame p99 from the tick <= 1.0x plain: {r:.3f}x {_verdict(r <= 1.0)}"


def _delivery_targets(runs: list[Row], n: int) -> list[str]:
    """Every frame delivered: in every run, all N subscribed, each publication inside the
    window reached every subscriber of its location, no connection closed; at large N, p99 too."""
    per_run = [(r.subscribed, r.frames, r.expected, r.closed) for r in runs]
    ok = all(s == n and e > 0 and f == e and c == 0 for s, f, e, c in per_run)
    detail = ", ".join(f"{s}/{n} subscribed {f}/{e} frames {c} closed" for s, f, e, c in per_run)
    out = [
        "target every frame delivered (all subscribed, every publication to every subscriber, "
        f"no connection closed, every run): {detail} {_verdict(ok)}"
    ]
    if n >= LARGE_N:
        p99s = [r.lat_ms.get("p99") for r in runs]
        p99_ok = all(p is not None and p < LARGE_N_P99_MS for p in p99s)
        out.append(
            f"target at N >= {LARGE_N}: every frame delivered {_verdict(ok)}; "
            f"frame p99 < {LARGE_N_P99_MS:.0f} ms: "
            f"{', '.join(_f(p, '.1f') for p in p99s)} ms {_verdict(p99_ok)}"
        )
    return out


def _idle_rss_target(m: Metrics, base: Metrics | None) -> str:
    """Issue 18: the server's RSS with no clients (after start-up and --idle seconds)."""
    rss, plain = m["idle_rss_mib"], base["idle_rss_mib"] if base is not None else None
    if rss is None:
        return f"target idle RSS <= {IDLE_RSS_MIB:.0f} MiB: not measured"
    against = f" (plain {plain:.1f} MiB)" if plain else ""
    return (
        f"target idle RSS <= {IDLE_RSS_MIB:.0f} MiB: {rss:.1f} MiB{against} {_verdict(rss <= IDLE_RSS_MIB)}"
    )


def _cluster_target(m: Metrics, single: Metrics | None) -> str:
    """Issue #4: the --redis topology's p99 against one process at the same N."""
    if single is None or not single["lat_p99"] or m["lat_p99"] is None:
        return f"target p99 <= {CLUSTER_P99}x one process: not checked (no such row)"
    r = m["lat_p99"] / single["lat_p99"]
    return f"target p99 <= {CLUSTER_P99}x one process: {r:.3f}x {_verdict(r <= CLUSTER_P99)}"


def _stalled_targets(m: Metrics, calm: Metrics | None, runs: list[Row], n: int) -> list[str]:
    """Issue #5: the readers' p99 beside non-readers against the run without them, and every
    frame to every reader."""
    if calm is None or not calm["lat_p99"] or m["lat_p99"] is None:
        out = [f"target fast readers' p99 <= {STALLED_P99}x: not checked (no such row)"]
    else:
        r = m["lat_p99"] / calm["lat_p99"]
        out = [
            f"target fast readers' p99 <= {STALLED_P99}x the run without non-readers: "
            f"{r:.3f}x {_verdict(r <= STALLED_P99)}; {runs[0].stalled} non-readers; "
            f"server RSS +{(m['rss_growth_kib'] or 0) / 1024:.0f} MiB against "
            f"+{(calm['rss_growth_kib'] or 0) / 1024:.0f} MiB"
        ]
    per_run = [(r.subscribed, r.frames, r.expected) for r in runs]
    ok = all(s == n and e > 0 and f == e for s, f, e in per_run)
    detail = ", ".join(f"{s}/{n} subscribed {f}/{e} frames" for s, f, e in per_run)
    out.append(f"target every frame to every reader: {detail} {_verdict(ok)}")
    return out


# -- the reconnect storm (--storm, bench/storm.py) ---------------------------------------

STORM_COLUMNS = [
    "design / server",
    "resubscribed",
    "all subscribed after (s)",
    "last replay after (s)",
    "readings replayed",
    "recovered true / false",
    "server CPU (s) / over (s)",
    "watchers frames",
    "with gaps / duplicates / out of order / empty",
    "all subscribed vs plain",
]


def storm_table(groups: dict[str, list[Row]], args: argparse.Namespace) -> list[str]:
    """Issue 17: the storm after a restart, medians per design, and each run's line."""
    storms = {name: [r.storm for r in runs if r.storm] for name, runs in groups.items()}
    storms = {name: s for name, s in storms.items() if s}
    if not storms:
        return []

    def med(name: str, key: str) -> float | None:
        vals = [s[key] for s in storms[name] if s.get(key) is not None]
        return statistics.median(vals) if vals else None

    plain = med("plain-websockets", "seconds_to_subscribed") if "plain-websockets" in storms else None
    outage = getattr(args, "storm_outage", 2.0)
    lines = [
        f"Reconnect storm (--storm): the server restarted after {outage:.0f} s down, all "
        f"{args.n} subscribers reconnect at once with since (medians of the runs)",
        "",
        _cells(STORM_COLUMNS),
        "|" + "|".join("---" for _ in STORM_COLUMNS) + "|",
    ]
    for name, runs in storms.items():
        sums = {k: sum(s[k] for s in runs) for k in ("gaps", "duplicated", "out_of_order", "empty")}
        lines.append(
            _cells(
                [
                    name,
                    f"{med(name, 'subscribed') or 0:.0f}/{args.n}",
                    _f(med(name, "seconds_to_subscribed"), ".2f"),
                    _f(med(name, "seconds_to_last_replay"), ".2f"),
                    _f(med(name, "replayed"), ".0f"),
                    f"{_f(med(name, 'recovered'), '.0f')} / {_f(med(name, 'not_recovered'), '.0f')}",
                    f"{_f(med(name, 'cpu_s'), '.1f')} / {_f(med(name, 'seconds'), '.1f')}",
                    _f(med(name, "watchers_frames"), ".0f"),
                    " / ".join(str(sums[k]) for k in ("gaps", "duplicated", "out_of_order", "empty"))
                    + " (all runs)",
                    ratio(med(name, "seconds_to_subscribed"), plain),
                ]
            )
        )
    lines += [
        "",
        *(
            f"- {name} run {i}: {storm.describe(s)}"
            for name, runs in storms.items()
            for i, s in enumerate(runs, 1)
        ),
    ]
    return lines


# -- the soak (--soak, bench/soak.py) ----------------------------------------------------

SOAK_COLUMNS = [
    "design / server",
    "minute",
    "reconnected / dropped",
    "reconnect (s)",
    "frames delivered / expected",
    "latency p50 / p99 / max (ms)",
    "server CPU",
    "RSS (MiB)",
    "uploads 200 / sent",
    "errors",
]


def soak_table(groups: dict[str, list[Row]]) -> list[str]:
    """Issue 18: every minute of every soak, then its targets."""
    soaks = [(name, i, r.soak) for name, runs in groups.items() for i, r in enumerate(runs, 1) if r.soak]
    if not soaks:
        return []
    lines = [
        "Soak (--soak): one line per minute",
        "",
        _cells(SOAK_COLUMNS),
        "|" + "|".join("---" for _ in SOAK_COLUMNS) + "|",
    ]
    for name, i, s in soaks:
        for j, m in enumerate(s.get("minutes", []), 1):
            lines.append(
                _cells(
                    [
                        name if len(groups[name]) == 1 else f"{name} run {i}",
                        str(j),
                        f"{m['reconnected']} / {m['dropped']}",
                        f"{m['reconnect_seconds']:.1f}",
                        f"{m['frames']} / {m['expected']}",
                        fmt_lat(m["lat_ms"]),
                        f"{m['cpu_pct']:.0f}%",
                        f"{m['rss_kib'] / 1024:.1f}",
                        f"{m.get('uploads_ok', 0)} / {m.get('uploads_sent', 0)}",
                        str(sum(m["errors"].values()) + sum(m["reconnect_failures"].values())),
                    ]
                )
            )
    lines.append("")
    for name, i, s in soaks:
        lines.append(f"- {name} run {i}: {soak.describe(s)}")
    lines.append("")
    for name, i, s in soaks:
        lines += soak.targets(name if len(groups[name]) == 1 else f"{name} run {i}", s)
    return lines


# -- the --json file --------------------------------------------------------------------


def write_json(path: Path, args: argparse.Namespace, rows: list[Row]) -> None:
    """The arguments, every run's raw numbers (round-trip samples included) and the medians."""
    path.write_text(
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


def from_json(path: Path) -> str:
    """The table of a finished run, from its --json file."""
    data = json.loads(path.read_text())
    args = argparse.Namespace(**data["args"])
    args.runs = getattr(args, "runs", 1)
    rows = []
    for raw in data["rows"]:
        fields = {k: v for k, v in raw.items() if k in Row.__dataclass_fields__}
        rows.append(Row(**fields))
    return table(rows, args)

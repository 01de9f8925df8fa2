"""Run Python with a note of every slow garbage collection: ``python bench/gclog.py
[-c CODE | -m MODULE | SCRIPT] ARGS...`` behaves as ``python ...`` would, and writes a line
to stderr for each collection of at least ``GCLOG_MS`` milliseconds (default 20):

    GCPAUSE wall=1796125626.761 gen=2 ms=574.7 collected=0

With ``GCLOG_COUNT=1`` a full collection's line also counts the objects the collector
tracks (``tracked``) and those frozen out of its sight (``frozen``, GC_FREEZE). Counting
walks them all, after the pause is timed but in the server's time: at 10,000 connections
that walk showed in a profile, so it is off by default. ``GCLOG_DISABLE=1`` turns the
automatic collector off, to measure what the pauses cost (the product's GC_FREEZE still
steps every second and collects completely when due; ``WEATHERSTREAM_GC_FREEZE=false``
stops that too). Diagnostics that cost the server time of their own: ``GCLOG_YOUNG=1``
adds to a slow young collection's line how many objects its generations held when it
began (``young=GEN0+GEN1``) and CPython's counts; ``GCLOG_EVERY=S`` writes the frozen
and tracked counts every S seconds from a thread (walking the frozen objects holds the
GIL for 10-20 ms at 10,000 connections).

bench/stations.py --gc-log starts its servers through it and counts the pauses inside
each window. A collection stops the whole interpreter, so a pause is latency for every
upload and frame that waits behind it.
"""

from __future__ import annotations

import gc
import os
import runpy
import sys
import threading
import time
from typing import Any

LIMIT_MS = float(os.environ.get("GCLOG_MS", "20"))
COUNT = os.environ.get("GCLOG_COUNT") == "1"
YOUNG = os.environ.get("GCLOG_YOUNG") == "1"
_started = [0.0]
_sizes = [""]


def _note(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        if YOUNG and info["generation"] < 2:
            sizes = [len(gc.get_objects(generation)) for generation in range(info["generation"] + 1)]
            _sizes[0] = f" young={'+'.join(map(str, sizes))} count={gc.get_count()}"
        _started[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started[0]) * 1e3
    if ms >= LIMIT_MS:
        gen, collected = info["generation"], info["collected"]
        line = f"GCPAUSE wall={time.time():.3f} gen={gen} ms={ms:.1f} collected={collected}"
        if gen < 2 and YOUNG:
            line += _sizes[0]
        if gen == 2 and COUNT:
            line += f" tracked={len(gc.get_objects())} frozen={gc.get_freeze_count()}"
        print(line, file=sys.stderr, flush=True)


def _count_every(every: float) -> None:
    while True:
        time.sleep(every)
        line = f"GCSIZE wall={time.time():.3f} frozen={gc.get_freeze_count()} tracked={len(gc.get_objects())}"
        print(line, file=sys.stderr, flush=True)


def main() -> None:
    gc.callbacks.append(_note)
    if every := float(os.environ.get("GCLOG_EVERY", "0")):  # the counts every so many seconds
        threading.Thread(target=_count_every, args=(every,), daemon=True).start()
    if os.environ.get("GCLOG_DISABLE") == "1":  # the bound: no automatic collection (memory grows)
        gc.disable()
    args = sys.argv[1:]
    if args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
    elif args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = args
        sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
        runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    main()

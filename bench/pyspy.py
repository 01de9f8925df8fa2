"""--profile: py-spy records of a server, as collapsed stacks under bench/profiles/."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import procs

PROFILES = Path(__file__).resolve().parent / "profiles"


def _find(python: str) -> str | None:
    """py-spy on PATH, else next to the servers' interpreter; None if neither."""
    pyspy = shutil.which("py-spy") or str(Path(python).parent / "py-spy")
    return pyspy if Path(pyspy).exists() else None


def start(pid: int, name: str, phase: str, args: argparse.Namespace, seconds: float) -> Any:
    """py-spy record (collapsed stacks) of ``pid`` in the background; stop it with stop()."""
    pyspy = _find(args.python)
    if pyspy is None:
        print("   (py-spy not installed; no profile)")
        return None
    out = PROFILES / f"{name}-n{args.n}-k{args.k}-{phase}.txt"
    out.parent.mkdir(exist_ok=True)
    cmd = [pyspy, "record", "--pid", str(pid), "--duration", str(int(seconds))]
    cmd += ["--format", "raw", "--subprocesses", "-o", str(out)]
    if os.environ.get("PYSPY_NATIVE") == "1":  # C frames too (the collector's, SQLite's)
        cmd.append("--native")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs._started.append(proc)  # killed with the benchmark's other processes on exit
    return proc, out


def stop(handle: Any, wait: bool = False) -> None:
    """End a record from start() (or let it run its duration, ``wait``) and say where it went."""
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

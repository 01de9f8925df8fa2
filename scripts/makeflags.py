"""The uvicorn flags `make run` uses (the Makefile's UVICORN_FLAGS), so that tests and
the benchmark serve the product exactly as users run it."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_run_flags() -> list[str]:
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "print-UVICORN_FLAGS"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return shlex.split(out)

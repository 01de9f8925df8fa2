"""`weatherstream watch` (the package's console script) against a live server, in a pty."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

WATCH = str(Path(sys.executable).parent / "weatherstream")
CLEAR = "\x1b[H\x1b[J"


def ws_url(server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/weather/"


def test_once_prints_a_snapshot_and_says_by_its_exit_code_if_all_cities_have_one(server):
    ok = subprocess.run(
        [WATCH, "watch", "--once", "--url", ws_url(server), "Berlin", "Paris, FR"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Berlin" in ok.stdout and "Paris" in ok.stdout and "simulated" in ok.stdout
    bad = subprocess.run(
        [WATCH, "watch", "--once", "--url", ws_url(server), "Berlin", "Atlantis Qqq"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode == 1 and "unknown_city" in bad.stdout
    down = subprocess.run(
        [WATCH, "watch", "--once", "--url", "ws://127.0.0.1:9/ws/weather/", "Berlin"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert down.returncode == 1 and "cannot watch" in down.stdout


class Terminal:
    """A process on a pseudo-terminal, and everything it wrote."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        self.screen = ""

    def read_until(self, predicate, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.screen):
                return self.screen
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.screen += os.read(self.master, 65536).decode(errors="replace")
                except OSError:
                    break
        raise AssertionError(f"timed out; the terminal shows:\n{self.screen[-2000:]}")

    def last_frame(self) -> str:
        return self.screen.rsplit(CLEAR, 1)[-1]

    def close(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(10)
        os.close(self.master)
        return code


def test_a_live_table_updates_in_place_and_reconnects(server):
    term = Terminal([WATCH, "watch", "--url", ws_url(server), "Berlin", "Paris, FR"])
    try:
        term.read_until(lambda s: s.count(CLEAR) >= 6 and "Paris" in s, 20)
        frame = term.last_frame()
        assert "· live" in frame and "Berlin" in frame and "Paris" in frame and "simulated" in frame
        berlin = next(line for line in frame.splitlines() if line.startswith("Berlin"))
        assert any(ch.isdigit() for ch in berlin.split()[1]), berlin  # a temperature

        server.stop()
        term.read_until(lambda s: "reconnecting in" in term.last_frame(), 15)
        server.start()
        redraws = term.screen.count(CLEAR)
        term.read_until(lambda s: "· live" in term.last_frame() and s.count(CLEAR) > redraws + 2, 45)
        assert "Berlin" in term.last_frame()
    finally:
        code = term.close()
    assert code == 0

"""Redis and PostgreSQL from Debian's packages, run on loopback with data in a folder
of ours: for the test suite and `make cluster`, never the system-wide services. Also
Debian's Chromium, which the page's browser tests drive.

    python scripts/engines.py install       # apt-get what is missing (as root)
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGES = {"redis-server": "redis-server", "initdb": "postgresql", "chromium": "chromium"}
CHROMIUM = "/usr/bin/chromium"


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    return found[-1] if found else shutil.which(name)


def _version(path: str) -> float:
    try:
        return float(Path(path).parts[-3])
    except ValueError:
        return 0.0


def missing() -> list[str]:
    have = {
        "redis-server": shutil.which("redis-server"),
        "initdb": pg_bin("initdb"),
        "chromium": CHROMIUM if os.path.exists(CHROMIUM) else None,
    }
    return [PACKAGES[name] for name, path in have.items() if not path]


def install() -> None:
    need = missing()
    if not need:
        return
    if os.geteuid() != 0:
        sys.exit(f"The tests need Debian packages: run `sudo apt-get install {' '.join(need)}`.")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", *need], check=True, env=env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}: {said}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def stop(proc: subprocess.Popen[Any] | None, sig: int, grace: float) -> None:
    """Signal a server, and kill it if it has not exited after ``grace`` seconds."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Redis:
    """redis-server on loopback, no persistence: a restart starts it empty."""

    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    # More subprocess.Popen arguments (`make cluster`: a process group of its own).
    popen: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.folder), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, **self.popen,
        )  # fmt: skip
        wait_for_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        stop(self.proc, signal.SIGTERM, 10)
        self.proc = None


@dataclass
class Postgres:
    """A PostgreSQL cluster of our own in ``folder``, trust auth on loopback only.

    As root, the server runs as Debian's ``postgres`` user (it refuses root)."""

    folder: Path
    port: int = field(default_factory=free_port)
    user: str = "weatherstream"
    proc: subprocess.Popen[bytes] | None = None
    # More subprocess.Popen arguments for the server (`make cluster`: its own process group).
    popen: dict[str, Any] = field(default_factory=dict, repr=False)

    def url(self, database: str = "weatherstream") -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    @staticmethod
    def _owner() -> dict[str, object]:
        # Popen arguments that run a program as Debian's postgres user when we are root.
        return {"user": "postgres", "group": "postgres", "extra_groups": []} if os.geteuid() == 0 else {}

    def start(self) -> Postgres:
        data = self.folder / "data"
        if not (data / "PG_VERSION").exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.folder, "postgres")
                if subprocess.run(["test", "-w", str(self.folder)], **self._owner()).returncode:  # type: ignore[call-overload]
                    raise PermissionError(f"the postgres user cannot reach {self.folder}")
            initdb = pg_bin("initdb")
            assert initdb, "PostgreSQL is not installed (python scripts/engines.py install)"
            subprocess.run(
                [initdb, "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                check=True, stdout=subprocess.DEVNULL, **self._owner(),
            )  # fmt: skip
        postgres = pg_bin("postgres")
        assert postgres
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - the server's, until stop()
        self.proc = subprocess.Popen(
            [postgres, "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.folder),
             "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=log, **self._owner(), **self.popen,
        )  # fmt: skip
        log.close()  # the server has its own copy of the descriptor
        try:
            wait_for_port(self.port, self.proc)
            self.create_database("weatherstream")
        except BaseException:
            self.stop()
            raise
        return self

    def create_database(self, name: str) -> str:
        import psycopg

        for _ in range(50):  # the port opens a moment before connections are accepted
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
                    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                        conn.execute(f'CREATE DATABASE "{name}"')
                return self.url(name)
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise TimeoutError("PostgreSQL does not accept connections")

    def stop(self) -> None:
        stop(self.proc, signal.SIGINT, 20)  # SIGINT: PostgreSQL's fast shutdown
        self.proc = None


def main(argv: list[str]) -> None:
    if argv[:1] == ["install"]:
        install()
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

"""One row of the table: the measurements of one run of one design."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    name: str
    kind: str  # "baseline" | "product"
    n: int = 0
    subscribed: int = 0
    connect_failures: dict[str, int] = field(default_factory=dict)
    connect_seconds: float = 0.0
    connects_per_s: float = 0.0
    frames: int = 0
    expected: int = 0
    publications: int = 0  # distinct (location, published_at) inside the window
    cpu_user_s: float = 0.0  # the user-mode part of cpu_s (the rest is kernel time)
    cpu_s: float = 0.0
    window: float = 0.0
    gen_cpu_s: float = 0.0
    rss0_kib: int = 0
    rss1_kib: int = 0
    lat_ms: dict[str, float] = field(default_factory=dict)
    tick_lat_ms: dict[str, float] = field(default_factory=dict)  # from the tick's first publication (M > 1)
    sub_rtt_ms: dict[str, float] = field(default_factory=dict)
    ping_rtt_ms: dict[str, float] = field(default_factory=dict)
    rtt_failures: dict[str, int] = field(default_factory=dict)
    rtt_samples_ms: dict[str, list[float]] = field(default_factory=dict)
    closed: int = 0
    close_codes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    note: str = ""
    run: int = 1  # 1-based round of --runs
    stalled: int = 0  # subscribers that never read (--stalled); not counted in frames/latency
    storm: dict[str, Any] = field(default_factory=dict)  # --storm: bench/storm.py's figures
    soak: dict[str, Any] = field(default_factory=dict)  # --soak: bench/soak.py's figures

    @property
    def cpu_us_per_frame(self) -> float | None:
        return self.cpu_s / self.frames * 1e6 if self.frames else None

    @property
    def kib_per_sub(self) -> float | None:
        return (self.rss1_kib - self.rss0_kib) / self.subscribed if self.subscribed else None

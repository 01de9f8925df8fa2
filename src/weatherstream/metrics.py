"""Prometheus metrics (prometheus-client), served at ``/metrics`` by :mod:`.views`.

Several worker processes: point ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory
shared by them (before they start); each process writes its values there and a
scrape of any one of them reports the whole set. Gauges say how they combine. Empty
the directory when the service starts: a crashed process's values stay in it.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # e.g. a poller on a machine of its own
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

CONNECTIONS = Gauge("weatherstream_connections", "Open WebSocket connections.", multiprocess_mode="livesum")
SUBSCRIPTIONS = Gauge(
    "weatherstream_subscriptions", "Subscriptions held by open connections.", multiprocess_mode="livesum"
)
FRAMES = Counter("weatherstream_frames_sent", "Weather frames handed to subscribers.")
FANOUT_SECONDS = Histogram(
    "weatherstream_fanout_seconds",
    "Time to hand one update to every local subscriber of its location.",
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
UPSTREAM_REQUESTS = Counter(
    "weatherstream_upstream_requests",
    "Upstream weather requests by provider and outcome (ok, error, refused: circuit open or budget spent).",
    ["provider", "outcome"],
)
UPSTREAM_CALLS = Counter(
    "weatherstream_upstream_calls",
    "Calls handed to each provider, weighed as it counts them for its free-use limits "
    "(Open-Meteo: max(1, variables/10) per location); MET Norway answers a call before its "
    "Expires from its cache, sending nothing.",
    ["provider"],
)
UPSTREAM_SECONDS = Histogram(
    "weatherstream_upstream_request_seconds",
    "Duration of upstream weather requests, by provider.",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
EFFECTIVE_INTERVAL = Gauge(
    "weatherstream_effective_interval_seconds",
    "Seconds between two fetches of a watched location: the poll interval, stretched "
    "evenly when demand exceeds the call budget.",
    multiprocess_mode="max",
)
POLLER_LAG = Gauge(
    "weatherstream_poller_lag_seconds",
    "How far past its due time the most overdue watched location is.",
    multiprocess_mode="max",
)
CIRCUIT_OPEN = Gauge(
    "weatherstream_circuit_open",
    "Upstream circuit breaker by provider: 0 closed, 0.5 half-open (probing), 1 open.",
    ["provider"],
    multiprocess_mode="max",
)
DEMAND = Gauge(
    "weatherstream_watched_locations",
    "Locations the poller fetches (watched, or within their grace period).",
    multiprocess_mode="max",
)
STORAGE_BUFFERED = Gauge(
    "weatherstream_storage_buffered",
    "Readings published but not yet stored: the database failed; they are written when it answers.",
    multiprocess_mode="livesum",
)
STORAGE_DROPPED = Counter(
    "weatherstream_storage_dropped",
    "Readings never stored: the database stayed down longer than STORAGE_BUFFER readings.",
)
STALE_MARKED = Counter(
    "weatherstream_silence_stale_frames",
    "Readings a server process marked stale itself because their place's update was overdue.",
)

STATION_UPLOADS = Counter(
    "weatherstream_station_uploads",
    "Station uploads by outcome: stored, unauthorized, locked_out, too_soon, too_big, bad_request, bad_host.",
    ["outcome"],
)
STATION_FIELDS_DROPPED = Counter(
    "weatherstream_station_fields_dropped",
    "Values of station uploads dropped (not a number, or not plausible weather), by parameter.",
    ["field"],
)


def exposition() -> tuple[bytes, str]:
    """The text to answer a scrape with, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

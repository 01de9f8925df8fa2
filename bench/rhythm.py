"""Calls per new observation, and the delay from an upstream's new value to the poller
handing it on, for the poller's schedules: replayed over a simulated day (issue 14).

Open-Meteo: its recorded answer (tests/fixtures/open-meteo/forecast_current.json) is
served by an httpx MockTransport to the real OpenMeteoProvider, its ``current.time``
set to the 15-minute slot of the simulated clock: Open-Meteo's current values change at
:00, :15, :30 and :45.

- "fixed interval" is the schedule before issue 14: every place fetched one interval
  (900 s) after its last fetch, whenever its upstream's value changed.
- "rhythm" is the schedule now: due when the upstream's next value is there (the end of
  the reading's slot plus the provider's publication margin), never sooner than the
  spacing (60 s, the public API's floor).

MET Norway: an answer built from its documented schema
(tests/fixtures/met-norway/compact_built_from_schema.json) served to the real
MetNorwayProvider by a MockTransport that plays MET's caching: the forecast is updated
once an hour (at :20 here, an assumption: MET says hourly in the Nordic countries),
``Last-Modified`` is that update, ``Expires`` 30 minutes after the request (as seen,
../shared/UPSTREAM.md), and a request whose ``If-Modified-Since`` is the current
``Last-Modified`` gets a 304. A new observation is a new hour's time step: the held
forecast's step for the hour begins at the hour (every update already holds the next
hours), so its delay counts from the top of the hour.

Places are first watched at random moments of the first hour. The clock is simulated,
so a day replays in seconds; the delay printed is from the moment the upstream has a
new value to the moment the poller delivers it for publishing. From there to a browser
is the fan-out, measured by bench/fanout.py (p99 7.3 ms at N=10,000).
Run: python bench/rhythm.py [--places 50] [--hours 24] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src"), str(REPO)]

import httpx  # noqa: E402

from weatherstream.places import Place  # noqa: E402
from weatherstream.poller import Poller  # noqa: E402
from weatherstream.providers import WeatherProvider  # noqa: E402
from weatherstream.providers.http import Pacer  # noqa: E402
from weatherstream.providers.metno import MetNorwayProvider  # noqa: E402
from weatherstream.providers.openmeteo import OpenMeteoProvider  # noqa: E402

RECORDED = json.loads((REPO / "tests/fixtures/open-meteo/forecast_current.json").read_text())
MET_BUILT = json.loads((REPO / "tests/fixtures/met-norway/compact_built_from_schema.json").read_text())
T0 = datetime(2026, 10, 3, 0, 0, tzinfo=UTC).timestamp()  # the simulated day starts here
SLOT = 900
MET_UPDATE = 20 * 60  # seconds past the hour when the simulated MET forecast is updated
MET_EXPIRES = 1800


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return T0 + self.now


class Upstream:
    """A fake upstream on the simulated clock, counting what reaches it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.requests = 0
        self.locations = 0

    def open_meteo(self, request: httpx.Request) -> httpx.Response:
        """The recorded answer, one object per location asked, stamped with the current slot."""
        count = len(request.url.params["latitude"].split(","))
        self.requests += 1
        self.locations += count
        wall = self.clock.wall()
        slot = wall - wall % SLOT
        local = datetime.fromtimestamp(slot + RECORDED["utc_offset_seconds"], UTC)
        one = {**RECORDED, "current": {**RECORDED["current"], "time": local.strftime("%Y-%m-%dT%H:%M")}}
        return httpx.Response(200, json=one if count == 1 else [one] * count)

    def met_norway(self, request: httpx.Request) -> httpx.Response:
        """MET's caching as seen: hourly updates, Expires 30 min on, 304 when unchanged."""
        self.requests += 1
        self.locations += 1
        wall = self.clock.wall()
        updated = (wall - MET_UPDATE) // 3600 * 3600 + MET_UPDATE
        headers = {
            "Last-Modified": format_datetime(datetime.fromtimestamp(updated, UTC), usegmt=True),
            "Expires": format_datetime(datetime.fromtimestamp(wall + MET_EXPIRES, UTC), usegmt=True),
        }
        if request.headers.get("If-Modified-Since") == headers["Last-Modified"]:
            return httpx.Response(304, headers=headers)
        body = json.loads(json.dumps(MET_BUILT))
        steps = body["properties"]["timeseries"]
        shift = updated // 3600 * 3600 - parse_time(steps[0]["time"])  # the update's hour first
        for step in steps:
            moved = datetime.fromtimestamp(parse_time(step["time"]) + shift, UTC)
            step["time"] = moved.isoformat().replace("+00:00", "Z")
        return httpx.Response(200, json=body, headers=headers)


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Fixed(OpenMeteoProvider):
    """Open-Meteo as before issue 14: no rhythm, so the poller waits its interval."""

    def new_data_at(self, place: Any, reading: Any) -> float | None:
        return None


def open_meteo(cls: type[OpenMeteoProvider]) -> Callable[[Upstream], WeatherProvider]:
    return lambda upstream: cls(transport=httpx.MockTransport(upstream.open_meteo))


def met_norway(upstream: Upstream) -> WeatherProvider:
    async def no_wait(seconds: float) -> None:  # the pace is kept in simulated time
        await asyncio.sleep(0)

    clock = upstream.clock
    return MetNorwayProvider(
        user_agent="bench.example.org bench@example.org",
        transport=httpx.MockTransport(upstream.met_norway),
        clock=clock.wall,
        rng=random.Random(1),
        pacer=Pacer(in_flight=4, per_second=10, clock=clock, sleep=no_wait),
    )


async def replay(
    make: Callable[[Upstream], WeatherProvider],
    *,
    places: int,
    hours: float,
    seed: int,
    available: Callable[[float], float] = lambda observed: observed,
) -> dict[str, float]:
    """``available(observed_at)``: when the upstream first had a value of that time."""
    rng = random.Random(seed)
    clock = Clock()
    upstream = Upstream(clock)
    provider = make(upstream)
    every = [Place(f"p{i}", 40 + i / 10, 5 + i / 10) for i in range(places)]
    starts = {p.id: rng.uniform(0, 3600) for p in every}
    seen: dict[str, set[float]] = {p.id: set() for p in every}
    delays: list[float] = []

    def demand() -> list[Place]:
        return [p for p in every if starts[p.id] <= clock.now]

    async def deliver(results: Any, error: Any) -> None:
        for place, reading in results:
            if reading is None:
                continue
            at = reading.observed_at.timestamp()
            if at not in seen[place.id]:
                seen[place.id].add(at)
                if available(at) - T0 >= starts[place.id]:  # a value that appeared while watched
                    delays.append(clock.wall() - available(at))

    poller = Poller(
        provider=provider,
        interval=provider.default_interval,
        spacing=60,
        demand=demand,
        deliver=deliver,
        clock=clock,
        wall=clock.wall,
    )
    end = hours * 3600
    task = asyncio.create_task(poller.run())
    try:
        while clock.now < end:  # each step moves the simulated clock forward
            for _ in range(20):
                await asyncio.sleep(0)
            watched = demand()
            dues = [clock.now + d for p in watched if (d := poller.due_in(p.id)) is not None]
            arrivals = [t for t in starts.values() if t > clock.now]
            clock.now = max(clock.now, min(dues + arrivals + [end]))
            poller._wake.set()
    finally:
        task.cancel()
        await provider.aclose()
    observations = sum(len(s) for s in seen.values())
    delays.sort()
    return {
        "requests": upstream.requests,
        "fetches": upstream.locations,
        "observations": observations,
        "per_observation": upstream.locations / observations,
        "delay_p50": statistics.median(delays),
        "delay_p99": delays[int(0.99 * (len(delays) - 1))],
        "delay_max": delays[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--places", type=int, default=50)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run = {"places": args.places, "hours": args.hours, "seed": args.seed}
    rows = [
        ("Open-Meteo, fixed interval (before)", asyncio.run(replay(open_meteo(Fixed), **run))),
        ("Open-Meteo, rhythm (now)", asyncio.run(replay(open_meteo(OpenMeteoProvider), **run))),
        (
            "MET Norway, Expires (now)",
            asyncio.run(replay(met_norway, **run)),
        ),
    ]
    print(
        f"{args.places} places first watched in the first hour, {args.hours:g} simulated hours "
        f"(seed {args.seed})\n"
    )
    print(
        "| upstream, schedule | requests | location fetches | new observations | fetches per observation "
        "| delay p50 / p99 / max (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in rows:
        print(
            f"| {name} | {r['requests']:.0f} | {r['fetches']:.0f} | {r['observations']:.0f} "
            f"| {r['per_observation']:.2f} "
            f"| {r['delay_p50']:.0f} / {r['delay_p99']:.0f} / {r['delay_max']:.0f} |"
        )


if __name__ == "__main__":
    main()

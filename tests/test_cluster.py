"""The scaled-out topology for real: two server processes and two pollers over a real
redis-server and PostgreSQL, the upstream faked on loopback (tests/upstream.py).

The processes are started once for the module, as `make cluster` starts them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
import websockets

from scripts.engines import Redis, free_port, wait_for_port
from tests.test_server import EXAMPLE, ROOT, make_run_flags, samples
from tests.upstream import FakeOpenMeteo, coordinate
from weatherstream.election import LEASE_KEY
from weatherstream.geocoding import get_geocoder
from weatherstream.providers.openmeteo import RUN_MARGIN

INTERVAL = 2.0  # seconds between fetches of one location
LEASE = 1.5  # the poller lease: a killed poller is replaced within 2 * LEASE
HEARTBEAT = 0.5  # servers renew demand this often; it expires after 3 heartbeats
SILENCE = 3 * INTERVAL  # no new reading for this long: servers mark the place stale
STATION_SPACING = 2  # seconds between two accepted uploads of a station


class Cluster:
    def __init__(self, folder: Path, redis_server: Redis, database_url: str, upstream: FakeOpenMeteo):
        self.folder = folder
        self.redis = redis_server
        self.upstream = upstream
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "example.settings",
            "PYTHONPATH": os.pathsep.join([str(EXAMPLE), str(ROOT / "src")]),
            "WEATHERSTREAM_VAR_DIR": str(folder),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_server.url,
            "WEATHERSTREAM_PROVIDER": "open-meteo",
            "OPEN_METEO_URL": upstream.url,
            "WEATHERSTREAM_ONLINE_GEOCODING": "false",
            "WEATHERSTREAM_POLL_INTERVAL": str(INTERVAL),
            # A budget (shared in Redis) that fetching every 2 s fits: the free tier's
            # would stretch the interval to about 10 s (docs/providers.md).
            "WEATHERSTREAM_UPSTREAM_BUDGET": json.dumps({"minute": 6000, "hour": 100000, "day": 1000000}),
            "WEATHERSTREAM_POLLER": "off",
            "WEATHERSTREAM_DEMAND_HEARTBEAT": str(HEARTBEAT),
            "WEATHERSTREAM_LEADER_LEASE": str(LEASE),
            # The fake upstream stamps readings "now", not in Open-Meteo's 15-minute slots.
            "WEATHERSTREAM_SILENCE_AFTER": str(SILENCE),
            # Forecasts as soon as a (test's) model run is there, not hourly.
            "WEATHERSTREAM_FORECAST_INTERVAL": "1",
            # Station uploads at most every 2 s (shared in Redis by both servers).
            "WEATHERSTREAM_STATION_MIN_INTERVAL": str(STATION_SPACING),
            # Counts of watchers sent at most every half second (heartbeats: every 0.5 s).
            "WEATHERSTREAM_WATCHERS_EVERY": "0.5",
            "LOG_LEVEL": "INFO",
            # One metrics directory for all four processes: any /metrics reports them all.
            "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"),
        }
        (folder / "metrics").mkdir()

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=EXAMPLE, env=self.env, check=True, capture_output=True
        )

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "a")
        proc = subprocess.Popen(cmd, cwd=EXAMPLE, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def server(self, name: str) -> None:
        port = self.ports.setdefault(name, free_port())
        cmd = [sys.executable, "-m", "uvicorn", "example.asgi:application", "--host", "127.0.0.1"]
        proc = self._spawn(name, [*cmd, "--port", str(port), *make_run_flags()])
        wait_for_port(port, proc)

    def poller(self, name: str) -> None:
        self._spawn(name, [sys.executable, "manage.py", "weatherstream_poll"])

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def leader(self) -> str | None:
        """The name of the poller holding the lease, from its pid in the lease."""
        holder = redis.Redis.from_url(self.redis.url).get(LEASE_KEY)
        if holder is None:
            return None
        pid = int(holder.decode().split(":")[1])
        return next((n for n, p in self.procs.items() if p.pid == pid), "unknown")

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_server):
    folder = tmp_path_factory.mktemp("cluster")
    redis_server = Redis(folder / "redis")  # its own: a test restarts it
    upstream = FakeOpenMeteo()
    database_url = postgres_server.create_database("cluster")
    topology = Cluster(folder, redis_server, database_url, upstream)
    try:
        redis_server.start()
        upstream.start()
        topology.manage("migrate", "--noinput")
        topology.poller("poller-1")
        topology.poller("poller-2")
        topology.server("a")
        topology.server("b")
        yield topology
    finally:
        topology.stop()
        redis_server.stop()
        upstream.stop()
    for name in ("a", "b", "poller-1", "poller-2"):  # (channels_redis logs its own reconnects)
        assert " ERROR weatherstream" not in topology.log(name), topology.log(name)


class Client:
    def __init__(self, ws):
        self.ws = ws
        self.ids: dict[str, str] = {}  # city asked for -> location id

    @classmethod
    async def open(cls, port: int) -> Client:
        uri = f"ws://127.0.0.1:{port}/ws/weather/"
        ws = await websockets.connect(uri, origin=f"http://127.0.0.1:{port}", open_timeout=20)
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["provider"] == "open-meteo"
        return cls(ws)

    async def subscribe(self, city: str, forecast: list[str] | None = None) -> dict:
        kinds = {} if forecast is None else {"forecast": forecast}
        await self.ws.send(json.dumps({"type": "subscribe", "city": city, "id": city, **kinds}))
        async with asyncio.timeout(10):  # in all, however many updates come first
            while True:
                frame = json.loads(await self.ws.recv())
                if frame["type"] == "subscribed" and frame["id"] == city:
                    self.ids[city] = frame["location"]["id"]
                    return frame

    async def subscribe_station(self, station_id: str) -> dict:
        await self.ws.send(json.dumps({"type": "subscribe", "station": station_id, "id": station_id}))
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame["type"] == "subscribed" and frame["id"] == station_id:
                    self.ids[station_id] = station_id
                    return frame

    async def weather(self, city: str, *, newer_than: str = "", timeout: float = 10) -> dict:
        """The next update of a city observed after ``newer_than`` (ISO time)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), deadline - time.monotonic()))
            if frame["type"] == "weather" and frame["location"] == self.ids[city]:
                if frame["weather"]["observed_at"] > newer_than:
                    return frame

    async def watchers(self, city: str, count: int, *, timeout: float = 10) -> dict:
        """The next ``watchers`` frame of a city saying ``count``, skipping others."""
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                if (
                    frame["type"] == "watchers"
                    and frame["location"] == self.ids[city]
                    and frame["count"] == count
                ):
                    return frame

    async def forecasts(self, city: str, count: int, *, timeout: float = 10) -> list[dict]:
        """The next ``count`` forecast frames of a city, skipping other frames."""
        got: list[dict] = []
        async with asyncio.timeout(timeout):
            while len(got) < count:
                frame = json.loads(await self.ws.recv())
                if frame["type"] == "forecast" and frame["location"] == self.ids[city]:
                    got.append(frame)
        return got

    async def close(self) -> None:
        await self.ws.close()


def where(city: str) -> str:
    place = get_geocoder().resolve(city)
    return coordinate(place.latitude, place.longitude)


def assert_never_twice_in_one_interval(cluster: Cluster, city: str) -> list[float]:
    times = cluster.upstream.fetches(where(city))
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    logs = "\n".join(f"--- {f.name}\n{f.read_text()[-3000:]}" for f in cluster.folder.glob("poller-*.log"))
    assert not gaps or min(gaps) > INTERVAL - 0.15, (city, gaps, logs)
    return times


async def test_an_update_reaches_subscribers_in_both_processes(cluster):
    a, b = await Client.open(cluster.ports["a"]), await Client.open(cluster.ports["b"])
    await a.subscribe("Berlin")
    await b.subscribe("Berlin")
    first = await a.weather("Berlin")
    on_b = await b.weather("Berlin", newer_than=first["weather"]["observed_at"][:-1])
    assert on_b["weather"] == first["weather"]
    assert on_b["weather"]["source"] == "open-meteo"
    # Either server's /metrics sums both servers and counts the poller's upstream calls.
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{cluster.ports['a']}/metrics")).text
    metrics = samples(text)
    assert metrics["weatherstream_connections"] == 2
    assert metrics["weatherstream_subscriptions"] == 2
    assert metrics["weatherstream_upstream_requests_total{outcome=ok,provider=open-meteo}"] >= 1
    await a.close()
    await b.close()
    assert_never_twice_in_one_interval(cluster, "Berlin")


async def test_a_forecast_is_fetched_once_by_the_poller_and_reaches_each_process_once(cluster):
    a, b = await Client.open(cluster.ports["a"]), await Client.open(cluster.ports["b"])
    await a.subscribe("Madrid", forecast=["hourly", "daily"])
    first = {f["kind"]: f for f in await a.forecasts("Madrid", 2)}
    await b.subscribe("Madrid", forecast=["daily"])
    [daily] = await b.forecasts("Madrid", 1)  # held: from the database or the poller
    assert daily == first["daily"] and daily["source"] == "open-meteo"
    assert len(cluster.upstream.forecast_fetches(where("Madrid"))) == 1
    # A new model run, 1 °C warmer, whose 10-minute margin ends in 2 s.
    cluster.upstream.model_run_at = time.time() - RUN_MARGIN + 2
    cluster.upstream.warming += 1.0
    second = {f["kind"]: f for f in await a.forecasts("Madrid", 2, timeout=20)}
    [on_b] = await b.forecasts("Madrid", 1)
    assert on_b == second["daily"] and second["daily"]["issued_at"] > daily["issued_at"]
    was, now = first["daily"]["forecast"][0], second["daily"]["forecast"][0]
    assert now["temperature_max"] == pytest.approx(was["temperature_max"] + 1.0)
    with pytest.raises(TimeoutError):  # once each: no repeat from the other process
        await b.forecasts("Madrid", 1, timeout=3)
    assert len(cluster.upstream.forecast_fetches(where("Madrid"))) == 2
    await a.close()
    await b.close()


async def test_a_city_watched_in_the_other_process_has_its_snapshot_at_once(cluster):
    a = await Client.open(cluster.ports["a"])
    await a.subscribe("Oslo")
    update = await a.weather("Oslo")  # fetched and published by the poller, stored after
    b = await Client.open(cluster.ports["b"])
    snapshot = await b.subscribe("Oslo")
    # From the database, or (not stored yet) sent by the poller as b joins: the same
    # reading either way, not the next fetch an interval later.
    got = snapshot["weather"] or (await b.weather("Oslo", timeout=INTERVAL / 2))["weather"]
    assert got["observed_at"] == update["weather"]["observed_at"] and got["source"] == "open-meteo"
    await a.close()
    await b.close()


async def test_a_killed_poller_is_replaced_within_two_leases(cluster):
    client = await Client.open(cluster.ports["a"])
    await client.subscribe("Paris")
    await client.weather("Paris")
    old = cluster.leader()
    assert old in ("poller-1", "poller-2")
    killed_at = time.monotonic()
    cluster.kill(old)
    while (new := cluster.leader()) not in cluster.procs:  # None, or the dead one's pid
        assert time.monotonic() - killed_at < 3 * LEASE, "no poller took over"
        await asyncio.sleep(0.05)
    takeover = time.monotonic() - killed_at
    print(f"takeover after {takeover:.2f} s (lease {LEASE} s)")
    assert new != old and takeover <= 2 * LEASE
    # Updates go on, and the handover fetched nothing twice in one interval.
    latest = (await client.weather("Paris"))["weather"]["observed_at"]
    await client.weather("Paris", newer_than=latest)
    assert len(assert_never_twice_in_one_interval(cluster, "Paris")) >= 3
    await client.close()
    cluster.poller(old)  # back to two pollers


async def test_updates_resume_after_a_redis_restart(cluster):
    a, b = await Client.open(cluster.ports["a"]), await Client.open(cluster.ports["b"])
    await a.subscribe("Madrid")
    await b.subscribe("Madrid")
    before = (await a.weather("Madrid"))["weather"]["observed_at"]
    cluster.redis.stop()  # everything in it is gone: leases, schedule, subscriptions
    await asyncio.sleep(1.0)
    cluster.redis.start()
    # The same connections, no new subscribe: the servers and pollers reconnect themselves.
    after_a = await a.weather("Madrid", newer_than=before, timeout=30)
    after_b = await b.weather("Madrid", newer_than=before, timeout=30)
    assert after_a["weather"]["source"] == after_b["weather"]["source"] == "open-meteo"
    await a.close()
    await b.close()


async def test_demand_expires_when_the_watching_process_is_killed(cluster):
    b = await Client.open(cluster.ports["b"])
    await b.subscribe("Rome")  # nobody else watches Rome
    await b.weather("Rome")
    killed_at = time.monotonic()
    cluster.kill("b")
    # Its lease lapses after 3 heartbeats; a fetch already due may still go out.
    await asyncio.sleep(3 * HEARTBEAT + 3 * INTERVAL)
    last = cluster.upstream.fetches(where("Rome"))[-1]
    assert last < killed_at + 3 * HEARTBEAT + INTERVAL + 0.5, last - killed_at
    cluster.server("b")  # restarted: its clients come back to their snapshots
    again = await Client.open(cluster.ports["b"])
    assert (await again.subscribe("Rome"))["weather"] is not None
    await again.close()


async def test_silence_is_marked_stale_by_the_server_itself(cluster):
    client = await Client.open(cluster.ports["a"])
    await client.subscribe("Vienna")
    last = (await client.weather("Vienna"))["weather"]
    pollers = [proc for name, proc in cluster.procs.items() if name.startswith("poller")]
    for proc in pollers:  # the pipeline is stuck: no poller runs, nothing is published
        proc.send_signal(signal.SIGSTOP)
    try:
        async with asyncio.timeout(SILENCE + 15):
            while True:
                frame = json.loads(await client.ws.recv())
                if frame["type"] == "weather" and frame["weather"]["stale"]:
                    break
                if frame["type"] == "weather":
                    last = frame["weather"]
    finally:
        for proc in pollers:
            proc.send_signal(signal.SIGCONT)
    stale = frame["weather"]
    assert stale["observed_at"] == last["observed_at"] and stale["age"] >= SILENCE, stale
    fresh = await client.weather("Vienna", newer_than=last["observed_at"], timeout=30)
    assert fresh["weather"]["stale"] is False
    await client.close()


def test_postgres_holds_each_observation_once(cluster):
    async def three_updates() -> tuple[str, list[str]]:
        client = await Client.open(cluster.ports["a"])
        await client.subscribe("Madrid")
        seen: list[str] = []
        for _ in range(3):
            frame = await client.weather("Madrid", newer_than=seen[-1] if seen else "", timeout=20)
            seen.append(frame["weather"]["observed_at"])
        await client.close()
        return client.ids["Madrid"], seen

    location, seen = asyncio.run(three_updates())
    url = cluster.env["DATABASE_URL"]
    deadline = time.monotonic() + 10  # published first, then stored by the recorder's task
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            stored = conn.execute(
                "SELECT observed_at, count(*) FROM weatherstream_observation"
                " WHERE location_id = %s GROUP BY 1",
                [location],
            ).fetchall()
            counts = {at.isoformat().replace("+00:00", "Z"): n for at, n in stored}
            # (Madrid has rows from an earlier test: wait for these three themselves.)
            if all(at in counts for at in seen) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        unique = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'weatherstream_observation_unique'"
        ).fetchone()
        conn.execute("SET enable_seqscan = off")  # the table is small; ask what the planner can use
        conn.execute("SET enable_bitmapscan = off")
        plan = conn.execute(
            "EXPLAIN SELECT * FROM weatherstream_observation WHERE location_id = %s"
            " AND observed_at >= now() - interval '1 day' ORDER BY observed_at DESC LIMIT 100",
            [location],
        ).fetchall()
    # Every update a client received was stored, once (the poller stores; servers do not).
    assert [counts.get(at) for at in seen] == [1, 1, 1], (seen, counts)
    assert unique and "UNIQUE" in unique[0] and "(location_id, observed_at)" in unique[0], unique
    # History reads go through the (location, observed_at) unique index.
    assert "using weatherstream_observation_unique" in " ".join(line for (line,) in plan), plan


def test_a_station_upload_to_either_server_reaches_both_once_and_is_stored_once(cluster):
    added = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "weatherstream_station",
            "add",
            "Allotment",
            "--lat",
            "47.123",
            "--lon",
            "8.456",
            "--json",
        ],
        cwd=EXAMPLE,
        env=cluster.env,
        check=True,
        capture_output=True,
        text=True,
    )
    station = json.loads(added.stdout)
    upload_path = "/weatherstation/updateweatherstation.php"

    def params(tempf: float, dateutc: str) -> dict:
        return {
            "ID": station["id"],
            "PASSWORD": station["key"],
            "dateutc": dateutc,
            "tempf": str(tempf),
            "humidity": "71",
            "action": "updateraw",
        }

    async def scenario() -> None:
        a, b = await Client.open(cluster.ports["a"]), await Client.open(cluster.ports["b"])
        for client in (a, b):
            assert (await client.subscribe_station(station["id"]))["weather"] is None
        async with httpx.AsyncClient() as http:
            first = await http.get(
                f"http://127.0.0.1:{cluster.ports['a']}{upload_path}",
                params=params(50.0, "now"),
            )
            assert (first.status_code, first.text) == (200, "success\n")
            # The spacing is the station's, whichever server an upload reaches.
            soon = await http.get(
                f"http://127.0.0.1:{cluster.ports['b']}{upload_path}",
                params=params(51.8, "now"),
            )
            assert soon.status_code == 429
            got = [await c.weather(station["id"]) for c in (a, b)]
            assert {g["weather"]["temperature"] for g in got} == {10.0}
            assert {g["weather"]["source"] for g in got} == {f"station:{station['id']}"}
            await asyncio.sleep(STATION_SPACING + 0.2)
            second = await http.get(
                f"http://127.0.0.1:{cluster.ports['b']}{upload_path}",
                params=params(53.6, "now"),
            )
            assert second.status_code == 200
            newer_than = got[0]["weather"]["observed_at"]
            got = [await c.weather(station["id"], newer_than=newer_than) for c in (a, b)]
            assert {g["weather"]["temperature"] for g in got} == {12.0}
            for client in (a, b):  # once each: no copy from the other server, no poll
                with pytest.raises(TimeoutError):
                    await client.weather(station["id"], timeout=2 * INTERVAL)
        await a.close()
        await b.close()

    asyncio.run(scenario())
    assert cluster.upstream.fetches(coordinate(47.123, 8.456)) == []  # never fetched upstream
    deadline = time.monotonic() + 10  # stored by the receiving server's recorder task
    with psycopg.connect(cluster.env["DATABASE_URL"], autocommit=True) as conn:
        while True:
            rows = conn.execute(
                "SELECT observed_at, temperature FROM weatherstream_observation WHERE location_id = %s"
                " ORDER BY observed_at",
                [station["id"]],
            ).fetchall()
            if len(rows) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert [round(t, 2) for _, t in rows] == [10.0, 12.0]


async def test_watchers_are_counted_across_both_servers(cluster):
    a, b = await Client.open(cluster.ports["a"]), await Client.open(cluster.ports["b"])
    assert (await a.subscribe("Rome"))["watchers"] == 1
    await b.subscribe("Rome")
    await a.watchers("Rome", 2)  # b's share, from its heartbeat through the poller
    await b.watchers("Rome", 2)
    await b.close()
    await a.watchers("Rome", 1)
    await a.close()

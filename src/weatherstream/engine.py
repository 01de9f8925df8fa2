"""The per-process runtime: subscriptions, the latest reading per location, the poller.

One :class:`Engine` lives in each server process, bound to its event loop
(:func:`get_engine`). Consumers and views call it; it calls the hub, the poller and
the storage services.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.exceptions import ImproperlyConfigured

from . import metrics, protocol, services
from .breaker import CircuitBreaker
from .budget import CallBudget
from .bus import LayerDemand, LayerLink
from .conf import get_config
from .election import RedisLease, redis_url
from .flights import shared
from .geocoding import load_geocoders
from .hub import Hub, Subscriber
from .places import Place, TooManyPlaces
from .poller import Poller, Results
from .providers import ProviderError, WeatherProvider, load_provider
from .readings import Reading, supersedes
from .recorder import Recorder

logger = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0
SILENCE_SLACK = 5.0  # seconds past two intervals before a silent place is marked stale


def poll_interval(config: dict[str, Any], provider: WeatherProvider) -> float:
    """The configured interval, or the provider's default, never below its floor."""
    wanted = config["POLL_INTERVAL"] or provider.default_interval
    return max(float(wanted), provider.min_interval)


class Engine:
    """``role="server"`` serves WebSocket clients (and polls them itself when
    ``POLLER="embedded"``); ``role="poller"`` is ``manage.py weatherstream_poll``: it
    polls what the servers announce over the channel layer and publishes there."""

    def __init__(self, config: dict[str, Any] | None = None, *, role: str = "server") -> None:
        self.config = config or get_config()
        self.role = role
        self.loop = asyncio.get_running_loop()
        self.hub = Hub()
        self.places: dict[str, Place] = {}
        self.latest: dict[str, Reading] = {}
        self.released: dict[str, float] = {}  # location id -> when its last subscriber left
        self.geocoders = load_geocoders(self.config)
        self.provider = load_provider(self.config)
        self.interval = poll_interval(self.config, self.provider)
        heartbeat = self.config["DEMAND_HEARTBEAT"]
        self.link: LayerLink | None = None
        self.leases: LayerDemand | None = None
        self.lease: RedisLease | None = None
        demand: Callable[[], list[Place]] = self.demand
        self.wanted = demand  # the places this process must keep in memory
        if role == "poller":
            self.leases = LayerDemand(self._layer(), ttl=3 * heartbeat)
            demand = self.wanted = self.leases
            url = redis_url(self.config)
            if url:
                self.lease = RedisLease(url, ttl=self.config["LEADER_LEASE"])
            else:
                logger.warning("no Redis to elect a poller on: run only one weatherstream_poll")
        elif self.config["POLLER"] == "off":
            self.link = LayerLink(
                self._layer(),
                demand=self.demand,
                on_update=self._fan_out,
                on_latest=self._take_latest,
                heartbeat=heartbeat,
            )
        self.polls = role == "poller" or self.config["POLLER"] == "embedded"
        self.poller = Poller(
            provider=self.provider,
            interval=self.interval,
            demand=demand,
            deliver=self.deliver,
            schedule=self.lease,
            breaker=CircuitBreaker(
                threshold=self.config["BREAKER_FAILURES"], cooldown=self.config["BREAKER_COOLDOWN"]
            ),
            budget=CallBudget(self.config["UPSTREAM_BUDGET"])
            if self.config["UPSTREAM_BUDGET"] and self.provider.metered
            else None,
        )
        self.recorder = Recorder(limit=self.config["STORAGE_BUFFER"])
        self._stored: set[str] = set()
        self._meeting: dict[str, asyncio.Task[None]] = {}
        self._joining: dict[str, int] = {}  # place id -> subscribes under way
        self._place_json: dict[str, str] = {}
        self._weather_json: dict[str, str] = {}  # of self.latest, once fanned out
        self._hello: tuple[Any, str] = (None, "")
        self._tasks: list[asyncio.Task[Any]] = []
        self.addresses: dict[str, int] = {}  # client address -> open connections
        self.new_places: dict[str, dict[str, float]] = {}  # address -> place id -> when added

    @staticmethod
    def _layer() -> Any:
        layer = get_channel_layer()
        if layer is None:
            raise ImproperlyConfigured("A separate poller needs CHANNEL_LAYERS to be configured.")
        return layer

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        if self.role == "server":
            await asyncio.to_thread(self.geocoders.load)
        if self.lease is not None:
            self._tasks.append(self.loop.create_task(self._lead(self.lease), name="weatherstream-lead"))
        elif self.polls:
            self._tasks.append(self.loop.create_task(self._poll(), name="weatherstream-poller"))
        if self.leases is not None:
            self._tasks.append(
                self.loop.create_task(
                    self.leases.listen(self.poller.request, self._send_latest), name="weatherstream-demand"
                )
            )
        if self.link is not None:
            self._tasks.extend(await self.link.start())
        self._tasks.append(self.loop.create_task(self._sweep_forever(), name="weatherstream-sweep"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.lease is not None:
            await self.lease.release()
            await self.lease.aclose()
        await self.recorder.close()
        await self.provider.aclose()
        await self.geocoders.aclose()

    def polling(self) -> bool:
        """True while this process's poller task (or its lease loop) runs."""
        names = ("weatherstream-poller", "weatherstream-lead")
        return any(t.get_name() in names and not t.done() for t in self._tasks)

    async def _poll(self) -> None:
        """Poll, and prune old observations, until cancelled."""
        logger.info("poller started: provider=%s interval=%ss", self.config["PROVIDER"], self.interval)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.poller.run())
            tasks.create_task(self._prune_forever())

    async def _lead(self, lease: RedisLease) -> None:
        """Poll while holding the lease; stand by (listening to demand) otherwise."""
        polling: asyncio.Task[None] | None = None
        try:
            while True:
                if await lease.take():
                    if polling is None:
                        logger.info("this poller (%s) holds the lease", lease.holder)
                        polling = self.loop.create_task(self._poll(), name="weatherstream-poller")
                elif polling is not None:
                    logger.warning("this poller (%s) lost the lease; standing by", lease.holder)
                    polling.cancel()
                    await asyncio.gather(polling, return_exceptions=True)
                    polling = None
                await asyncio.sleep(lease.ttl / 3)
        finally:
            if polling is not None:
                polling.cancel()
                await asyncio.gather(polling, return_exceptions=True)

    @property
    def provider_name(self) -> str:
        """The source readings come from now ("open-meteo", or "simulated" while ``auto``
        falls back)."""
        return str(getattr(self.provider, "source", self.provider.name))

    # -- places -----------------------------------------------------------------------

    async def resolve(
        self, *, city: str | None = None, lat: float | None = None, lon: float | None = None
    ) -> Place:
        """The place a name or coordinates name: PlaceError when malformed, UnknownPlace
        (with the geocoders' typo suggestions, a few ms, only on a miss) when unknown."""
        if city is None:
            return self.geocoders.at(lat, lon)
        return await self.geocoders.find(city)

    async def _know(self, place: Place) -> None:
        """First time this process meets a place: store it, load its latest reading.

        Concurrent first subscribers of one place share one look-up."""
        if place.id not in self.places:
            await shared(self._meeting, place.id, lambda: self._meet(place))

    async def _meet(self, place: Place) -> None:
        await self._store_places([place])
        await self._reload(place.id)
        self.places.setdefault(place.id, place)

    async def _reload(self, location_id: str) -> None:
        """The stored latest reading, of the kinds this provider serves (a server on a real
        provider never takes up a stored simulated reading)."""
        stored = await database_sync_to_async(services.observation_latest)(
            location_id=location_id, real=self.provider.real, simulated=self.provider.simulates
        )
        held = self.latest.get(location_id)
        same = held is not None and stored is not None and stored.observed_at == held.observed_at
        if stored is not None and not same and supersedes(stored, held):
            self.latest[location_id] = stored
            self._weather_json.pop(location_id, None)

    async def _reload_quietly(self, location_id: str) -> None:
        try:
            await self._reload(location_id)
        except Exception as exc:  # the database is down too: nothing to mark stale
            logger.warning("loading the latest reading of %s failed (%s)", location_id, exc)

    async def _store_places(self, places: Iterable[Any]) -> None:
        todo = [p for p in places if p.id not in self._stored]
        if todo:
            await database_sync_to_async(services.locations_ensure)(places=todo)
            self._stored.update(p.id for p in todo)

    # -- subscriptions ----------------------------------------------------------------

    async def subscribe(self, place: Place, subscriber: Subscriber) -> Reading | None:
        """Watch a place; returns its latest known reading (None until the first fetch).

        The subscriber is registered after the last await, so no update can reach it
        before the caller has sent its ``subscribed`` reply.
        """
        self._joining[place.id] = self._joining.get(place.id, 0) + 1  # sweep() keeps it
        try:
            known = place.id in self.places
            await self._know(place)
            if self.link is not None and place.id not in self.link.joined:
                await self.link.watch(place)
                if known:  # updates stopped reaching this process when it left the group
                    await self._reload(place.id)
        finally:
            left = self._joining.pop(place.id) - 1
            if left:
                self._joining[place.id] = left
        self.places.setdefault(place.id, place)
        reading = self.latest.get(place.id)
        if self.hub.add(place.id, subscriber) and (reading is None or self._is_old(reading)):
            if self.polls:
                self.poller.request(place.id)
        self.released.pop(place.id, None)
        return reading

    def unsubscribe(self, location_id: str, subscriber: Subscriber) -> None:
        if self.hub.discard(location_id, subscriber):
            self.released[location_id] = time.monotonic()

    def connected(self, address: str) -> bool:
        """Count a new connection from ``address``; False (not counted) over the limit."""
        limit = self.config["MAX_CONNECTIONS_PER_ADDRESS"]
        count = self.addresses.get(address, 0)
        if limit is not None and count >= limit:
            return False
        self.addresses[address] = count + 1
        return True

    def disconnected(self, address: str) -> None:
        count = self.addresses.get(address, 0) - 1
        if count > 0:
            self.addresses[address] = count
        else:
            self.addresses.pop(address, None)

    def admit(self, place_id: str, address: str | None) -> bool:
        """May ``address`` add this place? Watching one already watched here, or one this
        address added within the hour, is free; another counts against
        NEW_PLACES_PER_HOUR (a new upstream fetch)."""
        limit = self.config["NEW_PLACES_PER_HOUR"]
        if limit is None or address is None or self.hub.count(place_id) or place_id in self.released:
            return True
        added = self.new_places.setdefault(address, {})
        hour_ago = time.monotonic() - 3600
        for old in [pid for pid, at in added.items() if at <= hour_ago]:
            del added[old]
        if place_id in added:
            return True
        if len(added) >= limit:
            return False
        added[place_id] = time.monotonic()
        return True

    def require_admitted(self, place_id: str, address: str | None) -> None:
        """:meth:`admit`, or TooManyPlaces."""
        if not self.admit(place_id, address):
            raise TooManyPlaces(self.config["NEW_PLACES_PER_HOUR"])

    def sweep(self) -> None:
        """Forget places nobody watches any more (past DEMAND_GRACE), and addresses
        that added no place for an hour: memory follows demand."""
        wanted = {p.id for p in self.wanted()}
        busy = self._meeting.keys() | self._joining.keys()
        for place_id in (self.places.keys() | self.latest.keys()) - wanted - busy:
            if self.hub.count(place_id):
                continue
            self.places.pop(place_id, None)
            self.latest.pop(place_id, None)
            self._place_json.pop(place_id, None)
            self._weather_json.pop(place_id, None)
            self._stored.discard(place_id)
        hour_ago = time.monotonic() - 3600
        for address, added in list(self.new_places.items()):
            if not added or max(added.values()) <= hour_ago:
                del self.new_places[address]

    async def _sweep_forever(self) -> None:
        """Sweep memory, and mark silent places stale, until cancelled."""
        every = min(60.0, max(1.0, self.interval / 2))
        while True:
            await asyncio.sleep(every)
            try:
                self.sweep()
                self.mark_silence()
            except Exception:  # a bug: keep sweeping
                logger.exception("sweeping the engine's state failed")

    def mark_silence(self, now: float | None = None) -> int:
        """A watched place whose reading is older than two intervals (poller dead, Redis
        down, upstream stuck) gets it again marked stale, from this process, so that its
        subscribers can tell silence from "no news". Returns how many were marked."""
        marked = 0
        for place_id in self.hub.locations():
            reading = self.latest.get(place_id)
            if reading is not None and not reading.stale and self._silent(reading, now):
                self._fan_out(place_id, reading.as_stale())
                metrics.STALE_MARKED.inc()
                marked += 1
        return marked

    def _silent(self, reading: Reading, now: float | None = None) -> bool:
        """Older than two intervals past what the upstream's own rhythm explains (a value
        stamped with the start of its 15-minute slot is up to 15 minutes old when new)."""
        overdue = self.config["SILENCE_AFTER"] or 2 * self.interval + self.provider.resolution + SILENCE_SLACK
        return (time.time() if now is None else now) - reading.observed_at.timestamp() > overdue

    def demand(self) -> list[Place]:
        """Places watched here now, or released less than DEMAND_GRACE seconds ago."""
        cutoff = time.monotonic() - self.config["DEMAND_GRACE"]
        for place_id, since in list(self.released.items()):
            if since < cutoff:
                del self.released[place_id]
        wanted = set(self.hub.locations()) | self.released.keys()
        return [self.places[pid] for pid in wanted if pid in self.places]

    def _is_old(self, reading: Reading) -> bool:
        age = time.time() - reading.observed_at.timestamp()
        return age > self.interval

    # -- readings ---------------------------------------------------------------------

    async def current(self, place: Place, address: str | None = None) -> Reading | None:
        """The latest reading, fetched now (one shared fetch) when none is fresh; a fetch
        for a place nobody watches counts against ``address``'s NEW_PLACES_PER_HOUR
        (TooManyPlaces past it)."""
        await self._know(place)
        reading = self.latest.get(place.id)
        if reading is not None and (reading.stale or not self._is_old(reading)):
            return reading
        self.require_admitted(place.id, address)
        # Shielded: a cancelled request (its client left) must not end a fetch others share.
        fetched = (await asyncio.shield(self.poller.fetch([place]))).get(place.id)
        return self.latest.get(place.id) or fetched or reading

    async def deliver(self, results: Results, error: ProviderError | None) -> None:
        """Poller callback: store what is new, then fan it out; mark failures stale."""
        if error is not None:
            for place, _ in results:
                await self._go_stale(place.id)
            return
        new: list[tuple[Any, Reading]] = []
        for place, reading in results:
            if reading is None:  # an answer with nothing usable for this place
                await self._go_stale(place.id)
                continue
            if place.id not in self.latest:  # e.g. a poller just elected: what is stored
                await self._reload_quietly(place.id)
            prev = self.latest.get(place.id)
            if (
                prev is not None
                and prev.stale
                and reading.observed_at == prev.observed_at
                and self._silent(reading)
            ):
                continue  # the upstream repeats an old value: it stays marked stale
            if not supersedes(reading, prev):
                if prev is not None and prev.real and not reading.real:
                    await self._go_stale(place.id)  # the auto fallback: keep the real one, stale
                continue  # nothing newer
            new.append((place, reading))
        if not new:
            return
        for place, reading in new:
            await self.publish(place.id, reading)
        # Then stored with their places (this process may be the first to meet them), by
        # the recorder's own task: a slow database delays no update, a down one loses none.
        self.recorder.add(new)

    async def _go_stale(self, location_id: str) -> None:
        """Republish the last good reading marked stale (once, not at every failure)."""
        if location_id not in self.latest and self.role == "poller":
            await self._reload_quietly(location_id)  # e.g. a new leader: from the database
        prev = self.latest.get(location_id)
        if prev is not None and not prev.stale:
            await self.publish(location_id, prev.as_stale())

    async def publish(self, location_id: str, reading: Reading) -> None:
        if self.leases is not None:
            self.latest[location_id] = reading
            try:
                await self.leases.publish(location_id, reading)
            except Exception as exc:  # the layer's Redis is down: the next update goes out
                logger.warning("publishing an update of %s failed (%s)", location_id, exc)
        else:
            self._fan_out(location_id, reading)

    async def _send_latest(self, channel: str, location_ids: list[str]) -> None:
        """A server joined these places' groups: send it what this poller holds."""
        if self.leases is not None and (self.lease is None or self.lease.held()):  # the leader
            for location_id in location_ids:
                if (reading := self.latest.get(location_id)) is not None:
                    await self.leases.publish(location_id, reading, to=channel)

    def _take_latest(self, location_id: str, reading: Reading) -> None:
        """The poller's latest on joining a group: fanned out unless held already."""
        held = self.latest.get(location_id)
        marks_stale = (
            held is not None and reading.stale and not held.stale and reading.observed_at == held.observed_at
        )
        if supersedes(reading, held) or marks_stale:
            self._fan_out(location_id, reading)

    def _fan_out(self, location_id: str, reading: Reading) -> None:
        self.latest[location_id] = reading
        weather = self._weather_json[location_id] = protocol.dumps(reading.to_wire())
        started = time.perf_counter()
        sent = self.hub.broadcast(location_id, weather)
        if sent:
            metrics.FANOUT_SECONDS.observe(time.perf_counter() - started)
            metrics.FRAMES.inc(sent)

    # -- frames -----------------------------------------------------------------------
    # JSON texts kept per place, so a subscribe or a connect serializes nothing.

    def hello(self) -> str:
        key = (self.provider_name, self.interval)
        if self._hello[0] != key:
            self._hello = (key, protocol.hello_frame(provider=key[0], poll_interval=key[1]))
        return self._hello[1]

    def subscribed(self, place: Place, msg_id: Any) -> str:
        """The ``subscribed`` reply with the latest reading of a place."""
        location = self._place_json.get(place.id)
        if location is None:
            location = self._place_json[place.id] = protocol.dumps(place.as_dict())
        reading = self.latest.get(place.id)
        weather = self._weather_json.get(place.id)
        if reading is not None and (weather is None or reading.stale):  # a stale one's age moves
            weather = self._weather_json[place.id] = protocol.dumps(reading.to_wire())
        temperature = reading.temperature if reading is not None else None
        return protocol.subscribed_frame(
            msg_id=msg_id, location=location, weather=weather, temperature=temperature
        )

    async def _prune_forever(self) -> None:
        keep = timedelta(days=self.config["RETENTION_DAYS"])
        while True:
            try:
                deleted = await database_sync_to_async(services.observations_prune)(older_than=keep)
                if deleted:
                    logger.info("pruned %d observation(s) older than %s", deleted, keep)
                watched = {p.id for p in self.wanted()}
                points = await database_sync_to_async(services.points_prune)(older_than=keep, keep=watched)
                if points:
                    logger.info("removed %d point location(s) nobody watched for %s", points, keep)
            except Exception as exc:  # the database is down: the next round prunes
                logger.warning("pruning observations failed (%s)", exc)
            await asyncio.sleep(PRUNE_EVERY)


_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[Engine]] = (
    weakref.WeakKeyDictionary()
)


async def _start_engine() -> Engine:
    engine = Engine()
    await engine.start()
    return engine


async def get_engine() -> Engine:
    """This process's engine, started once on first use in the running event loop."""
    loop = asyncio.get_running_loop()
    task = _engines.get(loop)
    if task is None or (task.done() and task.exception() is not None):
        task = _engines[loop] = loop.create_task(_start_engine(), name="weatherstream-start")
    return await asyncio.shield(task)


async def shutdown_engine() -> None:
    """Stop this loop's engine (ASGI lifespan shutdown, tests)."""
    task = _engines.pop(asyncio.get_running_loop(), None)
    if task is not None:
        engine = await task
        await engine.stop()

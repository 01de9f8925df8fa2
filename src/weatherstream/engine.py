"""The per-process runtimes, assembled from small roles.

:class:`Engine` lives in each server process, bound to its event loop
(:func:`get_engine`): consumers and views call it. It resolves places (the geocoders),
keeps who watches what (:mod:`subscriptions`), the latest readings (:mod:`latest`) and
the places it met; updates reach its subscribers through the hub. With
``POLLER="embedded"`` it polls them itself; with ``POLLER="off"`` it announces them to a
separate poller and receives the updates over the channel layer (:mod:`bus`).

:class:`PollerEngine` is ``manage.py weatherstream_poll``: it polls what the servers
announce and publishes to the layer, while it holds the lease (:mod:`election`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.exceptions import ImproperlyConfigured

from . import garbage, metrics, protocol, services
from .bus import LayerDemand, LayerLink
from .conf import get_config
from .election import RedisLease, redis_url
from .flights import NextRun
from .forecasts import Forecast, Forecasts, covers
from .geocoding import load_geocoders
from .hub import Subscriber
from .latest import Latest, LatestForecasts
from .places import Place, UnknownStation, is_station
from .poller import Poller
from .providers import WeatherProvider
from .providers.base import FORECAST_EVERY
from .publishing import HubPublisher, LayerPublisher, Publisher
from .readings import Reading, supersedes
from .recorder import Recorder, uninterrupted
from .registry import PlaceRegistry
from .sending import Prepared
from .stations import Station, UploadLimits
from .subscriptions import Subscriptions
from .updates import ForecastUpdates, Updates
from .upstream import Forecasting, load_chain
from .watchers import Watchers

logger = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0
SILENCE_SLACK = 5.0  # seconds past two intervals before a silent place is marked stale
LOOKUPS_KEPT = 8  # resumes' look-ups kept per place (one since each)
LOOKUP_REUSE = 30.0  # seconds a resume's look-up is taken up again (a reconnect storm)
LAYER_HEAD_START = 0.05  # seconds an upload's local fan-out waits for the layer to take it


class _LookUp(NamedTuple):
    """A resume's look-up: the mark of what was put here when it began, what was stored
    or queued then, when it was made, and the layer group's join it was made in."""

    mark: int
    readings: list[Reading]
    at: float
    joined: float | None


def poll_interval(config: dict[str, Any], provider: WeatherProvider) -> float:
    """The interval a place is fetched at (clients are told it, silence is marked by it):
    the configured one or the provider's default, never below its floor nor below its
    data's own resolution (Open-Meteo's values change every 15 minutes, however often
    they are asked for)."""
    wanted = config["POLL_INTERVAL"] or provider.default_interval
    return max(float(wanted), provider.min_interval, provider.resolution)


def poll_spacing(config: dict[str, Any], provider: WeatherProvider) -> float:
    """The least time between two fetches of a place whose upstream says when it has
    something new: the configured interval, or else only the provider's floor."""
    return max(float(config["POLL_INTERVAL"] or 0.0), provider.min_interval)


def forecast_interval(config: dict[str, Any], providers: list[WeatherProvider]) -> float:
    """The least time between two forecast fetches of a place: what the first provider
    that makes forecasts allows under ``config`` (FORECAST_INTERVAL, else an hour)."""
    if not providers:
        return FORECAST_EVERY
    return providers[0].forecast_interval(config)


def channel_layer() -> Any:
    layer = get_channel_layer()
    if layer is None:
        raise ImproperlyConfigured("A separate poller needs CHANNEL_LAYERS to be configured.")
    return layer


class Runtime:
    """What both runtimes hold: the chain of providers, the latest readings, the recorder,
    and the tasks they run."""

    poller: Poller[Reading]  # made by the subclass, with :meth:`_poller`
    forecast_poller: Poller[Forecasts]  # and :meth:`_forecast_poller`

    def __init__(self, config: dict[str, Any] | None) -> None:
        self.config = config or get_config()
        self.loop = asyncio.get_running_loop()
        self.chain = load_chain(self.config)
        self.provider = self.chain.first.provider  # the preferred one
        self.interval = poll_interval(self.config, self.provider)
        self.latest = Latest(real=self.chain.real, simulated=self.chain.simulates)
        self.forecasting = Forecasting(self.chain)
        self.forecast_every = forecast_interval(self.config, self.forecasting.providers)
        self.forecasts = LatestForecasts(real=self.chain.real, simulated=self.chain.simulates)
        self.recorder = Recorder(limit=self.config["STORAGE_BUFFER"])
        self._tasks: list[asyncio.Task[Any]] = []
        self._uploads: set[asyncio.Task[bool]] = set()  # carried through if their request goes

    def _poller(
        self,
        demand: Callable[[], Iterable[Any]],
        publisher: Publisher,
        *,
        reload_unknown: bool = False,
        **kwargs: Any,
    ) -> Poller[Reading]:
        """A poller whose results go through :attr:`updates` to ``publisher``."""
        self.updates = Updates(
            latest=self.latest,
            publisher=publisher,
            recorder=self.recorder,
            silent=self.silent,
            reload_unknown=reload_unknown,
        )
        return Poller(
            chain=self.chain,
            interval=self.interval,
            spacing=poll_spacing(self.config, self.provider),
            demand=demand,
            deliver=self.updates.deliver,
            **kwargs,
        )

    def _forecast_poller(
        self, demand: Callable[[], Iterable[Any]], publisher: Publisher, **kwargs: Any
    ) -> Poller[Forecasts]:
        """A poller of the forecasts of the places ``demand`` names, at most every
        :func:`forecast_interval`, whose results go to ``publisher``."""
        spacing = self.forecast_every
        self.forecast_updates = ForecastUpdates(latest=self.forecasts, publisher=publisher)
        return Poller(
            chain=self.forecasting,
            gauges=False,  # the readings poller's
            interval=max(spacing, self.interval),
            spacing=spacing,
            demand=demand,
            deliver=self.forecast_updates.deliver,
            **kwargs,
        )

    # Readings and forecasts spend one call budget when they come from the same upstream:
    # each poller stretches its interval for its own calls and the other's, counted per
    # round of its own at their intervals' ratio, so that both stretch alike. Forecasts are
    # planned hourly at most (a model's runs come no oftener; a shorter FORECAST_INTERVAL
    # is for a self-hosted upstream, where the budget's guard still refuses what is over).

    def _forecast_rounds(self) -> float:
        return max(self.forecast_every, FORECAST_EVERY)

    def forecasts_share(self, count: int) -> float:
        """The forecasts of ``count`` places, in calls per round of readings."""
        return self.forecasting.calls(count) * self.interval / self._forecast_rounds()

    def readings_share(self, count: int) -> float:
        """The readings of ``count`` places, in calls per round of forecasts."""
        if not self.forecasting.shares_budget:
            return 0.0
        return self.chain.calls(count) * self._forecast_rounds() / self.interval

    def _task(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        self._tasks.append(self.loop.create_task(coro, name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.recorder.close()
        await self.chain.aclose()

    def poller_alive(self) -> bool:
        """True while this process's poller task (or its lease loop) runs."""
        names = ("weatherstream-poller", "weatherstream-lead")
        return any(t.get_name() in names and not t.done() for t in self._tasks)

    @property
    def provider_name(self) -> str:
        """The source readings come from now: the first provider of the chain whose
        circuit is not open ("simulated" while ``auto`` falls back offline)."""
        return self.chain.source

    def silence_after(self, place_id: str = "") -> float:
        """Seconds without a new reading after which a place is silent: for a station,
        STATION_SILENCE_AFTER; else SILENCE_AFTER, or two intervals past what the
        upstream's own rhythm explains (a value stamped with the start of its 15-minute
        slot is up to 15 minutes old when new)."""
        if is_station(place_id):
            return float(self.config["STATION_SILENCE_AFTER"])
        interval = self.effective_interval
        return float(self.config["SILENCE_AFTER"] or 2 * interval + self.chain.resolution + SILENCE_SLACK)

    def silent(self, reading: Reading, now: float | None = None, place_id: str = "") -> bool:
        age = (time.time() if now is None else now) - reading.observed_at.timestamp()
        return age > self.silence_after(place_id)

    def is_old(self, reading: Reading) -> bool:
        """Older than one interval: due for a fetch."""
        return time.time() - reading.observed_at.timestamp() > self.effective_interval

    @property
    def effective_interval(self) -> float:
        """The interval places are fetched at: the poll interval, stretched evenly when
        the watched places would exceed the call budget."""
        return self.poller.effective_interval

    async def _poll(self, poller: Poller[Reading], wanted: Callable[[], Iterable[Any]]) -> None:
        """Poll readings, and forecasts where a provider makes them, and prune old
        observations, until cancelled."""
        logger.info("poller started: provider=%s interval=%ss", self.config["PROVIDER"], self.interval)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(poller.run())
            if self.forecasting.enabled:
                tasks.create_task(self.forecast_poller.run())
            tasks.create_task(self._prune_forever(wanted))

    async def _prune_forever(self, wanted: Callable[[], Iterable[Any]]) -> None:
        keep = timedelta(days=self.config["RETENTION_DAYS"])
        while True:
            try:
                prune = database_sync_to_async(services.observations_prune)
                deleted = await uninterrupted(prune(older_than=keep))
                if deleted:
                    logger.info("pruned %d observation(s) older than %s", deleted, keep)
                watched = {p.id for p in wanted()}
                prune_points = database_sync_to_async(services.points_prune)
                points = await uninterrupted(prune_points(older_than=keep, keep=watched))
                if points:
                    logger.info("removed %d point location(s) nobody watched for %s", points, keep)
            except Exception as exc:  # the database is down: the next round prunes
                logger.warning("pruning observations failed (%s)", exc)
            await asyncio.sleep(PRUNE_EVERY)


class Engine(Runtime):
    """A server process's runtime (see the module docstring)."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.geocoders = load_geocoders(self.config)
        self.subscriptions = Subscriptions(self.config)
        # Resumes' look-ups, (mark, readings), shared while under way and kept afterwards
        # per place and since, while the place is watched here (see _missed).
        self._lookups: NextRun[tuple[int, list[Reading]]] = NextRun()
        self._looked_up: dict[str, dict[datetime, _LookUp]] = {}
        self.hub = self.subscriptions.hub
        self.watchers = Watchers(self.hub)
        self.places = PlaceRegistry(self.latest)
        self.upload_limits = UploadLimits(self.config)
        self.stations_seen: dict[str, Station] = {}  # as storage last had them (views._registered)
        self.freezer = garbage.FREEZER if garbage.wanted(self.config["GC_FREEZE"]) else None
        self._freezing = False  # this engine started the freezer (and stops it)
        self.publisher = HubPublisher(
            self.hub, self.latest, forecast_hub=self.subscriptions.forecast_hub, forecasts=self.forecasts
        )
        self.link: LayerLink | None = None
        self.polls = self.config["POLLER"] == "embedded"
        # Fetching now (current()) works in any setup; the embedded poller also polls.
        self.poller = self._poller(
            self.demand,
            self.publisher,
            watchers=self.hub.count,
            shared=lambda: self.forecasts_share(len(self.subscriptions.forecast_watched())),
        )
        self.forecast_poller = self._forecast_poller(
            self.forecast_demand,
            self.publisher,
            shared=lambda: self.readings_share(len(self.demand())),
        )
        if not self.polls:
            self.link = LayerLink(
                channel_layer(),
                demand=self.watched_places,
                # Only what is news here: a reading a resume found stored first, and then
                # fanned out, is not sent again when its layer message comes late.
                on_update=self.publisher.fan_out_if_news,
                on_latest=self.publisher.fan_out_if_news,
                on_forecast=self.publisher.fan_out_forecast,
                forecast_demand=self.subscriptions.forecast_watched,
                watchers=self.hub.count,
                on_watchers=lambda place_id, shares: self.watchers.told(
                    place_id, shares, self.link_channel()
                ),
                heartbeat=self.config["DEMAND_HEARTBEAT"],
            )
        self._hello: tuple[Any, Prepared] = (None, Prepared(""))

    @property
    def effective_interval(self) -> float:
        """With a separate poller, the interval its updates carry (until one has come:
        this process's own)."""
        told = self.link.interval if self.link is not None else None
        return told if told is not None else self.poller.effective_interval

    async def start(self) -> None:
        if self._tasks:
            return
        await asyncio.to_thread(self.geocoders.load)
        if self.polls:
            self._task(self._poll(self.poller, self.demand), "weatherstream-poller")
        if self.link is not None:
            self._tasks.extend(await self.link.start())
        self._task(self._sweep_forever(), "weatherstream-sweep")
        self._task(self._watchers_forever(), "weatherstream-watchers")
        if self.freezer is not None:
            self.freezer.start()
            self._freezing = True
            self._task(self._collect_forever(self.freezer), "weatherstream-gc")

    async def stop(self) -> None:
        await super().stop()
        await self.geocoders.aclose()
        if self.freezer is not None and self._freezing:
            self.freezer.stop()
            self._freezing = False

    def connection_opened(self) -> None:
        if self.freezer is not None:
            self.freezer.opened()

    def connection_closed(self) -> None:
        if self.freezer is not None:
            self.freezer.closed()

    async def _collect_forever(self, freezer: garbage.Freezer) -> None:
        """A step of the garbage collector every second, and the complete collection when
        it is due (garbage.py)."""
        checked = time.monotonic()
        while True:
            await asyncio.sleep(garbage.STEP_EVERY)
            try:
                if time.monotonic() - checked >= garbage.CHECK_EVERY:
                    checked = time.monotonic()
                    if freezer.due():
                        self._collect_completely(freezer)
                        continue
                freezer.step()
            except Exception:  # a bug: keep going
                logger.exception("a garbage collection failed")

    @staticmethod
    def _collect_completely(freezer: garbage.Freezer) -> None:
        started, done = time.perf_counter(), freezer.complete
        freezer.collect()
        if freezer.complete > done:
            logger.debug(
                "complete garbage collection: %.0f ms, %d objects frozen after it",
                (time.perf_counter() - started) * 1e3,
                freezer.frozen_after,
            )

    # -- places -----------------------------------------------------------------------

    async def resolve(
        self,
        *,
        city: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        station: str | None = None,
    ) -> Place:
        """The place a name, coordinates or a station id name: PlaceError when malformed,
        UnknownPlace (with the geocoders' typo suggestions, a few ms, only on a miss) or
        UnknownStation when unknown."""
        if station is not None:
            return await self.station(station)
        if city is None:
            return self.geocoders.at(lat, lon)
        return await self.geocoders.find(city)

    async def station(self, station_id: str) -> Place:
        """A registered station's place (UnknownStation when there is none)."""
        station_id = station_id.strip().lower()
        if not is_station(station_id):
            raise UnknownStation(station_id)
        known = self.places.get(station_id)
        if known is not None:
            return known
        found: Station | None = await database_sync_to_async(services.station_get)(station_id=station_id)
        if found is None:
            raise UnknownStation(station_id)
        return found.place

    # -- subscriptions ----------------------------------------------------------------

    async def subscribe(self, place: Place, subscriber: Subscriber) -> Reading | None:
        """Watch a place; returns its latest known reading (None until the first fetch).

        The subscriber is registered after the last await, so no update can reach it
        before the caller has sent its ``subscribed`` reply.
        """
        await self._join(place)
        return self._register(place, subscriber)

    async def resume(
        self, place: Place, subscriber: Subscriber, since: datetime
    ) -> tuple[Reading | None, list[Reading] | None]:
        """:meth:`subscribe`, and the readings observed after ``since`` that the client
        missed, oldest first (None when they cannot all be had: older than the retention,
        more than RESUME_LIMIT, storage failing). Looked up before the subscriber is
        registered, with no await between: what is published meanwhile is the held latest,
        added at the end, and anything later reaches the subscriber live, so none comes
        twice and none is missing. A stored reading newer than the held one (its layer
        message not here yet) goes to this process's other subscribers first."""
        missed = await self._join(place, since)
        held = self.latest.get(place.id)
        newest = missed[-1] if missed else None
        if newest and (held is None or newest.observed_at != held.observed_at) and supersedes(newest, held):
            self.publisher.fan_out(place.id, newest)  # stored, not heard of here yet: to those here
        reading = self._register(place, subscriber)
        if missed is not None and reading is not None and reading.observed_at > since:
            if missed and missed[-1].observed_at == reading.observed_at:
                missed[-1] = reading  # as held: marked stale since, perhaps
            elif not missed or reading.observed_at > missed[-1].observed_at:
                missed.append(reading)  # published, not stored yet
        return reading, missed

    async def _join(self, place: Place, since: datetime | None = None) -> list[Reading] | None:
        with self.subscriptions.joining(place.id):  # sweep() keeps it meanwhile
            known = place.id in self.places
            await self.places.meet(place)
            if self.link is not None and place.id not in self.link.joined:
                self._looked_up.pop(place.id, None)  # readings may have passed by meanwhile
                await self.link.watch(place)
                if known:  # updates stopped reaching this process when it left the group
                    await self.latest.reload(place.id)
            return None if since is None else await self._missed(place.id, since)

    async def _missed(self, place_id: str, since: datetime) -> list[Reading] | None:
        """The readings of a place observed after ``since``: stored, on their way to
        storage (the recorder's queue) or published here during the look-up; None when not
        all of them can be had. Resumes of a place from one reading (a reconnect storm asks
        the same of each) share a look-up that began after they asked, and for LOOKUP_REUSE
        seconds later ones take it up again with what is kept here: every reading of a
        watched place passes through this process's Latest while it is in the place's group."""
        if since < datetime.now(UTC) - timedelta(days=self.config["RETENTION_DAYS"]):
            return None  # pruned since
        kept = self._looked_up.setdefault(place_id, {})
        joined = self.link.joined.get(place_id) if self.link is not None else None
        looked = kept.get(since)
        if looked is not None and (time.monotonic() - looked.at > LOOKUP_REUSE or looked.joined != joined):
            looked = None  # too old to trust, or the group was joined anew meanwhile
        recent = None if looked is None else self.latest.recent(place_id, looked.mark)
        if looked is None or recent is None:  # none to take up, or more published since than kept
            try:
                mark, readings = await self._lookups(
                    (place_id, since), lambda: self._look_up(place_id, since)
                )
            except Exception as exc:  # the database is down: the client reloads its history later
                logger.warning("loading the readings of %s after %s failed (%s)", place_id, since, exc)
                return None
            looked = kept[since] = _LookUp(mark, readings, time.monotonic(), joined)
            if len(kept) > LOOKUPS_KEPT:
                del kept[next(iter(kept))]
            recent = self.latest.recent(place_id, mark)
            if recent is None:  # more were published meanwhile than are kept
                return None
        # What is kept here covers what was published during the look-up, and what this
        # process holds before the database has it (a poller publishes, then stores).
        missed = {r.observed_at: r for r in (*looked.readings, *recent) if r.observed_at > since}
        if len(missed) > self.config["RESUME_LIMIT"]:
            return None
        return [missed[at] for at in sorted(missed)]

    async def _look_up(self, place_id: str, since: datetime) -> tuple[int, list[Reading]]:
        """A mark of what was published so far, and what was stored or queued to be by then."""
        # Taken first, with no await between: the writer drops what it stored from its
        # queue after the query began, and what is published later is after the mark.
        mark = self.latest.mark(place_id)
        queued = [
            r for (pid, at), (_, r) in list(self.recorder.pending.items()) if pid == place_id and at > since
        ]
        stored = await database_sync_to_async(services.observations_after)(
            location_id=place_id,
            after=since,
            limit=self.config["RESUME_LIMIT"] + 1,
            real=self.latest.real or is_station(place_id),
            simulated=self.latest.simulated,
        )
        return mark, [*stored, *queued]

    def _register(self, place: Place, subscriber: Subscriber) -> Reading | None:
        self.places.add(place)
        reading = self.latest.get(place.id)
        if self.subscriptions.add(place.id, subscriber) and (reading is None or self.is_old(reading)):
            if self.polls and not is_station(place.id):
                self.poller.request(place.id)
        self.watchers.touch(place.id)
        return reading

    def unsubscribe(self, place_id: str, subscriber: Subscriber) -> None:
        self.subscriptions.discard(place_id, subscriber)
        self.watchers.touch(place_id)

    def link_channel(self) -> str:
        return self.link.channel if self.link is not None else ""

    async def watch_forecast(self, place: Place, kinds: Iterable[str], subscriber: Subscriber) -> list[str]:
        """Send the place's forecasts of these kinds to ``subscriber`` from now on (the
        place is subscribed to already); returns the ``forecast`` frames held now, to
        send right after ``subscribed``. The subscriber is registered after the last
        await, so no forecast reaches it before those frames."""
        kinds = list(kinds)
        first = bool(kinds) and place.id not in self.subscriptions.forecast_watched()
        if first:
            if not any(self.forecasts.get(place.id, k) for k in kinds):
                try:
                    await self.forecasts.reload(place.id)
                except Exception as exc:  # the database is down: the fetch brings them
                    logger.warning("loading the forecasts of %s failed (%s)", place.id, exc)
            if self.link is not None:
                try:
                    await self.link.want_forecast(place)
                except Exception as exc:  # the layer's Redis: the next heartbeat tells it
                    logger.warning("announcing the forecast demand of %s failed (%s)", place.id, exc)
        for kind in kinds:
            self.subscriptions.add_forecast(place.id, kind, subscriber)
        if (
            self.polls
            and self.forecasting.enabled
            and (first or not all(self._covered(place.id, kind) for kind in kinds))
        ):
            self.forecast_poller.request(place.id)
        now = datetime.now(UTC)
        return [
            frame
            for kind in kinds
            if (held := self.forecasts.get(place.id, kind)) is not None
            and covers(held, now)  # an outdated one is fetched anew (requested above)
            and (frame := self.forecasts.frame(place.id, kind)) is not None
        ]

    def _covered(self, place_id: str, kind: str) -> bool:
        held = self.forecasts.get(place_id, kind)
        return held is not None and covers(held, datetime.now(UTC))

    def unwatch_forecast(self, place_id: str, kinds: Iterable[str], subscriber: Subscriber) -> None:
        for kind in kinds:
            self.subscriptions.discard_forecast(place_id, kind, subscriber)

    def forecast_demand(self) -> list[Place]:
        """Places whose forecast is watched here now, or was less than DEMAND_GRACE ago."""
        return [self.places[pid] for pid in self.subscriptions.forecast_watched() if pid in self.places]

    def connected(self, address: str) -> bool:
        return self.subscriptions.connected(address)

    def disconnected(self, address: str) -> None:
        self.subscriptions.disconnected(address)

    def require_admitted(self, place_id: str, address: str | None) -> None:
        self.subscriptions.require_admitted(place_id, address)

    def watched_places(self) -> list[Place]:
        """Places watched here now, or released less than DEMAND_GRACE seconds ago."""
        return [self.places[pid] for pid in self.subscriptions.watched() if pid in self.places]

    def demand(self) -> list[Place]:
        """The watched places whose readings are fetched (a station's are uploaded)."""
        return [place for place in self.watched_places() if not is_station(place.id)]

    def sweep(self) -> None:
        """Forget places nobody watches any more (past DEMAND_GRACE), and addresses
        that added no place for an hour: memory follows demand."""
        keep = (
            self.subscriptions.watched()
            | self.subscriptions.forecast_watched()
            | self.subscriptions.busy()
            | self.places.meeting()
        )
        for place_id in (self.places.keys() | self.latest.ids() | self.forecasts.ids()) - keep:
            self.places.forget(place_id)
            self.latest.forget(place_id)
            self._looked_up.pop(place_id, None)
            self.forecasts.forget(place_id)
            self.watchers.forget(place_id)
        self.subscriptions.sweep()

    async def _watchers_forever(self) -> None:
        """Tell subscribers their place's count of watchers when it changed, at most once
        every WATCHERS_EVERY seconds (coalesced)."""
        while True:
            await asyncio.sleep(self.config["WATCHERS_EVERY"])
            try:
                metrics.FRAMES.inc(self.watchers.flush())
            except Exception:  # a bug: keep telling
                logger.exception("sending the counts of watchers failed")

    async def _sweep_forever(self) -> None:
        """Sweep memory, and mark silent places stale, until cancelled."""
        quickest = min(self.silence_after(), float(self.config["STATION_SILENCE_AFTER"]))
        every = min(60.0, max(1.0, quickest / 4))
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
            if reading is not None and not reading.stale and self.silent(reading, now, place_id):
                self.publisher.fan_out(place_id, reading.as_stale())
                metrics.STALE_MARKED.inc()
                marked += 1
        return marked

    # -- readings ---------------------------------------------------------------------

    async def current(self, place: Place, address: str | None = None) -> Reading | None:
        """The latest reading, fetched now (one shared fetch) when none is fresh; a fetch
        for a place nobody watches counts against ``address``'s NEW_PLACES_PER_HOUR
        (TooManyPlaces past it)."""
        await self.places.meet(place)
        reading = self.latest.get(place.id)
        if is_station(place.id):  # uploaded, never fetched
            return reading.as_stale() if reading and self.silent(reading, place_id=place.id) else reading
        if reading is not None and (reading.stale or not self.is_old(reading)):
            return reading
        self.require_admitted(place.id, address)
        # Shielded: a cancelled request (its client left) must not end a fetch others share.
        fetched = (await asyncio.shield(self.poller.fetch([place]))).get(place.id)
        return self.latest.get(place.id) or fetched or reading

    async def forecast(self, place: Place, kind: str, address: str | None = None) -> Forecast | None:
        """The place's latest forecast of ``kind``: held, else stored, else (or when it no
        longer covers the next hours or days: :func:`forecasts.covers`) fetched now (one
        shared fetch; for a place nobody watches it counts against ``address``'s
        NEW_PLACES_PER_HOUR, TooManyPlaces past it). None when no provider has one."""
        await self.places.meet(place)
        if not self._covered(place.id, kind):
            await self.forecasts.reload(place.id)
        held = self.forecasts.get(place.id, kind)
        if self._covered(place.id, kind) or not self.forecasting.enabled:
            return held
        self.require_admitted(place.id, address)
        fetched = (await asyncio.shield(self.forecast_poller.fetch([place]))).get(place.id)
        new = fetched.get(kind) if fetched is not None else None
        return self.forecasts.get(place.id, kind) or new or held

    # -- stations ---------------------------------------------------------------------

    async def upload(self, place: Place, reading: Reading) -> bool:
        """A station's new reading: to its subscribers in every other process (over the
        channel layer when there is one) and in this one at once, and stored (once: by
        this process, idempotently). Returns whether it was news (a repeat, or one older
        than the latest, is stored but sent to nobody)."""
        # Once begun, published and stored even if the station hangs up meanwhile.
        taking = asyncio.ensure_future(self._take_upload(place, reading))
        self._uploads.add(taking)
        taking.add_done_callback(self._uploads.discard)
        return await asyncio.shield(taking)

    async def _take_upload(self, place: Place, reading: Reading) -> bool:
        try:
            await self.places.meet(place)  # the latest stored reading, to compare with
        except Exception as exc:  # the database is down: the recorder keeps the reading
            logger.warning("loading the latest reading of %s failed (%s)", place.id, exc)
        news = self.latest.is_news(place.id, reading)
        sending = None
        if news and self.link is not None:
            # The layer first, so that the other processes fan out while this one does;
            # one that does not answer (Redis stalled) holds this one back no longer than that.
            sending = asyncio.ensure_future(self.link.publish(place.id, reading))
            await asyncio.wait({sending}, timeout=LAYER_HEAD_START)
        if news:
            self.publisher.fan_out_if_news(place.id, reading)  # unless the layer's echo did
        self.recorder.add([(place, reading)])
        if sending is not None:
            try:
                await sending
            except Exception as exc:  # the layer's Redis: the other processes miss this one
                logger.warning("publishing an upload of %s failed (%s)", place.id, exc)
        return news

    # -- frames -----------------------------------------------------------------------
    # JSON texts kept per place, so a subscribe or a connect serializes nothing.

    def hello(self) -> Prepared:
        """The ``hello`` frame, prepared once for every connection until it changes."""
        key = (self.provider_name, self.effective_interval)
        if self._hello[0] != key:
            self._hello = (key, Prepared(protocol.hello_frame(provider=key[0], poll_interval=key[1])))
        return self._hello[1]

    def subscribed(self, place: Place, msg_id: Any, recovered: bool | None = None) -> str:
        """The ``subscribed`` reply with the latest reading of a place (``recovered``: to
        a subscribe with ``since``)."""
        location = self.places.text(place)
        reading = self.latest.get(place.id)
        temperature = reading.temperature if reading is not None else None
        return protocol.subscribed_frame(
            msg_id=msg_id,
            location=location,
            weather=self.latest.text(place.id),
            temperature=temperature,
            poll_interval=self.effective_interval,
            recovered=recovered,
            watchers=self.watchers.count(place.id),
        )


class PollerEngine(Runtime):
    """``manage.py weatherstream_poll``: polls what the servers announce over the channel
    layer, while it holds the lease in Redis (without Redis: always, run only one)."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        # What the servers announce (leases that expire unless renewed), called like
        # Engine.demand; the lease below is the poller election's.
        self.demand = LayerDemand(
            channel_layer(),
            ttl=3 * self.config["DEMAND_HEARTBEAT"],
            interval=lambda: self.poller.effective_interval,
        )
        self.publisher = LayerPublisher(self.demand, self.latest, self.forecasts)
        url = redis_url(self.config)
        self.lease = RedisLease(url, ttl=self.config["LEADER_LEASE"]) if url else None
        self.demand.leading = lambda: self.lease is None or self.lease.held()
        if self.lease is None:
            logger.warning("no Redis to elect a poller on: run only one weatherstream_poll")
        self.polls = True
        self.poller = self._poller(
            self.demand,
            self.publisher,
            reload_unknown=True,
            schedule=self.lease,
            shared=lambda: self.forecasts_share(len(self.demand.forecasts())),
        )
        self.forecast_poller = self._forecast_poller(
            self.demand.forecasts,
            self.publisher,
            schedule=None if self.lease is None else self.lease.forecasts(),
            shared=lambda: self.readings_share(len(self.demand.leases)),
        )

    async def start(self) -> None:
        if self._tasks:
            return
        if self.lease is not None:
            self._task(self._lead(self.lease), "weatherstream-lead")
        else:
            self._task(self._poll(self.poller, self.demand), "weatherstream-poller")
        self._task(
            self.demand.listen(self.poller.request, self._send_latest, self.forecast_poller.request),
            "weatherstream-demand",
        )

    async def stop(self) -> None:
        await super().stop()
        if self.lease is not None:
            await self.lease.release()
            await self.lease.aclose()

    async def _send_latest(self, channel: str, place_ids: list[str]) -> None:
        """A server joined these places' groups: the leader sends it what it holds."""
        if self.lease is None or self.lease.held():
            await self.publisher.send_latest(channel, place_ids)

    async def _lead(self, lease: RedisLease) -> None:
        """Poll while holding the lease; stand by (listening to demand) otherwise."""
        polling: asyncio.Task[None] | None = None
        try:
            while True:
                if await lease.take():
                    if polling is None:
                        logger.info("this poller (%s) holds the lease", lease.holder)
                        polling = self.loop.create_task(
                            self._poll(self.poller, self.demand), name="weatherstream-poller"
                        )
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
    if task is not None and task.done() and not task.cancelled() and task.exception() is None:
        return task.result()  # started: no shield (a future and callbacks) per connection
    if task is None or task.done():  # not started, or its start failed or was cancelled
        task = _engines[loop] = loop.create_task(_start_engine(), name="weatherstream-start")
    return await asyncio.shield(task)


async def shutdown_engine() -> None:
    """Stop this loop's engine (ASGI lifespan shutdown, tests)."""
    task = _engines.pop(asyncio.get_running_loop(), None)
    if task is not None:
        engine = await task
        await engine.stop()

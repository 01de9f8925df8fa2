"""Between server processes and a separate poller, over the Channels layer.

A server process that leaves polling to ``manage.py weatherstream_poll``
(``POLLER="off"``) announces what its clients watch to the ``weatherstream.poller``
group, again every ``DEMAND_HEARTBEAT`` seconds, and joins one group per watched
location with a single channel of its own. The poller holds each announcement as a
lease that expires unless renewed, so a crashed process stops being polled for; it
sends each update once to the location's group: one message per update per process,
fanned out to local subscribers by that process's hub.

A process that joins a location's group asks, in the same announcement, for the
latest reading the poller holds: the poller sends it to that process's channel
alone, so a place watched elsewhere has its reading at once, even before the
database has stored it (or while the database is down).

Every update carries the poller's effective interval (stretched when the call budget
runs short), which the servers tell their clients and mark silence by.

A station's upload reaches the servers the same way, sent by the server that received
it (:meth:`LayerLink.publish`): the poller leaves stations out of its demand (their
readings are uploaded, not fetched) but fetches their forecasts when asked.

Forecasts go the same way: an announced place marked ``"forecast": true`` is also in
the forecast poller's demand, and each forecast that changed goes once to the place's
group (``"type": "forecast"``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .flights import shared
from .forecasts import Forecast
from .places import Place, is_station
from .readings import Reading

logger = logging.getLogger(__name__)

POLLER_GROUP = "weatherstream.poller"


def location_group(location_id: str) -> str:
    # Group names allow letters, digits, "-", "_" and "."; coordinate ids carry a comma.
    return "weatherstream.loc." + location_id.replace(",", "_")


def weather_message(location_id: str, reading: Reading, *, interval: float | None = None) -> dict[str, Any]:
    """A new reading for a location's group; ``interval``: the poller's effective one."""
    message: dict[str, Any] = {"type": "weather", "location": location_id, "weather": reading.to_wire()}
    if interval is not None:
        message["interval"] = interval
    return message


async def receive(layer: Any, channel: str, what: str) -> dict[str, Any]:
    """The next message on ``channel``, waiting out layer failures (Redis restarting).

    Never cancelled by a timeout: the pub/sub layer drops a channel whose receive() is
    cancelled."""
    while True:
        try:
            message: dict[str, Any] = await layer.receive(channel)
            return message
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("receiving %s failed (%s); retrying", what, exc)
            await asyncio.sleep(1.0)


class LayerLink:
    """A server process's side: announce demand, receive updates for its hub."""

    def __init__(
        self,
        layer: Any,
        *,
        demand: Callable[[], list[Place]],
        on_update: Callable[[str, Reading], None],
        on_latest: Callable[[str, Reading], None] | None = None,
        on_forecast: Callable[[str, Forecast], None] | None = None,
        forecast_demand: Callable[[], set[str]] | None = None,
        watchers: Callable[[str], int] | None = None,
        on_watchers: Callable[[str, dict[str, int]], None] | None = None,
        heartbeat: float,
    ) -> None:
        self.layer = layer
        self.demand = demand
        self.on_forecast = on_forecast  # a forecast (new, or the poller's latest on joining)
        self.forecast_demand = forecast_demand or set  # ids whose forecast is watched here
        self.watchers = watchers or (lambda place_id: 0)  # connections watching a place here
        self.on_watchers = on_watchers  # the poller's sum: each server's share of a place's watchers
        self.on_update = on_update  # a new update
        self.on_latest = on_latest or on_update  # the poller's latest, sent on joining
        self.heartbeat = heartbeat
        self.channel = ""
        self.interval: float | None = None  # the poller's effective interval, as last told
        self.joined: dict[str, float] = {}  # location id -> when this process joined its group
        self._watching: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> list[asyncio.Task[None]]:
        self.channel = await self.layer.new_channel("weatherstream.server.")
        loop = asyncio.get_running_loop()
        return [
            loop.create_task(self._receive(), name="weatherstream-link-receive"),
            loop.create_task(self._heartbeat(), name="weatherstream-link-heartbeat"),
        ]

    async def watch(self, place: Place) -> None:
        """A first local subscriber: join the location's group and tell the poller.

        Once per place while joined (the heartbeat keeps its lease), and concurrent
        first subscribers share one round of layer calls."""
        if place.id not in self.joined:
            await shared(self._watching, place.id, lambda: self._join(place))

    async def _join(self, place: Place) -> None:
        await self.layer.group_add(location_group(place.id), self.channel)
        self.joined[place.id] = time.monotonic()
        await self.layer.group_send(
            POLLER_GROUP,
            {
                "type": "demand",
                "server": self.channel,
                "places": [self._entry(place, self.forecast_demand())],
                "reply_to": self.channel,
            },
        )

    async def publish(self, location_id: str, reading: Reading) -> None:
        """A reading this process received (a station's upload), to every server process
        whose clients watch the location, this one included."""
        await self.layer.group_send(location_group(location_id), weather_message(location_id, reading))

    async def want_forecast(self, place: Place) -> None:
        """A first local forecast subscriber of a place already joined: tell the poller
        now, not at the next heartbeat (it answers with the forecasts it holds)."""
        await self.layer.group_send(
            POLLER_GROUP,
            {
                "type": "demand",
                "server": self.channel,
                "places": [self._entry(place, {place.id})],
                "reply_to": self.channel,
            },
        )

    def _entry(self, place: Place, forecasts: set[str]) -> dict[str, Any]:
        entry = place.as_dict(population=True)
        entry["watchers"] = self.watchers(place.id)
        if place.id in forecasts:
            entry["forecast"] = True
        return entry

    async def announce(self) -> None:
        """Tell the poller what is watched here, and bring group membership in line.

        Joining again every heartbeat also renews memberships before the layer's
        ``group_expiry`` drops them."""
        places = self.demand()
        wanted = {p.id for p in places}
        now = time.monotonic()
        for gone in set(self.joined) - wanted:
            if now - self.joined[gone] < self.heartbeat:
                continue  # joined for a subscriber that is still being registered
            await self.layer.group_discard(location_group(gone), self.channel)
            del self.joined[gone]
        for place_id in wanted:
            await self.layer.group_add(location_group(place_id), self.channel)
            self.joined.setdefault(place_id, now)
        if places:
            forecasts = self.forecast_demand()
            entries = [self._entry(p, forecasts) for p in places]
            await self.layer.group_send(
                POLLER_GROUP, {"type": "demand", "server": self.channel, "places": entries}
            )

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self.announce()
            except Exception as exc:  # the layer's Redis is down or restarting
                logger.warning("announcing demand to the poller failed (%s); retrying", exc)

    async def _receive(self) -> None:
        while True:
            message = await receive(self.layer, self.channel, "updates")
            kind = message.get("type")
            if kind == "forecast":
                self._forecast(message)
            elif kind == "watchers":
                self._watchers(message)
            elif kind in ("weather", "latest"):
                interval = message.get("interval")
                if isinstance(interval, (int, float)) and not isinstance(interval, bool) and interval > 0:
                    self.interval = float(interval)
                try:
                    reading = Reading.from_wire(message["weather"])
                    handle = self.on_update if kind == "weather" else self.on_latest
                    handle(str(message["location"]), reading)
                except (KeyError, TypeError, ValueError):
                    logger.warning("dropping a malformed update for %r", message.get("location"))
                except Exception:
                    logger.exception("fanning out an update failed")

    def _watchers(self, message: dict[str, Any]) -> None:
        shares = message.get("shares")
        location = message.get("location")
        if self.on_watchers is None or not isinstance(location, str) or not isinstance(shares, dict):
            return
        counts = {str(k): v for k, v in shares.items() if isinstance(v, int) and not isinstance(v, bool)}
        self.on_watchers(location, counts)

    def _forecast(self, message: dict[str, Any]) -> None:
        if self.on_forecast is None:
            return
        try:
            forecast = Forecast.from_wire(message["forecast"])
            self.on_forecast(str(message["location"]), forecast)
        except (KeyError, TypeError, ValueError):
            logger.warning("dropping a malformed forecast for %r", message.get("location"))
        except Exception:
            logger.exception("fanning out a forecast failed")


class LayerDemand:
    """The poller's side: leases on locations, renewed by the servers' announcements."""

    def __init__(
        self,
        layer: Any,
        *,
        ttl: float,
        interval: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.layer = layer
        self.ttl = ttl
        self.interval = interval  # the poller's effective interval, sent with each update
        self.clock = clock
        self.leases: dict[str, tuple[Place, float]] = {}
        self.forecast_leases: dict[str, tuple[Place, float]] = {}
        self.urgent_forecasts: list[str] = []  # of the last announcement: new to the poller
        # place id -> server channel -> (its watchers of the place, when that expires)
        self.watching: dict[str, dict[str, tuple[int, float]]] = {}
        self.shares_sent: dict[str, dict[str, int]] = {}  # place id -> the shares last sent
        self.leading: Callable[[], bool] = lambda: True  # only the elected poller sends them
        self._watchers_swept = float("-inf")

    def __call__(self) -> list[Place]:
        return self._live(self.leases)

    def forecasts(self) -> list[Place]:
        """The places whose forecast is announced (the forecast poller's demand)."""
        return self._live(self.forecast_leases)

    def _live(self, leases: dict[str, tuple[Place, float]]) -> list[Place]:
        now = self.clock()
        for place_id, (_, expires) in list(leases.items()):
            if expires <= now:
                del leases[place_id]
        return [place for place, _ in leases.values()]

    def renew(self, message: dict[str, Any]) -> list[str]:
        """Record an announcement; returns ids that want a fetch now (see
        :attr:`urgent_forecasts` for forecasts)."""
        expires = self.clock() + self.ttl
        urgent = []
        self.urgent_forecasts = []
        server = message.get("server")
        for data in message.get("places", []):
            try:
                place = Place.from_dict(data)
            except (KeyError, TypeError, ValueError, AttributeError):
                logger.warning("ignoring a malformed demand entry: %r", data)
                continue
            count = data.get("watchers")
            if (
                isinstance(server, str)
                and isinstance(count, int)
                and not isinstance(count, bool)
                and count >= 0
            ):
                self.watching.setdefault(place.id, {})[server] = (count, expires)
            if not is_station(place.id):  # a station's readings are uploaded, not fetched
                if place.id not in self.leases:
                    urgent.append(place.id)
                self.leases[place.id] = (place, expires)
            if data.get("forecast") is True:
                if place.id not in self.forecast_leases:
                    self.urgent_forecasts.append(place.id)
                self.forecast_leases[place.id] = (place, expires)
        return urgent

    async def listen(
        self,
        on_urgent: Callable[[str], None],
        on_join: Callable[[str, list[str]], Awaitable[None]] | None = None,
        on_urgent_forecast: Callable[[str], None] | None = None,
    ) -> None:
        """Renew leases from announcements; ``on_urgent(id)`` for a place new to the poller,
        ``on_join(channel, ids)`` when a server joined these places' groups just now."""
        while True:  # Redis may be down when the poller starts
            try:
                channel = await self.layer.new_channel("weatherstream.poller.")
                break
            except Exception as exc:
                logger.warning("opening the demand channel failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
        joining = asyncio.get_running_loop().create_task(self._stay_joined(channel))
        try:
            while True:
                message = await receive(self.layer, channel, "demand")
                if message.get("type") == "demand" and isinstance(message.get("places"), list):
                    for place_id in self.renew(message):
                        on_urgent(place_id)
                    try:
                        ids = [str(d["id"]) for d in message["places"] if isinstance(d, dict) and "id" in d]
                        await self.publish_watchers(ids)
                    except Exception as exc:  # the layer's Redis: the next announcement sends them
                        logger.warning("sending the counts of watchers failed (%s)", exc)
                    if on_urgent_forecast is not None:
                        for place_id in self.urgent_forecasts:
                            on_urgent_forecast(place_id)
                    reply_to = message.get("reply_to")
                    if on_join is not None and isinstance(reply_to, str) and reply_to:
                        ids = [str(d["id"]) for d in message["places"] if isinstance(d, dict) and "id" in d]
                        try:
                            await on_join(reply_to, ids)
                        except Exception as exc:  # the layer's Redis is down: the next update goes out
                            logger.warning("sending the latest readings to a joining server failed (%s)", exc)
        finally:
            joining.cancel()

    def watcher_changes(self, place_ids: Iterable[str] | None = None) -> list[tuple[str, dict[str, int]]]:
        """The places (of ``place_ids``, else all) whose servers' shares of watchers
        changed (announced, or expired) since last sent, with the shares now."""
        now = self.clock()
        changes = []
        candidates = set(self.watching) | set(self.shares_sent) if place_ids is None else set(place_ids)
        for place_id in candidates:
            by_server = self.watching.get(place_id, {})
            shares = {server: n for server, (n, expires) in by_server.items() if expires > now}
            if shares:
                self.watching[place_id] = {s: by_server[s] for s in shares}
            else:
                self.watching.pop(place_id, None)
            if shares != self.shares_sent.get(place_id, {}):
                changes.append((place_id, shares))
                if shares:
                    self.shares_sent[place_id] = shares
                else:
                    self.shares_sent.pop(place_id, None)
        return changes

    async def publish_watchers(self, place_ids: Iterable[str] | None = None) -> None:
        """Send each place's changed shares of watchers to its group: of ``place_ids``
        (an announcement's), and of every place (expiries) at most once a second."""
        if not self.leading():
            return
        now = self.clock()
        if place_ids is not None and now - self._watchers_swept < 1.0:
            changes = self.watcher_changes(place_ids)  # a join of one place costs one look
        else:
            self._watchers_swept = now
            changes = self.watcher_changes()
        for place_id, shares in changes:
            message = {"type": "watchers", "location": place_id, "shares": shares}
            await self.layer.group_send(location_group(place_id), message)

    async def _stay_joined(self, channel: str) -> None:
        """Join the poller group, again every lease period (the layer's group_expiry)."""
        while True:
            try:
                await self.layer.group_add(POLLER_GROUP, channel)
            except Exception as exc:
                logger.warning("joining the poller group failed (%s); retrying", exc)
            await asyncio.sleep(self.ttl)

    async def publish(self, location_id: str, reading: Reading, *, to: str | None = None) -> None:
        """Send an update to the location's group, or to one server's channel ``to``."""
        interval = self.interval() if self.interval is not None else None
        message = weather_message(location_id, reading, interval=interval)
        if to is None:
            await self.layer.group_send(location_group(location_id), message)
        else:  # the server may hold it already: "latest", not a new update
            await self.layer.send(to, {**message, "type": "latest"})

    async def publish_forecast(self, location_id: str, forecast: Forecast, *, to: str | None = None) -> None:
        """Send a forecast to the location's group, or to one server's channel ``to``."""
        message = {"type": "forecast", "location": location_id, "forecast": forecast.to_wire()}
        if to is None:
            await self.layer.group_send(location_group(location_id), message)
        else:
            await self.layer.send(to, message)

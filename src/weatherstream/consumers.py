"""The WebSocket endpoint: parse a frame, call the engine, send the reply.

Thin on purpose. Every frame to the client goes through the connection's sender
(:mod:`.sending`, chosen once per connection): replies from here, updates from the hub,
where the sender is what a subscription registers. It keeps them in order and closes a
client that stops reading (code 4009).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from channels.consumer import AsyncConsumer

from . import metrics, protocol
from .conf import get_config
from .engine import Engine, get_engine
from .places import Place, PlaceError, TooManyPlaces
from .protocol import ProtocolError
from .readings import Reading
from .sending import Sender, sender_for

logger = logging.getLogger(__name__)


class WeatherConsumer(AsyncConsumer):  # type: ignore[misc]  # channels ships no types
    """Speaks protocol v1 (docs/protocol.md).

    Unlike Channels' generic consumers it opens no channel-layer channel per
    connection: the process-local hub hands updates to its sender.
    """

    engine: Engine
    sender: Sender

    def __init__(self) -> None:
        self.config = get_config()
        self.channel_layer = None
        self.subscriptions: set[str] = set()
        self.forecasts: dict[str, frozenset[str]] = {}  # place id -> forecast kinds it gets
        self._tokens = float(self.config["MESSAGE_BURST"])
        self._refilled = time.monotonic()
        self._strikes = 0
        self._address: str | None = None  # counted against MAX_CONNECTIONS_PER_ADDRESS
        self._counted = False  # in metrics.CONNECTIONS

    # Not Channels' __call__: that would open a channel-layer channel per connection.
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.base_send = send
        self.sender = sender_for(send, self.config["SEND_BUFFER_BYTES"], self._release)
        try:
            while not self.sender.closed:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    await self.on_frame(message.get("text"), message.get("bytes"))
                elif kind == "websocket.connect":
                    await self.on_connect()
                elif kind == "websocket.disconnect":
                    break
        finally:
            self.sender.stop()
            self._release()
            if self._address is not None:
                self.engine.disconnected(self._address)
            if self._counted:
                metrics.CONNECTIONS.dec()
                self.engine.connection_closed()

    # -- connection -------------------------------------------------------------------

    async def on_connect(self) -> None:
        # Accepted first: the handshake does not wait for a starting engine (the GeoNames
        # index loads for seconds; daphne drops a handshake after 5 s). Refusals are sent
        # after accepting too, so that browsers see their close code.
        await self.base_send({"type": "websocket.accept"})
        self.engine = await get_engine()
        if self.config["REQUIRE_LOGIN"] and not self._logged_in():
            await self.close(protocol.CLOSE_LOGIN_REQUIRED)
            return
        client = self.scope.get("client")
        if client:
            if not self.engine.connected(client[0]):
                await self.close(protocol.CLOSE_TOO_MANY_CONNECTIONS)
                return
            self._address = client[0]
        metrics.CONNECTIONS.inc()
        self.engine.connection_opened()
        self._counted = True
        hello = self.engine.hello()
        self.sender.push(hello.text, hello)

    def _logged_in(self) -> bool:
        user = self.scope.get("user")
        if user is None:
            logger.error("REQUIRE_LOGIN needs Channels' AuthMiddlewareStack around the WebSocket routes")
            return False
        return bool(user.is_authenticated)

    def _release(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            for location_id in self.subscriptions:
                engine.unsubscribe(location_id, self.sender)
            for location_id, kinds in self.forecasts.items():
                engine.unwatch_forecast(location_id, kinds, self.sender)
        self.forecasts.clear()
        metrics.SUBSCRIPTIONS.dec(len(self.subscriptions))
        self.subscriptions.clear()

    async def close(self, code: int) -> None:
        if not self.sender.closed:
            self._release()
            await self.sender.close(code)

    # -- incoming ---------------------------------------------------------------------

    def _too_big(self, text: str | None, data: bytes | None) -> bool:
        limit: int = self.config["MAX_MESSAGE_BYTES"]
        if text is None:
            return data is not None and len(data) > limit
        if len(text) * 4 <= limit:  # UTF-8 takes at most 4 bytes a character
            return False
        return len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit

    def _allow(self) -> bool:
        now = time.monotonic()
        rate, burst = self.config["MESSAGES_PER_SECOND"], self.config["MESSAGE_BURST"]
        self._tokens = min(burst, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            self._strikes = 0
            return True
        self._strikes += 1
        return False

    async def on_frame(self, text: str | None, data: bytes | None = None) -> None:
        if self._too_big(text, data):
            await self.close(protocol.CLOSE_TOO_BIG)
            return
        if not self._allow():
            if self._strikes > self.config["RATE_LIMIT_CLOSE_AFTER"]:
                await self.close(protocol.CLOSE_RATE_LIMITED)
            elif self._strikes == 1:
                self.sender.push(
                    protocol.error_frame(ProtocolError("rate_limited", "Too many messages; slow down."))
                )
            return
        try:
            command = protocol.parse(text, max_city_length=self.config["MAX_CITY_LENGTH"])
            if isinstance(command, protocol.Subscribe):
                await self.subscribe(command)
            elif isinstance(command, protocol.Unsubscribe):
                self.unsubscribe(command)
            else:
                self.sender.push(protocol.pong_frame(msg_id=command.id))
        except ProtocolError as error:
            self.sender.push(protocol.error_frame(error))
        except Exception:  # a bug must not end this connection, nor hide from the logs
            logger.exception("handling a client message failed")
            self.sender.push(
                protocol.error_frame(ProtocolError("unavailable", "The server could not do that just now."))
            )

    async def subscribe(self, command: protocol.Subscribe) -> None:
        try:
            place = await self.engine.resolve(
                city=command.city, lat=command.lat, lon=command.lon, station=command.station
            )
            if place.id not in self.subscriptions:
                if len(self.subscriptions) >= self.config["MAX_SUBSCRIPTIONS"]:
                    raise ProtocolError(
                        "too_many_subscriptions",
                        f"A connection may hold at most {self.config['MAX_SUBSCRIPTIONS']} subscriptions.",
                        id=command.id,
                    )
                self.engine.require_admitted(place.id, self._address)
        except (PlaceError, TooManyPlaces) as exc:
            raise protocol.refusal(exc, command.id) from None
        if place.id not in self.subscriptions:
            self.subscriptions.add(place.id)
            metrics.SUBSCRIPTIONS.inc()
        missed: list[Reading] | None = None
        try:
            if command.since is None:
                await self.engine.subscribe(place, self.sender)
            else:
                _, missed = await self.engine.resume(place, self.sender, command.since)
        except Exception:
            logger.exception("subscribe to %s failed", place.id)
            if place.id in self.subscriptions:
                self.subscriptions.discard(place.id)
                metrics.SUBSCRIPTIONS.dec()
            self.engine.unsubscribe(place.id, self.sender)
            raise ProtocolError(
                "unavailable", "The server could not subscribe just now.", id=command.id
            ) from None
        if self.sender.closed:  # the client left while we were looking things up
            self.engine.unsubscribe(place.id, self.sender)
            return
        recovered = None if command.since is None else missed is not None
        self.sender.push(self.engine.subscribed(place, command.id, recovered))
        for reading in missed or ():  # before any live update: registered with no await since
            self.sender.push(
                protocol.replay_frame(location_id=place.id, weather=protocol.dumps(reading.to_wire()))
            )
        if command.forecast is not None:
            await self.watch_forecast(place, command.forecast)

    async def watch_forecast(self, place: Place, kinds: frozenset[str]) -> None:
        """The subscription's forecast kinds become ``kinds``; the latest forecast of each
        follows ``subscribed`` at once (the server's Latest), and each change after it."""
        held = self.forecasts.get(place.id, frozenset())
        self.engine.unwatch_forecast(place.id, held - kinds, self.sender)
        if kinds:
            self.forecasts[place.id] = kinds
        else:
            self.forecasts.pop(place.id, None)
        frames = await self.engine.watch_forecast(place, sorted(kinds), self.sender)
        if self.forecasts.get(place.id) != kinds or self.sender.closed:  # changed meanwhile
            self.engine.unwatch_forecast(
                place.id, kinds - self.forecasts.get(place.id, frozenset()), self.sender
            )
            return
        for frame in frames:
            self.sender.push(frame)

    def unsubscribe(self, command: protocol.Unsubscribe) -> None:
        # Idempotent: unsubscribing from a location not held is not an error.
        if command.location in self.subscriptions:
            self.subscriptions.discard(command.location)
            metrics.SUBSCRIPTIONS.dec()
            self.engine.unsubscribe(command.location, self.sender)
            kinds = self.forecasts.pop(command.location, frozenset())
            self.engine.unwatch_forecast(command.location, kinds, self.sender)
        self.sender.push(protocol.unsubscribed_frame(msg_id=command.id, location_id=command.location))

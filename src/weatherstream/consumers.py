"""The WebSocket endpoint: parse a frame, call the engine, queue the reply.

Thin on purpose. Every frame to the client goes through one bounded outbox, so
replies and updates keep their order and a client that stops reading is closed
(code 4009) instead of growing the server's memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from channels.consumer import AsyncConsumer

from . import protocol
from .conf import get_config
from .engine import Engine, get_engine
from .protocol import ProtocolError

logger = logging.getLogger(__name__)


class WeatherConsumer(AsyncConsumer):  # type: ignore[misc]  # channels ships no types
    """Speaks protocol v1 (docs/protocol.md).

    Unlike Channels' generic consumers it opens no channel-layer channel per
    connection: updates arrive from the process-local hub.
    """

    engine: Engine

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.base_send = send
        self.channel_layer = None
        self.config = get_config()
        self.subscriptions: set[str] = set()
        self._outbox: deque[str] = deque()
        self._outbox_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._tokens = float(self.config["MESSAGE_BURST"])
        self._refilled = time.monotonic()
        self._strikes = 0
        try:
            while not self._closed:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    await self.on_frame(message.get("text"))
                elif kind == "websocket.connect":
                    await self.on_connect()
                elif kind == "websocket.disconnect":
                    break
        finally:
            self._closed = True
            self._release()

    # -- connection -------------------------------------------------------------------

    async def on_connect(self) -> None:
        self.engine = await get_engine()
        await self.base_send({"type": "websocket.accept"})
        self.push(
            protocol.hello_frame(provider=self.engine.provider_name, poll_interval=self.engine.interval)
        )

    def _release(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            for location_id in self.subscriptions:
                engine.unsubscribe(location_id, self)
        self.subscriptions.clear()
        self._outbox.clear()

    async def close(self, code: int) -> None:
        if not self._closed:
            self._closed = True
            self._release()
            await self.base_send({"type": "websocket.close", "code": code})

    # -- outgoing ---------------------------------------------------------------------

    def push(self, text: str) -> None:
        """Queue a frame; never blocks. Closes the connection if the client lags too far."""
        if self._closed:
            return
        self._outbox.append(text)
        self._outbox_bytes += len(text)
        if self._outbox_bytes > self.config["SEND_BUFFER_BYTES"]:
            logger.info("closing a client that stopped reading (%d bytes queued)", self._outbox_bytes)
            self._outbox.clear()
            asyncio.get_running_loop().create_task(self.close(protocol.CLOSE_SLOW_CONSUMER))
            return
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._outbox:
                text = self._outbox.popleft()
                self._outbox_bytes -= len(text)
                await self.base_send({"type": "websocket.send", "text": text})
        except Exception:  # the client went away mid-send; the receive loop ends it
            self._outbox.clear()
        finally:
            self._outbox_bytes = 0 if not self._outbox else self._outbox_bytes
            self._writer = None

    # -- incoming ---------------------------------------------------------------------

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

    async def on_frame(self, text: str | None) -> None:
        if not self._allow():
            if self._strikes > self.config["RATE_LIMIT_CLOSE_AFTER"]:
                await self.close(protocol.CLOSE_RATE_LIMITED)
            elif self._strikes == 1:
                self.push(
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
                self.push(protocol.pong_frame(msg_id=command.id))
        except ProtocolError as error:
            self.push(protocol.error_frame(error))

    async def subscribe(self, command: protocol.Subscribe) -> None:
        place = await self.engine.resolve(command)
        if place.id not in self.subscriptions:
            if len(self.subscriptions) >= self.config["MAX_SUBSCRIPTIONS"]:
                raise ProtocolError(
                    "too_many_subscriptions",
                    f"A connection may hold at most {self.config['MAX_SUBSCRIPTIONS']} subscriptions.",
                    id=command.id,
                )
            self.subscriptions.add(place.id)
        try:
            reading = await self.engine.subscribe(place, self)
        except Exception:
            logger.exception("subscribe to %s failed", place.id)
            self.subscriptions.discard(place.id)
            self.engine.unsubscribe(place.id, self)
            raise ProtocolError(
                "unavailable", "The server could not subscribe just now.", id=command.id
            ) from None
        if self._closed:  # the client left while we were looking things up
            self.engine.unsubscribe(place.id, self)
            return
        self.push(protocol.subscribed_frame(msg_id=command.id, location=place.as_dict(), reading=reading))

    def unsubscribe(self, command: protocol.Unsubscribe) -> None:
        # Idempotent: unsubscribing from a location not held is not an error.
        if command.location in self.subscriptions:
            self.subscriptions.discard(command.location)
            self.engine.unsubscribe(command.location, self)
        self.push(protocol.unsubscribed_frame(msg_id=command.id, location_id=command.location))

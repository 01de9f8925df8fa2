"""The WebSocket endpoint: parse a frame, call the engine, send the reply.

Thin on purpose. Every frame to the client goes through :meth:`WeatherConsumer.push`,
so replies and updates keep their order, and a client that stops reading is closed
(code 4009) once its bounded outbox is full instead of growing the server's memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

from channels.consumer import AsyncConsumer
from websockets.exceptions import InvalidState
from websockets.protocol import Protocol as WebSocketsProtocol
from websockets.protocol import State

from . import metrics, protocol
from .conf import get_config
from .engine import Engine, get_engine
from .hub import Prepared
from .places import PlaceError, TooManyPlaces
from .protocol import ProtocolError

logger = logging.getLogger(__name__)


async def resume(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Finish a coroutine whose first step suspended on ``waiting_on``, as a Task would."""
    try:
        while True:
            if waiting_on is None:  # a bare yield: give the loop one turn
                await asyncio.sleep(0)
            else:
                waiting_on._asyncio_future_blocking = False
                if not waiting_on.done():
                    await asyncio.wait((waiting_on,))
            waiting_on = coro.send(None)
    except StopIteration:
        return
    except BaseException:
        coro.close()
        raise


def direct_writer(send: Any) -> Any:
    """uvicorn's websockets-sansio connection behind ``send``, when that is what serves
    this socket: a frame can then go to its sans-I/O protocol and transport directly,
    without an ASGI message and a coroutine per frame (the fan-out's hot path). Any
    other server, or another uvicorn version's shape, gets None: the ASGI path."""
    proto: Any = getattr(send, "__self__", None)
    if type(proto).__name__ != "WebSocketsSansIOProtocol":
        return None
    needed = ("conn", "transport", "writable", "close_sent", "disconnected")
    if not all(hasattr(proto, name) for name in needed) or not isinstance(proto.conn, WebSocketsProtocol):
        return None
    conn_needed = ("state", "extensions", "expect_continuation_frame", "send_text", "data_to_send")
    return proto if all(hasattr(proto.conn, name) for name in conn_needed) else None


class WeatherConsumer(AsyncConsumer):  # type: ignore[misc]  # channels ships no types
    """Speaks protocol v1 (docs/protocol.md).

    Unlike Channels' generic consumers it opens no channel-layer channel per
    connection: updates arrive from the process-local hub.
    """

    engine: Engine

    def __init__(self) -> None:
        self.config = get_config()
        self.channel_layer = None
        self.subscriptions: set[str] = set()
        self._outbox: deque[str] = deque()
        self._outbox_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._tokens = float(self.config["MESSAGE_BURST"])
        self._refilled = time.monotonic()
        self._strikes = 0
        self._closer: asyncio.Task[None] | None = None
        self._address: str | None = None  # counted against MAX_CONNECTIONS_PER_ADDRESS
        self._counted = False  # in metrics.CONNECTIONS
        self._direct: Any = None  # see direct_writer()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.base_send = send
        self._direct = direct_writer(send)
        try:
            while not self._closed:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    await self.on_frame(message.get("text"), message.get("bytes"))
                elif kind == "websocket.connect":
                    await self.on_connect()
                elif kind == "websocket.disconnect":
                    break
        finally:
            self._closed = True
            self._release()
            if self._address is not None:
                self.engine.disconnected(self._address)
            if self._counted:
                metrics.CONNECTIONS.dec()

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
        self._counted = True
        self.push(self.engine.hello())

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
                engine.unsubscribe(location_id, self)
        metrics.SUBSCRIPTIONS.dec(len(self.subscriptions))
        self.subscriptions.clear()
        self._outbox.clear()

    async def close(self, code: int) -> None:
        if not self._closed:
            self._closed = True
            self._release()
            await self._send_close(code)

    def _abandon(self, code: int) -> None:
        """Stop serving this client at once; the close frame follows when its socket lets it."""
        if not self._closed:
            self._closed = True
            self._release()
            self._closer = asyncio.get_running_loop().create_task(self._send_close(code))

    async def _send_close(self, code: int) -> None:
        try:
            await self.base_send({"type": "websocket.close", "code": code})
        except Exception:  # already gone
            pass

    # -- outgoing ---------------------------------------------------------------------

    def push(self, text: str, prepared: Prepared | None = None) -> None:
        """Send a frame without blocking the caller (the hub's fan-out loop).

        With nothing queued, the frame is handed to the server at once: an ASGI server's
        ``send`` normally completes without waiting, so no task is created per frame.
        If it has to wait (the client reads slowly), a writer task finishes that send and
        drains what queues up behind it; past ``SEND_BUFFER_BYTES`` the client is closed.
        """
        if self._closed:
            return
        direct = self._direct
        if (
            direct is not None
            and self._writer is None
            and direct.writable.is_set()
            and not direct.close_sent
            and not direct.disconnected
            and not direct.transport.is_closing()
        ):
            conn = direct.conn
            try:
                if (
                    prepared is not None
                    and conn.state is State.OPEN
                    and not conn.extensions
                    and not conn.expect_continuation_frame
                ):
                    # The frame conn.send_text() would build, built once for everyone.
                    direct.transport.write(prepared.frame)
                else:
                    conn.send_text(prepared.encoded if prepared is not None else text.encode())
                    direct.transport.write(b"".join(conn.data_to_send()))
                return
            except InvalidState:  # closing under us: the receive loop hears of it
                return
            except Exception:  # not what this code expects: the ASGI path from now on
                logger.exception("the direct send path failed; using the ASGI send for this connection")
                self._direct = None
        if self._writer is None:
            send = self.base_send({"type": "websocket.send", "text": text})
            try:
                waiting_on = send.send(None)
            except StopIteration:
                return
            except Exception:  # the client is gone; the receive loop will hear of it
                return
            self._writer = asyncio.get_running_loop().create_task(self._drain(send, waiting_on))
            return
        self._outbox.append(text)
        self._outbox_bytes += len(text)
        if self._outbox_bytes > self.config["SEND_BUFFER_BYTES"]:
            logger.info("closing a client that stopped reading (%d characters queued)", self._outbox_bytes)
            self._outbox.clear()
            self._outbox_bytes = 0
            self._abandon(protocol.CLOSE_SLOW_CONSUMER)

    async def _drain(self, send: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        try:
            await resume(send, waiting_on)
            while self._outbox:
                text = self._outbox.popleft()
                self._outbox_bytes -= len(text)
                await self.base_send({"type": "websocket.send", "text": text})
        except Exception:  # the client went away mid-send; the receive loop ends it
            self._outbox.clear()
            self._outbox_bytes = 0
        finally:
            self._writer = None

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
        except Exception:  # a bug must not end this connection, nor hide from the logs
            logger.exception("handling a client message failed")
            self.push(
                protocol.error_frame(ProtocolError("unavailable", "The server could not do that just now."))
            )

    async def subscribe(self, command: protocol.Subscribe) -> None:
        try:
            place = await self.engine.resolve(city=command.city, lat=command.lat, lon=command.lon)
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
        try:
            await self.engine.subscribe(place, self)
        except Exception:
            logger.exception("subscribe to %s failed", place.id)
            if place.id in self.subscriptions:
                self.subscriptions.discard(place.id)
                metrics.SUBSCRIPTIONS.dec()
            self.engine.unsubscribe(place.id, self)
            raise ProtocolError(
                "unavailable", "The server could not subscribe just now.", id=command.id
            ) from None
        if self._closed:  # the client left while we were looking things up
            self.engine.unsubscribe(place.id, self)
            return
        self.push(self.engine.subscribed(place, command.id))

    def unsubscribe(self, command: protocol.Unsubscribe) -> None:
        # Idempotent: unsubscribing from a location not held is not an error.
        if command.location in self.subscriptions:
            self.subscriptions.discard(command.location)
            metrics.SUBSCRIPTIONS.dec()
            self.engine.unsubscribe(command.location, self)
        self.push(protocol.unsubscribed_frame(msg_id=command.id, location_id=command.location))

"""How a connection's frames reach its client: one :class:`Sender` per connection.

:func:`sender_for` chooses it once, from the server's ``send``: a :class:`DirectSender`
under uvicorn's websockets-sansio implementation, an :class:`AsgiSender` under any other
server. Either keeps frames in order and closes a client that stops reading (code 4009)
once ``SEND_BUFFER_BYTES`` are queued. Everything private this relies on (uvicorn's
protocol attributes, websockets' sans-I/O connection and frames, asyncio's
``_asyncio_future_blocking``) is used here and nowhere else; tests/test_sending.py fails
if an upgrade changes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol as WebSocketsProtocol
from websockets.protocol import State

from .protocol import CLOSE_SLOW_CONSUMER

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


class Prepared:
    """One update's frame, prepared once for all its subscribers: the text as UTF-8, and
    (on first use) the whole WebSocket frame a server sends for it, unmasked and
    uncompressed, built by the websockets library."""

    __slots__ = ("text", "encoded", "turn", "_frame")

    def __init__(self, text: str, turn: _Turn | None = None) -> None:
        self.text = text
        self.encoded = text.encode()
        # An update's turn of the event loop (this_turn(), taken once per update, not per
        # frame); None for a reply, which is written at once unless frames wait.
        self.turn = turn
        self._frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = Frame(Opcode.TEXT, self.encoded).serialize(mask=False)
        return self._frame


class Sender(Protocol):
    """One connection's way to its client; the consumer's replies and the hub's updates
    (a sender is what a subscription registers: a :class:`hub.Subscriber`) go through it."""

    closed: bool  # set once the connection is closing or gone: pushes are then dropped

    def push(self, text: str, prepared: Prepared | None = None) -> None:
        """Send a text frame without blocking the caller (the hub's fan-out loop);
        ``prepared``: the same text, prepared once for every subscriber."""

    def stop(self) -> None:
        """Send nothing more; drop what is queued."""

    async def close(self, code: int) -> None:
        """:meth:`stop`, then send the close frame if the client is still there."""


def sender_for(send: Send, limit: int, abandoned: Callable[[], None]) -> Sender:
    """The sender for a connection the server serves through ``send``. ``limit``: the
    characters that may queue for a client that reads slowly; past it the sender calls
    ``abandoned`` (the connection stops taking frames) and closes with 4009."""
    connection = direct_writer(send)
    if connection is None:
        return AsgiSender(send, limit, abandoned)
    return DirectSender(connection, send, limit, abandoned)


def _nothing() -> None:
    pass


class AsgiSender:
    """Frames through the ASGI ``send``.

    With nothing queued, a frame is handed to the server at once: an ASGI server's
    ``send`` normally completes without waiting, so no task is created per frame. If it
    has to wait (the client reads slowly), a writer task finishes that send and drains
    what queues up behind it.
    """

    __slots__ = ("send", "closed", "_limit", "_abandoned", "_outbox", "_outbox_bytes", "_writer", "_closer")

    def __init__(self, send: Send, limit: int, abandoned: Callable[[], None]) -> None:
        self.send = send
        self.closed = False
        self._limit = limit
        self._abandoned = abandoned
        self._outbox: deque[str] = deque()
        self._outbox_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    def push(self, text: str, prepared: Prepared | None = None) -> None:
        if self.closed:
            return
        if self._writer is None:
            send = self.send({"type": "websocket.send", "text": text})
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
        if self._outbox_bytes > self._limit:
            self._overflow()

    def _overflow(self) -> None:
        """Stop serving a client that stopped reading; the close frame follows when its
        socket lets it."""
        logger.info("closing a client that stopped reading (%d characters queued)", self._outbox_bytes)
        self._outbox.clear()
        self._outbox_bytes = 0
        self.closed = True
        self._abandoned()
        self._abandoned = _nothing  # no reference cycle with the connection
        self._closer = asyncio.get_running_loop().create_task(self._send_close(CLOSE_SLOW_CONSUMER))

    async def _drain(self, send: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        try:
            await resume(send, waiting_on)
            while self._outbox:
                text = self._outbox.popleft()
                self._outbox_bytes -= len(text)
                await self.send({"type": "websocket.send", "text": text})
        except Exception:  # the client went away mid-send; the receive loop ends it
            self._outbox.clear()
            self._outbox_bytes = 0
        finally:
            self._writer = None

    def stop(self) -> None:
        self.closed = True
        self._abandoned = _nothing
        self._outbox.clear()

    async def close(self, code: int) -> None:
        self.stop()
        await self._send_close(code)

    async def _send_close(self, code: int) -> None:
        try:
            await self.send({"type": "websocket.close", "code": code})
        except Exception:  # already gone
            pass


class DirectSender(AsgiSender):
    """Under uvicorn's websockets-sansio: while the connection is open and its transport
    writable, frames go to its sans-I/O protocol and transport directly, without an ASGI
    message and a coroutine per frame (the fan-out's hot path); an update's prepared
    frame is written as it is when no extension is negotiated. A connection's first update
    in a turn of the event loop is written at once; the updates that follow it in the same
    turn (a poll tick's updates of the other places it watches) leave together in one
    write at the turn's end, and so does anything pushed while they wait; a reply with
    nothing waiting is written at once. Otherwise (paused, closing, frames queued) frames
    take the ASGI path, after those waiting for the turn's end, and an unexpected error
    turns the direct path off for the connection. (The queueing lines are
    :meth:`AsgiSender.push`'s again, so that a frame to a slow client costs no extra call.)"""

    __slots__ = ("_direct", "_wrote_in", "_waiting")

    def __init__(self, connection: Any, send: Send, limit: int, abandoned: Callable[[], None]) -> None:
        super().__init__(send, limit, abandoned)
        self._direct: Any = connection  # see direct_writer(); None once turned off
        self._wrote_in: _Turn | None = None  # the last turn this connection wrote in
        self._waiting: list[bytes] | None = None  # frames for the end of that turn

    def push(self, text: str, prepared: Prepared | None = None) -> None:
        if self.closed:
            return
        if self._writer is not None:  # earlier frames wait for the ASGI send: queue behind them
            self._outbox.append(text)
            self._outbox_bytes += len(text)
            if self._outbox_bytes > self._limit:
                self._overflow()
            return
        direct = self._direct
        if (
            direct is not None
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
                    data = prepared.frame
                else:
                    conn.send_text(prepared.encoded if prepared is not None else text.encode())
                    data = b"".join(conn.data_to_send())
                turn = prepared.turn if prepared is not None else None
                waiting = self._waiting
                if waiting is not None:  # behind those already waiting
                    waiting.append(data)
                elif turn is None or turn.ended:  # a reply (or a stale update): at once
                    direct.transport.write(data)
                elif self._wrote_in is not turn:  # the first update this turn: at once
                    self._wrote_in = turn
                    direct.transport.write(data)
                else:
                    self._waiting = [data]
                    turn.waiting.append(self)
                return
            except InvalidState:  # closing under us: the receive loop hears of it
                return
            except Exception:  # not what this code expects: the ASGI path from now on
                logger.exception("the direct send path failed; using the ASGI send for this connection")
                with contextlib.suppress(Exception):
                    self.write_waiting()  # already made: they go first, if the transport takes them
                self._direct = None
        self.write_waiting()  # those go first
        AsgiSender.push(self, text, prepared)  # the ASGI send, at once or by a writer task

    def write_waiting(self) -> None:
        """Write the frames waiting for the end of the turn, in one write."""
        waiting, self._waiting = self._waiting, None
        if not waiting:
            return
        direct = self._direct
        if direct is None or direct.close_sent or direct.disconnected or direct.transport.is_closing():
            return  # gone meanwhile: the receive loop hears of it
        direct.transport.write(waiting[0] if len(waiting) == 1 else b"".join(waiting))

    def stop(self) -> None:
        self._waiting = None
        AsgiSender.stop(self)

    async def close(self, code: int) -> None:
        self.write_waiting()  # e.g. the error frame that explains the close
        await AsgiSender.close(self, code)


class _Turn:
    """One turn of the event loop: the connections with frames waiting for its end."""

    __slots__ = ("waiting", "ended")

    def __init__(self) -> None:
        self.waiting: list[DirectSender] = []
        self.ended = False  # a Prepared kept past its turn must not wait for an end that came


# The current turn of the event loop this thread runs (one loop per thread at a time).
_local = threading.local()


def this_turn() -> _Turn | None:
    """The current turn of the running event loop (None outside one); its end is a
    callback, which asyncio runs in the next turn. Asked once per update: finding the
    running loop costs a system call (getpid) in CPython 3.11."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    current: tuple[asyncio.AbstractEventLoop, _Turn] | None = getattr(_local, "turn", None)
    if current is not None and current[0] is loop:
        return current[1]
    turn = _Turn()  # (a loop that closed before its turn ended leaves one behind)
    _local.turn = (loop, turn)
    loop.call_soon(_end_turn, turn)
    return turn


def _end_turn(turn: _Turn) -> None:
    turn.ended = True
    current = getattr(_local, "turn", None)
    if current is not None and current[1] is turn:
        _local.turn = None
    waiting, turn.waiting = turn.waiting, []  # senders keep the turn: not them
    for sender in waiting:
        try:
            sender.write_waiting()
        except Exception:  # one connection's fault must not cost the others their frames
            logger.exception("writing a connection's frames failed")


def direct_writer(send: Any) -> Any:
    """uvicorn's websockets-sansio connection behind ``send``, when that is what serves
    this socket: a frame can then go to its sans-I/O protocol and transport directly.
    Any other server, or another uvicorn version's shape, gets None: the ASGI path."""
    proto: Any = getattr(send, "__self__", None)
    if type(proto).__name__ != "WebSocketsSansIOProtocol":
        return None
    needed = ("conn", "transport", "writable", "close_sent", "disconnected")
    if not all(hasattr(proto, name) for name in needed) or not isinstance(proto.conn, WebSocketsProtocol):
        return None
    conn_needed = ("state", "extensions", "expect_continuation_frame", "send_text", "data_to_send")
    return proto if all(hasattr(proto.conn, name) for name in conn_needed) else None


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

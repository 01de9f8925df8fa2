"""The consumer's send path: eager when the server can take a frame, bounded when it cannot."""

import asyncio
import dataclasses

import pytest
from django.test import override_settings
from websockets.protocol import State
from websockets.server import ServerProtocol

from weatherstream.conf import get_config
from weatherstream.consumers import WeatherConsumer
from weatherstream.engine import Engine
from weatherstream.hub import Prepared


class Server:
    """A fake ASGI send: completes at once unless ``gate`` is closed."""

    def __init__(self):
        self.sent = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, message):
        await self.gate.wait()
        self.sent.append(message)


def consumer(server, **config):
    with override_settings(WEATHERSTREAM={**get_config(), **config}):
        c = WeatherConsumer()
    c.base_send = server.send
    return c


async def test_frames_go_out_at_once_without_a_task():
    server = Server()
    c = consumer(server)
    for n in range(3):
        c.push(f"frame {n}")
    # Sent synchronously inside push(): no writer task, nothing queued.
    assert [m["text"] for m in server.sent] == ["frame 0", "frame 1", "frame 2"]
    assert c._writer is None and not c._outbox


async def test_a_waiting_send_queues_the_rest_in_order():
    server = Server()
    server.gate.clear()
    c = consumer(server)
    for n in range(5):
        c.push(f"frame {n}")
    assert server.sent == [] and c._writer is not None and len(c._outbox) == 4
    server.gate.set()
    await asyncio.wait_for(c._writer, 1)
    assert [m["text"] for m in server.sent] == [f"frame {n}" for n in range(5)]
    assert c._writer is None and c._outbox_bytes == 0
    c.push("after")
    assert server.sent[-1]["text"] == "after"


async def test_a_client_that_stops_reading_is_closed_with_4009():
    server = Server()
    server.gate.clear()
    c = consumer(server, SEND_BUFFER_BYTES=1000)
    c.engine = Engine()
    c.subscriptions.add("somewhere")
    c.engine.hub.add("somewhere", c)
    for n in range(30):
        c.push("x" * 100)
        if n < 10:  # the first waits in the server, ten more fit the 1000-character outbox
            assert not c._closed
    # Closed at once: unsubscribed, so the fan-out stops queueing for it.
    assert c._closed and c.engine.hub.count("somewhere") == 0 and not c._outbox
    server.gate.set()
    await asyncio.sleep(0.05)
    assert {"type": "websocket.close", "code": 4009} in server.sent
    sent_before = len(server.sent)
    c.push("too late")
    assert len(server.sent) == sent_before


async def test_a_send_that_fails_does_not_raise_into_the_fan_out():
    async def gone(message):
        raise OSError("client disconnected")

    c = consumer(Server())
    c.base_send = gone
    c.push("frame")  # must not raise
    assert c._writer is None


@pytest.mark.parametrize("fail_after_wait", [True, False])
async def test_a_send_that_fails_after_waiting_is_contained(fail_after_wait):
    gate = asyncio.Event()

    async def slow_then_gone(message):
        await gate.wait()
        if fail_after_wait:
            raise OSError("client disconnected")

    c = consumer(Server())
    c.base_send = slow_then_gone
    c.push("a")
    c.push("b")
    gate.set()
    await asyncio.wait_for(c._writer, 1)
    assert c._writer is None and not c._outbox


# -- the direct path under uvicorn's websockets-sansio implementation -----------------


async def test_uvicorn_websockets_sansio_is_recognised():
    """Fails if a uvicorn upgrade changes what the direct path relies on (it would then
    fall back to the ASGI send, correct but slower: bench/README.md)."""
    from uvicorn.config import Config
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from uvicorn.server import ServerState

    from weatherstream.consumers import direct_writer

    config = Config(app=lambda *a: None, ws="websockets-sansio", ws_per_message_deflate=False)
    config.load()
    proto = WebSocketsSansIOProtocol(config=config, server_state=ServerState(), app_state={})
    assert direct_writer(proto.send) is proto
    assert direct_writer(Server().send) is None  # any other server: the ASGI path


def open_conn():
    """A real websockets server-side sans-I/O protocol, past its handshake."""
    conn = ServerProtocol()
    conn.state = State.OPEN
    return conn


class MarkingExtension:
    """Stands in for a negotiated extension (per-message deflate): it changes frames."""

    name = "x-marking"

    def encode(self, frame):
        return dataclasses.replace(frame, data=b"X" + frame.data)


class FakeTransport:
    def __init__(self):
        self.written = []

    def write(self, data):
        self.written.append(data)

    def is_closing(self):
        return False


class WebSocketsSansIOProtocol:
    """Shaped like uvicorn's: what direct_writer() looks for."""

    def __init__(self):
        self.conn, self.transport = open_conn(), FakeTransport()
        self.writable = asyncio.Event()
        self.writable.set()
        self.close_sent = self.disconnected = False
        self.asgi = Server()

    async def send(self, message):
        await self.writable.wait()
        await self.asgi.send(message)


def direct_consumer(proto, **config):
    from weatherstream.consumers import direct_writer

    c = consumer(proto.asgi, **config)
    c.base_send = proto.send
    c._direct = direct_writer(proto.send)
    assert c._direct is proto
    return c


async def test_direct_frames_go_to_the_transport_prepared_once():
    proto = WebSocketsSansIOProtocol()
    c = direct_consumer(proto)
    shared = Prepared("ä frame")
    c.push("ä frame", shared)
    c.push("reply")  # nothing prepared: through the sans-I/O protocol
    # Byte for byte what websockets itself sends for these texts.
    reference = open_conn()
    reference.send_text("ä frame".encode())
    reference.send_text(b"reply")
    assert proto.transport.written == [b"".join(reference.data_to_send())[:10], b"\x81\x05reply"]
    assert proto.transport.written[0] == shared.frame == b"\x81\x08" + "ä frame".encode()
    proto.conn.extensions = [MarkingExtension()]  # negotiated per connection: never bypassed
    c.push("ä frame", shared)
    assert proto.transport.written[2] == b"\x81\x09X" + shared.encoded
    assert proto.asgi.sent == [] and c._writer is None


async def test_an_unexpected_failure_turns_the_direct_path_off_not_the_connection(caplog):
    proto = WebSocketsSansIOProtocol()
    c = direct_consumer(proto)

    def broken(data):
        raise AttributeError("renamed in some future version")

    proto.conn.send_text = broken
    c.push("reply")  # falls through to the ASGI send, and stays there
    c.push("next")
    assert c._direct is None
    assert [m["text"] for m in proto.asgi.sent] == ["reply", "next"]
    assert "direct send path failed" in caplog.text


async def test_a_closing_connection_drops_the_frame_quietly(caplog):
    proto = WebSocketsSansIOProtocol()
    c = direct_consumer(proto)
    proto.conn.state = State.CLOSING
    c.push("late", Prepared("late"))
    assert proto.transport.written == [] and proto.asgi.sent == [] and c._direct is proto
    assert "failed" not in caplog.text


async def test_a_paused_transport_falls_back_to_the_bounded_outbox_then_4009():
    proto = WebSocketsSansIOProtocol()
    c = direct_consumer(proto, SEND_BUFFER_BYTES=100)
    proto.writable.clear()  # uvicorn's pause_writing(): the client stopped reading
    c.push("first")
    assert c._writer is not None and proto.transport.written == []
    c.push("x" * 60)
    c.push("y" * 60)  # past 100 characters queued: abandoned
    assert c._closed
    await asyncio.sleep(0)
    proto.writable.set()
    await asyncio.sleep(0.01)
    assert {"type": "websocket.close", "code": 4009} in proto.asgi.sent


async def test_frames_keep_their_order_across_a_pause():
    proto = WebSocketsSansIOProtocol()
    c = direct_consumer(proto)
    c.push("1")
    proto.writable.clear()
    c.push("2")  # waits in the writer task
    proto.writable.set()
    c.push("3")  # queued behind "2", not written ahead of it
    await asyncio.sleep(0.01)
    c.push("4")  # the writer is done: direct again
    assert proto.transport.written == [b"\x81\x011", b"\x81\x014"]
    assert [m["text"] for m in proto.asgi.sent] == ["2", "3"]

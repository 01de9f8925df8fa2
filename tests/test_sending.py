"""How frames reach a client (weatherstream.sending): the ASGI sender, eager when the
server can take a frame and bounded when it cannot; the direct sender under uvicorn's
websockets-sansio; the prepared frame bytes; and the guard on the private APIs they use."""

import asyncio
import dataclasses
import gc
import logging
import threading
import weakref

import pytest
from websockets.protocol import State
from websockets.server import ServerProtocol

from weatherstream.consumers import WeatherConsumer
from weatherstream.hub import Hub
from weatherstream.sending import (
    AsgiSender,
    DirectSender,
    Prepared,
    direct_writer,
    resume,
    sender_for,
    this_turn,
)


class Server:
    """A fake ASGI send: completes at once unless ``gate`` is closed."""

    def __init__(self):
        self.sent = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, message):
        await self.gate.wait()
        self.sent.append(message)

    def texts(self):
        return [m["text"] for m in self.sent if m["type"] == "websocket.send"]


class Abandoned:
    """The callback a sender calls when it gives up on a slow client."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1


def asgi_sender(server, limit=1 << 20):
    abandoned = Abandoned()
    sender = sender_for(server.send, limit, abandoned)
    assert type(sender) is AsgiSender
    return sender, abandoned


# -- the ASGI sender ------------------------------------------------------------------


async def test_frames_go_out_at_once_without_a_task():
    server = Server()
    sender, _ = asgi_sender(server)
    for n in range(3):
        sender.push(f"frame {n}", Prepared(f"frame {n}"))  # prepared or not: the same text
    # Sent synchronously inside push(): no writer task, nothing queued.
    assert server.sent == [{"type": "websocket.send", "text": f"frame {n}"} for n in range(3)]
    assert sender._writer is None and not sender._outbox


async def test_a_waiting_send_queues_the_rest_in_order():
    server = Server()
    server.gate.clear()
    sender, _ = asgi_sender(server)
    for n in range(5):
        sender.push(f"frame {n}")
    assert server.sent == [] and sender._writer is not None
    assert list(sender._outbox) == ["frame 1", "frame 2", "frame 3", "frame 4"]
    assert sender._outbox_bytes == 28
    server.gate.set()
    await asyncio.wait_for(sender._writer, 1)
    assert server.texts() == [f"frame {n}" for n in range(5)]
    assert sender._writer is None and sender._outbox_bytes == 0
    sender.push("after")  # at once again
    assert server.texts()[-1] == "after" and sender._writer is None


async def test_the_outbox_holds_exactly_the_limit_then_the_client_is_closed_with_4009():
    server = Server()
    server.gate.clear()
    sender, abandoned = asgi_sender(server, limit=10)
    sender.push("waits in the server")  # not counted: the writer task holds it
    sender.push("12345")
    sender.push("67890")  # 10 characters queued: at the limit, not past it
    assert not sender.closed and abandoned.calls == 0 and sender._outbox_bytes == 10
    sender.push("x")  # 11: past it
    assert sender.closed and abandoned.calls == 1
    assert not sender._outbox and sender._outbox_bytes == 0
    sender.push("too late")  # dropped, and abandoned() is not called again
    assert abandoned.calls == 1 and not sender._outbox
    server.gate.set()
    await asyncio.sleep(0.01)
    # The frame that was already in the server goes out; the queued ones never do.
    assert server.sent == [
        {"type": "websocket.send", "text": "waits in the server"},
        {"type": "websocket.close", "code": 4009},
    ]


async def test_closing_a_client_that_stopped_reading_is_logged_with_what_was_queued(caplog):
    server = Server()
    server.gate.clear()
    sender, _ = asgi_sender(server, limit=10)
    sender.push("waits in the server")
    with caplog.at_level(logging.INFO, logger="weatherstream.sending"):
        sender.push("12345")
        sender.push("678901")  # 11 characters queued: past the limit
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "closing a client that stopped reading (11 characters queued)")
    ]
    server.gate.set()
    await asyncio.sleep(0.01)


async def test_a_send_that_fails_does_not_raise_into_the_fan_out():
    async def gone(message):
        raise OSError("client disconnected")

    sender = AsgiSender(gone, 1000, Abandoned())
    sender.push("frame")  # must not raise
    assert sender._writer is None and not sender.closed


@pytest.mark.parametrize("fail_after_wait", [True, False])
async def test_a_send_that_fails_after_waiting_is_contained(fail_after_wait):
    gate = asyncio.Event()
    sent = []

    async def slow_then_gone(message):
        await gate.wait()
        if fail_after_wait:
            raise OSError("client disconnected")
        sent.append(message["text"])

    sender = AsgiSender(slow_then_gone, 1000, Abandoned())
    sender.push("a")
    sender.push("b")
    gate.set()
    await asyncio.wait_for(sender._writer, 1)
    assert sender._writer is None and not sender._outbox and sender._outbox_bytes == 0
    assert sent == ([] if fail_after_wait else ["a", "b"])


async def test_stop_drops_what_is_queued_and_what_comes_after():
    server = Server()
    server.gate.clear()
    sender, abandoned = asgi_sender(server)
    sender.push("in the server")
    sender.push("queued")
    sender.stop()
    sender.push("after")
    assert sender.closed and not sender._outbox
    server.gate.set()
    await asyncio.sleep(0.01)
    assert server.sent == [{"type": "websocket.send", "text": "in the server"}]
    assert abandoned.calls == 0


async def test_close_sends_the_close_frame_after_what_the_server_holds():
    server = Server()
    sender, _ = asgi_sender(server)
    sender.push("last")
    await sender.close(4003)
    sender.push("after")
    assert sender.closed
    assert server.sent == [
        {"type": "websocket.send", "text": "last"},
        {"type": "websocket.close", "code": 4003},
    ]


async def test_close_to_a_client_that_is_gone_does_not_raise():
    async def gone(message):
        raise OSError("client disconnected")

    sender = AsgiSender(gone, 1000, Abandoned())
    await sender.close(1000)
    assert sender.closed


# -- resume(): finishing a send that had to wait ---------------------------------------


async def test_resume_finishes_a_coroutine_as_a_task_would():
    future = asyncio.get_running_loop().create_future()
    steps = []

    async def send():
        steps.append("start")
        steps.append(await future)
        await asyncio.sleep(0)  # a bare yield
        steps.append("end")

    coro = send()
    waiting_on = coro.send(None)
    assert waiting_on is future and steps == ["start"]
    task = asyncio.get_running_loop().create_task(resume(coro, waiting_on))
    await asyncio.sleep(0)
    assert steps == ["start"] and not task.done()
    future.set_result("result")
    await asyncio.wait_for(task, 1)
    assert steps == ["start", "result", "end"]


async def test_resume_raises_what_the_coroutine_raises_and_closes_it():
    loop = asyncio.get_running_loop()
    finished = []

    async def send(future):
        try:
            await future
            raise OSError("client disconnected")
        finally:
            finished.append(True)

    future = loop.create_future()
    coro = send(future)
    waiting_on = coro.send(None)
    future.set_result(None)
    with pytest.raises(OSError, match="client disconnected"):
        await resume(coro, waiting_on)
    assert finished == [True]

    coro = send(loop.create_future())  # cancelled while waiting: closed, not leaked
    waiting_on = coro.send(None)
    task = loop.create_task(resume(coro, waiting_on))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == [True, True] and coro.cr_frame is None


# -- the prepared frame ---------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_the_prepared_frame_is_the_websocket_frame_a_server_sends(size):
    text = "é" * (size // 2) + "x" * (size % 2)
    prepared = Prepared(text)
    payload = text.encode()
    assert prepared.encoded == payload
    # RFC 6455: FIN + text opcode, unmasked, then the payload length in 7, 7+16 or 7+64 bits.
    n = len(payload)
    if n < 126:
        header = bytes([0x81, n])
    elif n < 65536:
        header = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x81, 127]) + n.to_bytes(8, "big")
    assert prepared.frame == header + payload
    assert prepared.frame is prepared.frame  # built once


# -- the direct sender under uvicorn's websockets-sansio -------------------------------


async def test_uvicorn_websockets_sansio_is_recognised():
    """Fails if a uvicorn, websockets or Python upgrade changes what the direct path relies
    on (it would then fall back to the ASGI send, correct but slower: bench/README.md)."""
    from uvicorn.config import Config
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from uvicorn.server import ServerState

    config = Config(app=lambda *a: None, ws="websockets-sansio", ws_per_message_deflate=False)
    config.load()
    proto = WebSocketsSansIOProtocol(config=config, server_state=ServerState(), app_state={})
    assert direct_writer(proto.send) is proto
    sender = sender_for(proto.send, 1000, Abandoned())
    assert type(sender) is DirectSender and sender._direct is proto and sender.send == proto.send
    assert direct_writer(Server().send) is None  # any other server: the ASGI path
    # resume() hands a waiting send back to the loop the way asyncio's Task does.
    assert asyncio.get_running_loop().create_future()._asyncio_future_blocking is False


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
        self.closing = False

    def write(self, data):
        self.written.append(data)

    def is_closing(self):
        return self.closing


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


def direct_sender(proto, limit=1 << 20):
    abandoned = Abandoned()
    sender = sender_for(proto.send, limit, abandoned)
    assert type(sender) is DirectSender and sender._direct is proto
    return sender, abandoned


def test_another_shape_gets_the_asgi_path():
    proto = WebSocketsSansIOProtocol()
    assert direct_writer(proto.send) is proto
    other_class = type("WebSocketsProtocol", (WebSocketsSansIOProtocol,), {})()
    no_flag = WebSocketsSansIOProtocol()
    del no_flag.disconnected
    other_conn = WebSocketsSansIOProtocol()
    other_conn.conn = FakeTransport()  # not a websockets Protocol
    conn_changed = WebSocketsSansIOProtocol()
    del conn_changed.conn.expect_continuation_frame
    for changed in (other_class, no_flag, other_conn, conn_changed):
        assert direct_writer(changed.send) is None
        assert type(sender_for(changed.send, 1000, Abandoned())) is AsgiSender


def test_a_send_that_is_not_a_bound_method_gets_the_asgi_path():
    async def send(message):  # e.g. a server's closure
        pass

    assert direct_writer(send) is None
    assert type(sender_for(send, 1000, Abandoned())) is AsgiSender


def update(text: str) -> Prepared:
    """An update's frame as the hub prepares it: in the current turn of the event loop."""
    return Prepared(text, this_turn())


async def end_of_turn():
    """Let the event loop finish this turn: the frames waiting for its end are written."""
    await asyncio.sleep(0)


async def test_direct_frames_go_to_the_transport_prepared_once():
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)
    shared = update("ä frame")
    sender.push("ä frame", shared)
    assert proto.transport.written[0] is shared.frame, "the first of its turn: at once, as prepared"
    sender.push("reply")  # nothing prepared: through the sans-I/O protocol, and at once
    assert len(proto.transport.written) == 2, "a reply waits for nothing"
    # Byte for byte what websockets itself sends for these texts.
    reference = open_conn()
    reference.send_text("ä frame".encode())
    reference.send_text(b"reply")
    assert proto.transport.written == [b"".join(reference.data_to_send())[:10], b"\x81\x05reply"]
    assert shared.frame == b"\x81\x08" + "ä frame".encode()
    await end_of_turn()
    proto.conn.extensions = [MarkingExtension()]  # negotiated per connection: never bypassed
    sender.push("ä frame", update("ä frame"))
    assert proto.transport.written[2] == b"\x81\x09X" + shared.encoded
    assert proto.asgi.sent == [] and sender._writer is None and not proto.conn.data_to_send()


async def test_the_frames_after_the_first_of_a_turn_leave_in_one_write_in_order():
    """A poll tick updates several places a connection watches: two writes, not one each."""
    protos = [WebSocketsSansIOProtocol() for _ in range(2)]
    senders = [direct_sender(proto)[0] for proto in protos]
    updates = [update(f"update {i}") for i in range(3)]
    for prepared in updates:
        for sender in senders:
            sender.push(prepared.encoded.decode(), prepared)
    senders[0].push("reply")
    assert [len(p.transport.written) for p in protos] == [1, 1], "the first of the turn only"
    await end_of_turn()
    rest = updates[1].frame + updates[2].frame
    assert protos[0].transport.written == [updates[0].frame, rest + b"\x81\x05reply"]
    assert protos[1].transport.written == [updates[0].frame, rest]
    senders[1].push("next", update("next"))
    assert protos[1].transport.written[-1] == b"\x81\x04next", "a new turn: at once again"
    senders[1].push("one more", update("one more"))
    assert protos[1].transport.written[-1] == b"\x81\x04next", "the second of this turn waits"


async def test_a_close_sends_the_waiting_frames_first_and_a_stop_drops_them():
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)
    sender.push("update", update("update"))
    sender.push("more", update("more"))  # waiting for the turn's end
    sender.push('{"type":"error"}')  # the frame that says why, behind it
    await sender.close(4400)
    assert proto.transport.written == [b"\x81\x06update", b'\x81\x04more\x81\x10{"type":"error"}']
    assert proto.asgi.sent == [{"type": "websocket.close", "code": 4400}]
    other = WebSocketsSansIOProtocol()
    stopped, _ = direct_sender(other)
    stopped.push("update", update("update"))
    stopped.push("more", update("more"))
    stopped.stop()  # the client is gone: nothing more to it
    await end_of_turn()
    assert other.transport.written == [b"\x81\x06update"]


async def test_waiting_frames_to_a_connection_that_closed_meanwhile_are_dropped():
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)
    sender.push("update", update("update"))
    sender.push("more", update("more"))
    proto.transport.closing = True
    await end_of_turn()
    assert proto.transport.written == [b"\x81\x06update"]


async def test_a_prepared_frame_never_goes_into_a_fragmented_message():
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)
    proto.conn.expect_continuation_frame = True  # never so for this server's own frames
    sender.push("update", Prepared("update"))  # websockets refuses it: the ASGI path from now on
    assert proto.transport.written == [] and sender._direct is None
    assert proto.asgi.texts() == ["update"]


@pytest.mark.parametrize(
    "change",
    [
        lambda proto: proto.writable.clear(),  # uvicorn's pause_writing()
        lambda proto: setattr(proto, "close_sent", True),
        lambda proto: setattr(proto, "disconnected", True),
        lambda proto: setattr(proto.transport, "closing", True),
    ],
    ids=["paused", "close sent", "disconnected", "transport closing"],
)
async def test_otherwise_frames_take_the_asgi_send(change):
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)
    change(proto)
    sender.push("update", Prepared("update"))
    assert proto.transport.written == [] and sender._direct is proto
    proto.writable.set()
    await asyncio.sleep(0.01)
    assert proto.asgi.sent == [{"type": "websocket.send", "text": "update"}]


async def test_an_unexpected_failure_turns_the_direct_path_off_not_the_connection(caplog):
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)

    def broken(data):
        raise AttributeError("renamed in some future version")

    proto.conn.send_text = broken
    sender.push("reply")  # falls through to the ASGI send, and stays there
    sender.push("next", Prepared("next"))
    assert sender._direct is None and proto.transport.written == []
    assert proto.asgi.texts() == ["reply", "next"]
    assert [r.getMessage() for r in caplog.records] == [
        "the direct send path failed; using the ASGI send for this connection"
    ]


async def test_a_closing_connection_drops_the_frame_quietly(caplog):
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)
    proto.conn.state = State.CLOSING
    sender.push("late", Prepared("late"))
    sender.push("late reply")
    assert proto.transport.written == [] and proto.asgi.sent == [] and sender._direct is proto
    assert caplog.records == []


async def test_a_paused_transport_falls_back_to_the_bounded_outbox_then_4009():
    proto = WebSocketsSansIOProtocol()
    sender, abandoned = direct_sender(proto, limit=100)
    proto.writable.clear()  # uvicorn's pause_writing(): the client stopped reading
    sender.push("first")
    assert sender._writer is not None and proto.transport.written == []
    sender.push("x" * 60, Prepared("x" * 60))
    sender.push("y" * 40)  # exactly 100 characters queued: still open
    assert not sender.closed and sender._outbox_bytes == 100
    sender.push("z")  # past 100: abandoned
    assert sender.closed and abandoned.calls == 1 and not sender._outbox
    await asyncio.sleep(0)
    proto.writable.set()
    await asyncio.sleep(0.01)
    # What waited in the server, and the close frame (which wakes first); nothing queued.
    assert proto.asgi.sent == [
        {"type": "websocket.close", "code": 4009},
        {"type": "websocket.send", "text": "first"},
    ]
    assert proto.transport.written == []


async def test_frames_keep_their_order_across_a_pause():
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)
    sender.push("1")
    proto.writable.clear()
    sender.push("2")  # waits in the writer task
    proto.writable.set()
    sender.push("3", Prepared("3"))  # queued behind "2", not written ahead of it
    await asyncio.sleep(0.01)
    sender.push("4", Prepared("4"))  # the writer is done: direct again
    assert proto.transport.written == [b"\x81\x011", b"\x81\x014"]
    assert proto.asgi.texts() == ["2", "3"]


# -- the consumer and its sender -------------------------------------------------------


class Unsubscribing:
    """Stands in for the engine: what the consumer's release asks of it."""

    def __init__(self):
        self.unsubscribed = []

    def unsubscribe(self, location_id, subscriber):
        self.unsubscribed.append((location_id, subscriber))


async def serve(consumer, send):
    """Run the consumer as the server would; returns its task and its receive queue."""
    received = asyncio.Queue()
    task = asyncio.get_running_loop().create_task(consumer({"type": "websocket"}, received.get, send))
    await asyncio.sleep(0)
    return task, received


async def test_a_client_that_stops_reading_is_unsubscribed_at_once():
    from django.test import override_settings

    from weatherstream import metrics
    from weatherstream.conf import get_config

    server = Server()
    server.gate.clear()
    with override_settings(WEATHERSTREAM={**get_config(), "SEND_BUFFER_BYTES": 1000}):
        consumer = WeatherConsumer()
    task, received = await serve(consumer, server.send)
    sender = consumer.sender
    assert type(sender) is AsgiSender  # the communicator's send is no uvicorn's
    consumer.engine = engine = Unsubscribing()
    consumer.subscriptions.add("somewhere")
    metrics.SUBSCRIPTIONS.inc()
    for n in range(12):
        sender.push("x" * 100)  # the first waits in the server, ten more fit the outbox
        assert sender.closed is (n == 11)
    # Closed at once: unsubscribed, so the fan-out stops queueing for it.
    assert engine.unsubscribed == [("somewhere", sender)] and not consumer.subscriptions
    server.gate.set()
    await asyncio.sleep(0.01)
    assert server.sent[-1] == {"type": "websocket.close", "code": 4009}
    assert len(server.sent) == 2 and not task.done()
    received.put_nowait({"type": "websocket.disconnect"})
    await asyncio.wait_for(task, 1)
    assert engine.unsubscribed == [("somewhere", sender)]


@pytest.mark.parametrize("slow", [False, True])
async def test_a_finished_connection_is_freed_without_the_cycle_collector(slow):
    """The sender calls back into its consumer; that link goes when the connection ends."""
    server = Server()
    consumer = WeatherConsumer()
    gc.disable()
    try:
        task, received = await serve(consumer, server.send)
        if slow:
            consumer.sender._limit = 0
            server.gate.clear()
            consumer.sender.push("waits")
            consumer.sender.push("overflows")
            assert consumer.sender.closed
            server.gate.set()
        received.put_nowait({"type": "websocket.disconnect"})
        await asyncio.wait_for(task, 1)
        await asyncio.sleep(0.01)
        freed = weakref.ref(consumer)
        del consumer, task
        assert freed() is None
    finally:
        gc.enable()


async def test_frames_waiting_for_the_turns_end_go_before_one_that_takes_the_asgi_send():
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)
    sender.push("a", update("a"))  # at once
    sender.push("b", update("b"))  # waits for the turn's end
    proto.writable.clear()
    sender.push("c")  # paused: the ASGI send, after "b"
    assert proto.transport.written == [b"\x81\x01a", b"\x81\x01b"]
    proto.writable.set()
    await asyncio.sleep(0.01)
    assert proto.asgi.texts() == ["c"]


async def test_a_turn_that_ended_keeps_no_connection_alive():
    """Each sender keeps the mark of the turn it last wrote in: that turn must not keep
    the senders that waited in it (closed connections among them)."""
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)
    sender.push("a", update("a"))
    sender.push("b", update("b"))  # waits: the turn holds the sender
    turn = sender._wrote_in
    assert turn.waiting == [sender]
    await end_of_turn()
    assert turn.waiting == [] and proto.transport.written == [b"\x81\x01a", b"\x81\x01b"]


async def test_the_hubs_updates_of_one_turn_leave_in_two_writes_and_a_reply_at_once():
    """Through the hub, as a poll tick publishes: the update is prepared with its turn."""
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)
    hub = Hub()
    for place in ("a", "b", "c"):
        hub.add(place, sender)
    for place in ("a", "b", "c"):
        hub.send(place, f"update {place}")
    assert proto.transport.written == [b"\x81\x08update a"]
    await end_of_turn()
    assert proto.transport.written == [b"\x81\x08update a", b"\x81\x08update b\x81\x08update c"]
    sender.push("reply")
    assert proto.transport.written[-1] == b"\x81\x05reply", "a reply with nothing waiting: at once"


def test_a_turn_is_the_running_loops_and_ends_with_its_step():
    assert this_turn() is None, "no loop running: no turn (a frame is then written at once)"

    async def turns():
        first = this_turn()
        assert this_turn() is first, "one turn for the whole step"
        await asyncio.sleep(0)
        return first, this_turn()

    first, second = asyncio.run(turns())
    assert first is not None and second is not None and first is not second


def test_two_loops_running_at_once_in_two_threads_each_keep_their_turn():
    both_have_one = threading.Barrier(2, timeout=5)
    kept = []

    async def hold():
        mine = this_turn()
        both_have_one.wait()  # the other thread's loop takes its turn meanwhile
        kept.append(this_turn() is mine)

    threads = [threading.Thread(target=lambda: asyncio.run(hold())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert kept == [True, True]


async def test_an_update_prepared_in_a_turn_that_ended_is_written_at_once():
    proto = WebSocketsSansIOProtocol()
    sender, _ = direct_sender(proto)
    old = update("old")
    sender.push("old", old)
    await end_of_turn()
    sender.push("old", old)  # e.g. kept by mistake: no turn's end is coming for it
    sender.push("again", Prepared("again", old.turn))
    assert proto.transport.written == [b"\x81\x03old", b"\x81\x03old", b"\x81\x05again"]

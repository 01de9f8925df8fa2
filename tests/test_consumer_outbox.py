"""The consumer's send path: eager when the server can take a frame, bounded when it cannot."""

import asyncio

import pytest
from django.test import override_settings

from weatherstream.conf import get_config
from weatherstream.consumers import WeatherConsumer
from weatherstream.engine import Engine


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

"""Property: whatever a client sends, it gets a reply (an error with a known code for
anything malformed), the connection stays open, and nothing is logged as an error."""

from __future__ import annotations

import json
import logging

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from example.asgi import application
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import stop_engine
from weatherstream.conf import get_config
from weatherstream.protocol import ERROR_CODES

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://localhost")]
REPLIES = {"subscribed", "unsubscribed", "pong", "error"}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
keys = st.sampled_from(["type", "city", "lat", "lon", "id", "location"]) | st.text(max_size=10)
kinds = st.sampled_from(["subscribe", "unsubscribe", "ping", "SUBSCRIBE", ""]) | st.text(max_size=12)
messages = st.dictionaries(keys, json_values, max_size=5) | st.fixed_dictionaries(
    {"type": kinds},
    optional={
        "city": st.text(max_size=300) | json_values,
        "lat": scalars,
        "lon": scalars,
        "id": scalars,
        "location": scalars,
    },
)
frames = (
    messages.map(json.dumps)  # json.dumps writes NaN/Infinity, which are not JSON
    | json_values.map(json.dumps)
    | st.text(max_size=500)
    | st.binary(max_size=200)
)


@pytest.fixture(autouse=True)
async def engine_per_test():
    yield
    await stop_engine()


# 400 batches: about 2,200 frames per run (counted once, 2026-11-24).
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(frames, min_size=1, max_size=30))
async def test_any_frame_gets_a_reply_and_the_connection_stays_open(batch, caplog):
    unlimited = {"MESSAGES_PER_SECOND": 1e9, "MESSAGE_BURST": 10**9, "MAX_SUBSCRIPTIONS": 1000}
    with override_settings(WEATHERSTREAM={**get_config(), **unlimited}):
        caplog.clear()
        comm = WebsocketCommunicator(application, "/ws/weather/", headers=ORIGIN)
        assert (await comm.connect())[0]
        assert (await comm.receive_json_from())["type"] == "hello"
        for frame in batch:
            kind = "bytes" if isinstance(frame, bytes) else "text"  # empty frames too
            await comm.send_input({"type": "websocket.receive", kind: frame})
            skipped = 0
            while True:  # skip live updates of cities an earlier frame subscribed to
                out = await comm.receive_output(timeout=5)
                skipped += 1
                assert skipped < 200, (frame, "no reply among 200 frames")
                assert out["type"] == "websocket.send", (frame, out)
                reply = json.loads(out["text"])
                if reply["type"] != "weather":
                    break
            assert reply["type"] in REPLIES, (frame, reply)
            if reply["type"] == "error":
                assert reply["code"] in ERROR_CODES and reply["code"] != "unavailable", (frame, reply)
                assert reply["message"]
        await comm.send_json_to({"type": "ping", "id": "last"})
        while (reply := await comm.receive_json_from(timeout=5))["type"] == "weather":
            pass
        assert reply == {"type": "pong", "id": "last"}
        await comm.disconnect()
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, [r.getMessage() for r in errors]

"""Readiness: can this process serve? The database answers, the channel layer carries
a message, and a poller is alive (this process's own, or the lease holder's in Redis)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Coroutine
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connection

from .election import lease_holder, redis_url
from .engine import Engine

TIMEOUT = 2.0  # seconds each check may take
PROBE_PREFIX = "weatherstream.ready."  # + the probe's id: the names of a probe's layer channels
_ID_LENGTH = 12  # hex digits: unique among the probes of a process, short enough for a name

logger = logging.getLogger(__name__)
_running: set[str] = set()  # ids of the channel-layer probes under way
_tasks: set[asyncio.Task[None]] = set()  # their tasks and clean-ups, kept until they end


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def database() -> None:
    await database_sync_to_async(_database)()


async def channel_layer() -> None:
    """Send a message to a channel of this probe's own and receive it back.

    A new channel per probe: no probe can receive another's message, and no subscription
    lost in a Redis restart is reused. The round trip runs as a task that ends within
    TIMEOUT, then forgets its channel; a caller that gives up returns at once."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return  # in-process: nothing that can be down
    await asyncio.shield(_start(_round_trip(layer)))


def _start(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    task = asyncio.ensure_future(coroutine)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def _round_trip(layer: Any) -> None:
    probe = uuid.uuid4().hex[:_ID_LENGTH]  # channel names stay below 100 characters
    _running.add(probe)
    try:
        async with asyncio.timeout(TIMEOUT):
            channel = await layer.new_channel(f"{PROBE_PREFIX}{probe}")
            token = uuid.uuid4().hex
            await layer.send(channel, {"type": "ready", "token": token})
            message = await layer.receive(channel)
    finally:
        _running.discard(probe)
        _start(_clean_up(layer))  # after the answer, not before it
    if message.get("token") != token:
        raise RuntimeError("the channel layer returned another message")


async def _clean_up(layer: Any) -> None:
    """Forget every probe channel that no probe uses any more: this probe's, and those an
    earlier clean-up could not reach (Redis was down: the next probe's tries again).

    Only the pub/sub layer needs it. channels_redis's list-based layer subscribes nothing,
    and keeps a probe's messages in a Redis list of the probe's own (its channel's name up
    to the "!"), where a late reply expires unread after the layer's ``expiry``."""
    if not _is_pubsub(layer):
        return
    try:
        async with asyncio.timeout(TIMEOUT):
            await _forget_pubsub(layer)
    except Exception:
        logger.debug("probe channels left for the next probe to forget", exc_info=True)


def _is_pubsub(layer: Any) -> bool:
    try:
        from channels_redis.pubsub import RedisPubSubChannelLayer
    except ImportError:  # channels_redis (the `redis` extra) is not installed
        return False
    return isinstance(layer, RedisPubSubChannelLayer)


def _leftover(name: str | bytes) -> bool:
    """A probe's channel that no probe under way uses."""
    text = name.decode(errors="replace") if isinstance(name, bytes) else name
    _, found, rest = text.partition(PROBE_PREFIX)
    return bool(found) and rest[:_ID_LENGTH] not in _running


async def _forget_pubsub(layer: Any) -> None:
    # channels_redis has no delete_channel(): a receive() that is cancelled unsubscribes its
    # channel, and one that returns leaves it subscribed. So do what the cancelled one does,
    # on the layer of this event loop: drop the channel's queue (also the one new_channel()
    # leaves when its subscribe fails) and unsubscribe it on its Redis host's shard.
    loop_layer = layer._get_layer()
    for name in [name for name in loop_layer.channels if _leftover(name)]:
        del loop_layer.channels[name]
    for shard in loop_layer._shards:
        for name in [name for name in shard._subscribed_to if _leftover(name)]:
            await shard.unsubscribe(name)
        # After a reconnect, redis-py subscribes again to every channel whose UNSUBSCRIBE it
        # has not seen confirmed, behind the shard's back: unsubscribe those directly.
        pubsub = shard._pubsub
        if pubsub is None:
            continue
        pending = pubsub.pending_unsubscribe_channels
        stray = [name for name in pubsub.channels if _leftover(name) and name not in pending]
        if stray:
            async with shard._lock:
                await pubsub.unsubscribe(*stray)


async def poller(engine: Engine) -> None:
    if engine.polls:
        if not engine.poller_alive():
            raise RuntimeError("this process's poller is not running")
        return
    url = redis_url(engine.config)
    if not url:
        raise RuntimeError("no Redis to find the poller's lease in")
    if await lease_holder(url, timeout=TIMEOUT) is None:
        raise RuntimeError("no poller holds the lease (is `manage.py weatherstream_poll` running?)")


async def outcome(check: Awaitable[None]) -> str:
    """Await one check: "ok", its error, or that it did not answer within TIMEOUT."""
    try:
        await asyncio.wait_for(check, TIMEOUT)
    except TimeoutError:
        return f"no answer within {TIMEOUT:g}s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


async def readiness(engine: Engine) -> dict[str, str]:
    """Each check's name -> "ok" or what failed."""
    checks = {"database": database(), "channel_layer": channel_layer(), "poller": poller(engine)}
    return {name: await outcome(check) for name, check in checks.items()}

"""Readiness: can this process serve? The database answers, the channel layer carries
a message, and a poller is alive (this process's own, or the lease holder's in Redis)."""

from __future__ import annotations

import asyncio
import uuid

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connection

from .election import lease_holder, redis_url
from .engine import Engine

TIMEOUT = 2.0  # seconds each check may take
_probe_channels: dict[int, str] = {}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def database() -> None:
    await database_sync_to_async(_database)()


async def channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return  # in-process: nothing that can be down
    channel = _probe_channels.get(id(layer))
    if channel is None:  # one per process: the pub/sub layer keeps every channel subscribed
        channel = _probe_channels[id(layer)] = await layer.new_channel("weatherstream.ready.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "ready", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("the channel layer returned another message")


async def poller(engine: Engine) -> None:
    if engine.polls:
        if not engine.polling():
            raise RuntimeError("this process's poller is not running")
        return
    url = redis_url(engine.config)
    if not url:
        raise RuntimeError("no Redis to find the poller's lease in")
    if await lease_holder(url, timeout=TIMEOUT) is None:
        raise RuntimeError("no poller holds the lease (is `manage.py weatherstream_poll` running?)")


async def readiness(engine: Engine) -> dict[str, str]:
    """Each check's name -> "ok" or what failed."""
    checks = {"database": database(), "channel_layer": channel_layer(), "poller": poller(engine)}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, TIMEOUT)
            results[name] = "ok"
        except TimeoutError:
            results[name] = f"no answer within {TIMEOUT:g}s"
        except Exception as exc:
            results[name] = f"{type(exc).__name__}: {exc}"
    return results

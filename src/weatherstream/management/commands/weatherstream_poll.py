"""``manage.py weatherstream_poll``: the poller as its own process.

Run it beside server processes configured with ``WEATHERSTREAM["POLLER"] = "off"`` and
a channel layer they share (channels-redis).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.management.base import BaseCommand, CommandError

from weatherstream.engine import PollerEngine


class Command(BaseCommand):
    help = "Poll the weather that server processes' clients watch, and publish it to them."

    def handle(self, *args: Any, **options: Any) -> None:
        layer = get_channel_layer()
        if layer is None or isinstance(layer, InMemoryChannelLayer):
            raise CommandError(
                "A separate poller reaches server processes through a shared channel layer; "
                "configure CHANNEL_LAYERS with channels_redis (REDIS_URL in the example project). "
                'With the in-memory layer, keep WEATHERSTREAM["POLLER"] = "embedded".'
            )
        asyncio.run(self._run())

    async def _run(self) -> None:
        engine = PollerEngine()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await engine.start()
        self.stdout.write(
            f"weatherstream poller: providers={','.join(u.name for u in engine.chain.upstreams)} "
            f"interval={engine.interval:g}s"
        )
        try:
            await stop.wait()
        finally:
            await engine.stop()

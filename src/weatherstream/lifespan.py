"""ASGI lifespan: start the engine (geocoder index, embedded poller) with the server.

Route ``"lifespan"`` to :func:`lifespan` in your ProtocolTypeRouter. Servers without
lifespan support (daphne, ``runserver``) start the engine on the first connection.
"""

from __future__ import annotations

import logging
from typing import Any

from .engine import get_engine, shutdown_engine

logger = logging.getLogger(__name__)


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await get_engine()
            except Exception as exc:
                logger.exception("weatherstream failed to start")
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown_engine()
            await send({"type": "lifespan.shutdown.complete"})
            return

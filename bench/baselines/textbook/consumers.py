"""The textbook Channels design: one group per location, group_send per update.

Every consumer has its own channel-layer channel; the publisher does one
``group_send`` per location per second and every consumer serializes its own
copy of the frame in ``send_json``. This is the design the tutorials show.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from weather import location_id, parse_subscribe, place, reading  # noqa: E402

logger = logging.getLogger(__name__)

watched: dict[str, int] = {}  # location id -> local subscriber count
latest: dict[str, dict[str, Any]] = {}


def group_name(lid: str) -> str:
    return "loc_" + lid.replace(",", "_")


class WeatherConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.locations: set[str] = set()
        await self.accept()
        await self.send_json({"type": "hello", "protocol": 1, "provider": "simulated", "poll_interval": 1.0})

    async def disconnect(self, code: int) -> None:
        for lid in self.locations:
            await self.channel_layer.group_discard(group_name(lid), self.channel_name)
            watched[lid] -= 1
            if not watched[lid]:
                del watched[lid]

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong", "id": content.get("id")})
        elif kind == "subscribe" and (coords := parse_subscribe(content)) is not None:
            lid = location_id(*coords)
            if lid not in self.locations:
                self.locations.add(lid)
                watched[lid] = watched.get(lid, 0) + 1
                await self.channel_layer.group_add(group_name(lid), self.channel_name)
            w = latest.get(lid)
            await self.send_json(
                {
                    "type": "subscribed",
                    "location": place(*coords),
                    "weather": w,
                    "temperature": w["temperature"] if w else None,
                    "id": content.get("id"),
                }
            )
        else:
            await self.send_json({"type": "error", "code": "bad_request", "message": "?"})

    async def weather_update(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "weather",
                "location": event["location"],
                "weather": event["weather"],
                "published_at": event["published_at"],
            }
        )


async def publisher() -> None:
    """1 Hz: one group_send per watched location."""
    layer = get_channel_layer()
    rngs: dict[str, random.Random] = {}
    nxt = time.monotonic()
    while True:
        nxt += 1.0
        await asyncio.sleep(max(0.0, nxt - time.monotonic()))
        for lid in list(watched):
            rng = rngs.setdefault(lid, random.Random(lid))
            w = latest[lid] = reading(rng)
            try:
                await layer.group_send(
                    group_name(lid),
                    {
                        "type": "weather.update",
                        "location": lid,
                        "weather": w,
                        "published_at": time.time(),
                    },
                )
            except Exception:
                logger.exception("group_send failed")

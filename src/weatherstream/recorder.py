"""Storing readings so that a database outage loses none of them.

Readings go out to subscribers whether or not they could be stored. Those the database
refused wait in a bounded buffer and are written, idempotently (services), as soon as
it answers again: one warning when storage starts failing, one when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async

from . import metrics, services
from .readings import Reading

logger = logging.getLogger(__name__)

Store = Callable[[list[tuple[Any, Reading]]], Awaitable[None]]
RETRY_FIRST, RETRY_MAX = 1.0, 30.0  # seconds between attempts while the database fails


async def _store(items: list[tuple[Any, Reading]]) -> None:
    await database_sync_to_async(services.observations_store)(items=items)


class Recorder:
    """``record()`` stores now, or keeps the readings (at most ``limit``) and retries."""

    def __init__(self, *, limit: int, store: Store = _store) -> None:
        self.limit = max(1, limit)
        self.store = store
        self.pending: OrderedDict[tuple[str, datetime], tuple[Any, Reading]] = OrderedDict()
        self.failing = False
        self.dropped = 0
        self._retrying: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def record(self, items: Iterable[tuple[Any, Reading]]) -> bool:
        """Store ``(place, reading)`` pairs (a place is anything with the Location fields);
        False when they were kept for later."""
        for place, reading in items:
            self.pending[(place.id, reading.observed_at)] = (place, reading)
        while len(self.pending) > self.limit:  # the oldest go first
            self.pending.popitem(last=False)
            self.dropped += 1
            metrics.STORAGE_DROPPED.inc()
        if self._retrying is not None and not self._retrying.done():
            metrics.STORAGE_BUFFERED.set(len(self.pending))
            return False  # the retry loop writes them, in order
        return await self.flush()

    async def flush(self) -> bool:
        """Write everything pending; True when nothing is left."""
        async with self._lock:
            if not self.pending:
                return True
            batch = list(self.pending.items())
            try:
                await self.store([item for _, item in batch])
            except Exception as exc:  # the database is down or locked: keep them
                if not self.failing:
                    self.failing = True
                    logger.warning(
                        "storing observations failed (%s: %s); keeping up to %d in memory and retrying",
                        type(exc).__name__,
                        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                        self.limit,
                    )
                self._retry_later()
                metrics.STORAGE_BUFFERED.set(len(self.pending))
                return False
            for key, _ in batch:
                self.pending.pop(key, None)
            if self.failing:
                self.failing = False
                logger.warning(
                    "storage is back: wrote %d buffered observation(s)%s",
                    len(batch),
                    f"; {self.dropped} dropped while it was down" if self.dropped else "",
                )
                self.dropped = 0
            metrics.STORAGE_BUFFERED.set(len(self.pending))
            return not self.pending

    def _retry_later(self) -> None:
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.get_running_loop().create_task(
                self._retry(), name="weatherstream-storage-retry"
            )

    async def _retry(self) -> None:
        wait = RETRY_FIRST
        while True:
            await asyncio.sleep(wait)
            if await self.flush():
                return
            wait = min(RETRY_MAX, wait * 2)

    async def close(self) -> None:
        """Stop retrying, after one last attempt to write what is pending."""
        if self._retrying is not None:
            self._retrying.cancel()
            await asyncio.gather(self._retrying, return_exceptions=True)
            self._retrying = None
        if self.pending:
            try:
                await asyncio.wait_for(self.flush(), 5.0)
            except TimeoutError:
                pass
            if self.pending:
                logger.warning("stopping with %d observation(s) not stored", len(self.pending))

"""Storing readings so that a database outage loses none of them.

Readings go out to subscribers first; a writer task stores them. Those the database
refused wait in a bounded buffer and are written, idempotently (services), as soon as
it answers again: one warning when storage starts failing, one when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from channels.db import database_sync_to_async

from . import metrics, services
from .readings import Reading

logger = logging.getLogger(__name__)

Store = Callable[[list[tuple[Any, Reading]]], Awaitable[None]]
T = TypeVar("T")
RETRY_FIRST, RETRY_MAX = 1.0, 30.0  # seconds between attempts while the database fails


async def uninterrupted(call: Awaitable[T]) -> T:
    """Await a database call that runs in a thread; cancelled meanwhile, let the thread
    finish first (it cannot be stopped), so that nothing writes after a stop returns."""
    future = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait({future})
        raise


async def _store(items: list[tuple[Any, Reading]]) -> None:
    await database_sync_to_async(services.observations_store)(items=items)


class Recorder:
    """``add()`` queues readings for a writer task of its own, so that a slow or hanging
    database delays no update; the writer stores them in order and, while the database
    fails, keeps them (at most ``limit``) and retries."""

    def __init__(self, *, limit: int, store: Store = _store) -> None:
        self.limit = max(1, limit)
        self.store = store
        self.pending: OrderedDict[tuple[str, datetime], tuple[Any, Reading]] = OrderedDict()
        self.failing = False
        self.dropped = 0
        self.closed = False
        self._writer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add(self, items: Iterable[tuple[Any, Reading]]) -> None:
        """Queue ``(place, reading)`` pairs (a place is anything with the Location fields)."""
        for place, reading in items:
            self.pending[(place.id, reading.observed_at)] = (place, reading)
        while len(self.pending) > self.limit:  # the oldest go first
            self.pending.popitem(last=False)
            self.dropped += 1
            metrics.STORAGE_DROPPED.inc()
        metrics.STORAGE_BUFFERED.set(len(self.pending))
        if self.closed:
            logger.warning("storage is closed: %d observation(s) not stored", len(self.pending))
        elif self.pending and (self._writer is None or self._writer.done()):
            self._writer = asyncio.get_running_loop().create_task(
                self._write(), name="weatherstream-storage-writer"
            )

    async def record(self, items: Iterable[tuple[Any, Reading]]) -> bool:
        """Queue and store now; False when they were kept for later (the writer retries)."""
        self.add(items)
        return await self.flush()

    async def flush(self) -> bool:
        """Write everything pending; True when nothing is left."""
        async with self._lock:
            if not self.pending:
                return True
            batch = list(self.pending.items())
            try:
                await uninterrupted(self.store([item for _, item in batch]))
            except Exception as exc:  # the database is down or locked: keep them
                if not self.failing:
                    self.failing = True
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    logger.warning(
                        "storing observations failed (%s: %s); keeping up to %d in memory and retrying",
                        type(exc).__name__,
                        reason,
                        self.limit,
                    )
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

    async def _write(self) -> None:
        wait = RETRY_FIRST
        while self.pending and not await self.flush():
            await asyncio.sleep(wait)
            wait = min(RETRY_MAX, wait * 2)

    async def close(self) -> None:
        """Stop the writer, after one last attempt (5 s at most) to store what is pending."""
        self.closed = True
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        if self.pending:
            try:
                async with asyncio.timeout(5.0):
                    await self.flush()
            except TimeoutError:
                pass
            if self.pending:
                logger.warning("stopping with %d observation(s) not stored", len(self.pending))

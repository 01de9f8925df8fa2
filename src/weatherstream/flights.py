"""Single flight: concurrent callers doing the same thing for one key share one run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


async def shared(
    runs: dict[Any, asyncio.Task[None]], key: Hashable, start: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Await the run for ``key`` under way in ``runs``, or start one with ``start()``.

    Shielded: a caller that is cancelled does not cancel the run the others wait on."""
    task = runs.get(key)
    if task is None:
        task = runs[key] = asyncio.get_running_loop().create_task(start())
        task.add_done_callback(lambda _: runs.pop(key, None))
    await asyncio.shield(task)


class NextRun(Generic[T]):
    """Callers share a run for one key that begins after they asked: while one is under
    way, those who ask meanwhile share the next. For reads that must see everything done
    before the call (a resume's look-up), where joining a run under way would not."""

    def __init__(self) -> None:
        self._waiting: dict[Hashable, asyncio.Task[T]] = {}
        self._running: dict[Hashable, asyncio.Task[T]] = {}

    async def __call__(self, key: Hashable, start: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """The result of a run of ``start()`` that begins after this call (shielded: a
        caller that is cancelled does not cancel the run the others wait on)."""
        task = self._waiting.get(key)
        if task is None or task.done():  # (done: cancelled before it began, e.g. at shutdown)
            task = self._waiting[key] = asyncio.get_running_loop().create_task(self._run(key, start))
        return await asyncio.shield(task)

    async def _run(self, key: Hashable, start: Callable[[], Coroutine[Any, Any, T]]) -> T:
        me = asyncio.current_task()
        try:
            ahead = self._running.get(key)
            if ahead is not None:
                await asyncio.wait([ahead])  # its outcome is its own callers'
        finally:
            if self._waiting.get(key) is me:
                del self._waiting[key]  # begins now (or never): later callers wait for the next
        assert me is not None
        self._running[key] = me
        try:
            return await start()
        finally:
            if self._running.get(key) is me:
                del self._running[key]

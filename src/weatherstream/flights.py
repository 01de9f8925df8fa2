"""Single flight: concurrent callers doing the same thing for one key share one run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any


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

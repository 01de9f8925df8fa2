"""Short garbage-collector pauses while thousands of connections are open (GC_FREEZE).

CPython up to 3.13 stops the whole process for a full collection, and a full collection
visits every object it tracks: with 10,000 connections open that took 0.6-0.8 s here,
in which no upload was answered and no frame left (bench/README.md, "Personal weather
stations"). What survives a full collection lives long (modules, the GeoNames index, open
connections), so the :class:`Freezer` freezes it (:func:`gc.freeze`) after every full
collection: the next ones visit only what was made since, and stay short.

A frozen object freed by its reference count is freed as usual; one that later becomes
part of unreachable cycles (say, of a connection since closed) waits for a complete
collection (:func:`gc.unfreeze`, then :func:`gc.collect`: the one long pause). That
runs when as many connections have closed since the last one as a quarter of those open
(at least ``CLOSES``), and at least every ``EVERY`` seconds.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

CLOSES = 1000  # closed connections that always call for a complete collection
EVERY = 3600.0  # seconds: the longest time between two complete collections


class Freezer:
    """Freezes what survives full collections; see the module's text. One per engine:
    :meth:`start` and :meth:`stop` install and remove it, the connections count their
    :meth:`opened` and :meth:`closed`, and the engine asks :meth:`due` now and then."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.open = 0
        self.closed_since = 0  # connections closed since the last complete collection
        self.last = clock()
        self.installed = False

    def start(self) -> None:
        if not self.installed:
            gc.callbacks.append(self._after)
            self.installed = True
            self.collect()

    def stop(self) -> None:
        if self.installed:
            gc.callbacks.remove(self._after)
            self.installed = False
            gc.unfreeze()

    def opened(self) -> None:
        self.open += 1

    def closed(self) -> None:
        self.open -= 1
        self.closed_since += 1

    def due(self) -> bool:
        """Whether enough has closed, or time has passed, for a complete collection."""
        if self.closed_since >= max(CLOSES, self.open // 4):
            return True
        return self.clock() - self.last >= EVERY

    def collect(self) -> float:
        """The complete collection: everything frozen is looked at again, what is garbage
        freed, the rest frozen again (by the callback). Returns its seconds."""
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        took = time.perf_counter() - started
        logger.debug(
            "complete garbage collection: %.0f ms, %d connections closed since the last, %d open",
            took * 1e3,
            self.closed_since,
            self.open,
        )
        self.closed_since = 0
        self.last = self.clock()
        return took

    def _after(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

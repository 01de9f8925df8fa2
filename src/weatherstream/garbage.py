"""Short garbage-collector pauses while thousands of connections are open (GC_FREEZE).

CPython stops the whole process for a full collection, and a full collection visits every
object it tracks: with 10,000 connections open that took 0.7-1.2 s on the benchmark
machine, in which no upload was answered and no frame left (bench/README.md,
"Personal weather stations"). What survives a full collection mostly lives long
(modules, the GeoNames index, open connections), so :data:`FREEZER` freezes it
(:func:`gc.freeze`) after every full collection: the next ones visit only what was made
since.

CPython starts a collection when allocations outnumber frees by 700 (a net count). In a
busy server that count stays low while new objects replace old ones (each connection's
next ping timer), so tens of thousands pile up unvisited in the young generations and
one later collection visits them all. The engine therefore steps the collector every
``STEP_EVERY`` seconds (:meth:`Freezer.step`): a full collection, which visits only what
is not frozen, a second's worth, and freezes what survived.

A frozen object freed by its reference count is freed as usual; one that becomes part of
unreachable cycles (of a connection since closed, of a request that was under way) waits
for a complete collection (:func:`gc.unfreeze`, then a full one: the one long pause). The
server's engine asks for it (:meth:`Freezer.due`) when as many connections have closed
since the last as a quarter of those open (at least ``CLOSES``), when the frozen objects
have doubled since the open connections last grew by a quarter or the last complete
collection (checked every ``SIZE_EVERY`` seconds; counting them walks them all), and at
least every ``EVERY`` seconds. Python 3.14.0-3.14.4 had an incremental collector: there,
the default leaves it alone.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from typing import Any

CLOSES = 1000  # closed connections that always call for a complete collection
EVERY = 3600.0  # seconds: the longest time between two complete collections
SIZE_EVERY = 60.0  # seconds between two counts of the frozen objects
CHECK_EVERY = 10.0  # seconds between two of the engine's questions to due()
STEP_EVERY = 1.0  # seconds between two of the engine's steps (a full collection of what is new)


def wanted(setting: bool | None, version: tuple[int, ...] = sys.version_info[:3]) -> bool:
    """GC_FREEZE: True or False decide; None: on where full collections stop the world
    (all but Python 3.14.0-3.14.4, whose collector was incremental)."""
    return not ((3, 14) <= version < (3, 14, 5)) if setting is None else setting


class Freezer:
    """Freezes what survives full collections; see the module's text. The pause is the
    process's, so there is one (:data:`FREEZER`), started and stopped by each engine
    (installed while one runs); connections count their :meth:`opened` and
    :meth:`closed`."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.users = 0
        self.open = 0
        self.closed_since = 0  # connections closed since the last complete collection
        self.last = clock()  # when the last complete collection ended
        self.frozen_after = 0  # objects frozen right after it
        self.open_after = 0  # connections open then
        self.sized = clock()
        self.complete = 0  # complete collections so far
        self._unfrozen = False  # a complete collection is under way (or asked for)

    @property
    def installed(self) -> bool:
        return self.users > 0

    def start(self) -> None:
        self.users += 1
        if self.users == 1:
            gc.callbacks.append(self._after)
            self.collect()

    def stop(self) -> None:
        if self.users == 0:
            return
        self.users -= 1
        if self.users == 0:
            gc.callbacks.remove(self._after)
            gc.unfreeze()
            self._unfrozen = False

    def opened(self) -> None:
        self.open += 1

    def closed(self) -> None:
        self.open -= 1
        self.closed_since += 1

    def due(self) -> bool:
        """Whether enough has closed, grown or passed for a complete collection."""
        now = self.clock()
        if self.closed_since >= max(CLOSES, self.open // 4) or now - self.last >= EVERY:
            return True
        if now - self.sized < SIZE_EVERY:
            return False
        self.sized = now
        frozen = gc.get_freeze_count()
        if self.open > self.open_after + self.open_after // 4:
            # A grown audience's objects are not garbage (its closes count above):
            # doublings count from here.
            self.frozen_after, self.open_after = frozen, self.open
            return False
        return frozen >= 2 * max(self.frozen_after, 1)

    def step(self) -> None:
        """A full collection of what is not frozen (what was made since the last step);
        what survives it is frozen. At 10,000 connections, without steps, 39,000 and
        83,000 objects piled up in the young generations before a collection (33 and 71
        ms pauses, and full ones of about 110 ms a minute; bench/README.md)."""
        gc.collect()

    def collect(self) -> None:
        """The complete collection: everything frozen is looked at again, the garbage
        freed, the rest frozen again. Should another thread be collecting just now (then
        ``gc.collect()`` does nothing), the next full collection completes it."""
        self._unfrozen = True
        gc.unfreeze()
        gc.collect()

    def _after(self, phase: str, info: dict[str, Any]) -> None:
        # Runs in whichever thread collected, after the collection, before it returns
        # (no logging here: it takes locks).
        if phase != "stop" or info["generation"] != 2:
            return
        gc.freeze()
        if self._unfrozen:
            self._unfrozen = False
            self.complete += 1
            self.closed_since = 0
            self.last = self.sized = self.clock()
            self.frozen_after = gc.get_freeze_count()
            self.open_after = self.open


FREEZER = Freezer()

"""garbage.Freezer: what survives a full collection is frozen (later full collections
skip it), frozen cycles are freed by the complete collection, which is due after many
closes, a doubling or an hour; the engine installs it (GC_FREEZE), counts its
connections and asks for the complete collection."""

import asyncio
import gc
import weakref

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from example.asgi import application

from tests.clock import FakeClock
from tests.conftest import stop_engine
from weatherstream import garbage
from weatherstream.conf import get_config
from weatherstream.engine import get_engine
from weatherstream.garbage import Freezer

ORIGIN = [(b"origin", b"http://localhost")]


class Node:
    """A tracked object that can be in a cycle and be watched by a weak reference."""

    def __init__(self) -> None:
        self.other: object = None


def tracked(obj: object) -> bool:
    """Whether the collector still looks at ``obj`` (frozen objects are out of its lists)."""
    return any(o is obj for o in gc.get_objects())


@pytest.fixture
def freezer():
    made = Freezer()
    yield made
    while made.installed:
        made.stop()
    gc.collect()


def test_start_freezes_what_lives_and_full_collections_freeze_what_survived(freezer):
    old = Node()
    freezer.start()
    assert gc.get_freeze_count() > 0
    assert not tracked(old)
    new = Node()
    assert tracked(new)
    gc.collect(1)  # a younger generation's collection freezes nothing
    assert tracked(new)
    gc.collect()  # a full one: what survived it is frozen
    assert not tracked(new)


def test_a_step_frees_new_cycles_and_freezes_what_survived(freezer):
    freezer.start()
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    kept = Node()
    assert gone() is not None and tracked(kept)
    freezer.closed()
    before = (freezer.complete, freezer.closed_since, freezer.last)
    freezer.step()
    assert gone() is None, "the new cycle was collected"
    assert not tracked(kept), "what survived the step is frozen"
    assert (freezer.complete, freezer.closed_since, freezer.last) == before, "a step is not complete"


def test_a_frozen_cycle_is_freed_by_the_complete_collection_only(freezer):
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    freezer.start()
    del a, b  # unreachable now, but frozen: full collections do not look at it
    gc.collect()
    assert gone() is not None
    freezer.collect()
    assert gone() is None


def test_a_frozen_object_is_still_freed_by_its_reference_count(freezer):
    node = Node()
    gone = weakref.ref(node)
    freezer.start()
    assert not tracked(node)
    del node
    assert gone() is None


def test_a_complete_collection_another_thread_prevented_is_completed_by_the_next(freezer):
    freezer.start()
    before = freezer.complete
    freezer.closed_since = 5000

    def meanwhile(phase, info):  # inside a collection gc.collect() does nothing, as while
        if phase == "start":  # another thread collects
            gc.callbacks.remove(meanwhile)
            freezer.collect()

    gc.callbacks.insert(0, meanwhile)
    gc.collect(0)
    assert meanwhile not in gc.callbacks
    assert freezer.complete == before and freezer.closed_since == 5000  # not taken as done
    gc.collect()  # the next full collection, whoever runs it
    assert freezer.complete == before + 1 and freezer.closed_since == 0
    assert gc.get_freeze_count() > 0


def test_stop_unfreezes_and_no_longer_freezes_once_its_last_user_stops(freezer):
    freezer.start()
    freezer.start()  # two engines (two event loops) in one process
    freezer.stop()
    assert freezer.installed and gc.get_freeze_count() > 0
    freezer.stop()
    assert gc.get_freeze_count() == 0
    node = Node()
    gc.collect()
    assert tracked(node)
    assert freezer._after not in gc.callbacks


def test_due_after_a_quarter_of_the_open_connections_closed_or_an_hour():
    clock = FakeClock()
    freezer = Freezer(clock=clock)
    for _ in range(12_499):
        freezer.opened()
    for _ in range(2_499):
        freezer.closed()
    assert (freezer.open, freezer.closed_since) == (10_000, 2_499)
    assert not freezer.due()
    freezer.opened()
    freezer.closed()  # 2,500 closed: a quarter of the 10,000 open
    assert freezer.due()
    freezer.start()  # (the complete collection counts as done once the callback saw it)
    try:
        assert not freezer.due() and freezer.closed_since == 0
    finally:
        freezer.stop()
    clock.now += garbage.EVERY - 1
    assert not freezer.due()
    clock.now += 1
    assert freezer.due()


def test_due_with_few_connections_only_after_CLOSES():
    freezer = Freezer(clock=FakeClock())
    freezer.opened()  # one that stays open
    for _ in range(garbage.CLOSES - 1):
        freezer.opened()
        freezer.closed()
    assert not freezer.due()  # a small site's reconnects: no long pause for each
    freezer.opened()
    freezer.closed()
    assert freezer.due()


def test_due_when_the_frozen_objects_doubled_without_the_audience_counted_once_a_minute(freezer):
    freezer.clock = clock = FakeClock(freezer.clock())
    freezer.start()
    base = freezer.frozen_after
    some = [[i] for i in range(base // 2)]  # half as many again
    gc.collect()  # frozen now
    clock.now += garbage.SIZE_EVERY
    assert not freezer.due()  # grown, not doubled
    more = [[i] for i in range(base)]  # now more than twice
    gc.collect()
    assert gc.get_freeze_count() >= 2 * base
    clock.now += garbage.SIZE_EVERY - 1
    assert not freezer.due()  # not counted yet
    clock.now += 1
    assert freezer.due()
    del some, more


def test_an_audience_grown_by_more_than_a_quarter_counts_doublings_from_there(freezer):
    freezer.clock = clock = FakeClock(freezer.clock())
    freezer.start()
    base = freezer.frozen_after
    freezer.open_after = 100
    for _ in range(125):
        freezer.opened()
    grown = [[i] for i in range(base + 10)]
    gc.collect()
    clock.now += garbage.SIZE_EVERY
    assert freezer.due()  # 125 open: not a quarter more, so the doubling counts
    freezer.opened()  # 126: a quarter more than 100, and then some
    clock.now += garbage.SIZE_EVERY
    assert not freezer.due()
    assert freezer.open_after == 126 and freezer.frozen_after >= 2 * base  # the new base
    del grown


def test_the_default_is_off_only_where_the_collector_was_incremental():
    for version in [(3, 11, 7), (3, 13, 9), (3, 14, 5), (3, 15, 0)]:
        assert garbage.wanted(None, version)
    for version in [(3, 14, 0), (3, 14, 4)]:
        assert not garbage.wanted(None, version)
    assert garbage.wanted(True, (3, 14, 0)) and not garbage.wanted(False, (3, 11, 7))


@pytest.mark.django_db(transaction=True)
async def test_the_engine_goes_on_asking_after_a_failure(monkeypatch, caplog):
    monkeypatch.setattr(garbage, "STEP_EVERY", 0.01)
    monkeypatch.setattr(garbage, "CHECK_EVERY", 0.05)
    answers = iter([RuntimeError("a bug"), True])

    def due():
        answer = next(answers, False)
        if isinstance(answer, Exception):
            raise answer
        return answer

    caplog.set_level("DEBUG", logger="weatherstream.engine")
    with override_settings(WEATHERSTREAM={**get_config(), "GC_FREEZE": True}):
        engine = await get_engine()
        try:
            monkeypatch.setattr(engine.freezer, "due", due)
            done = engine.freezer.complete
            async with asyncio.timeout(5):
                while engine.freezer.complete == done:
                    await asyncio.sleep(0.05)
        finally:
            await stop_engine()
    assert "a garbage collection failed" in caplog.text
    assert "complete garbage collection: " in caplog.text  # how long, said by the engine


@pytest.mark.django_db(transaction=True)
async def test_the_engine_installs_it_counts_its_connections_and_collects_when_due(monkeypatch):
    monkeypatch.setattr(garbage, "STEP_EVERY", 0.01)
    monkeypatch.setattr(garbage, "CHECK_EVERY", 0.05)
    with override_settings(WEATHERSTREAM={**get_config(), "GC_FREEZE": True}):
        engine = await get_engine()
        try:
            freezer = engine.freezer
            assert freezer is not None and freezer.installed and gc.get_freeze_count() > 0
            comm = WebsocketCommunicator(application, "/ws/weather/", headers=ORIGIN)
            assert (await comm.connect())[0]
            assert (await comm.receive_json_from())["type"] == "hello"
            assert (freezer.open, freezer.closed_since) == (1, 0)
            await comm.disconnect()
            assert (freezer.open, freezer.closed_since) == (0, 1)
            done = freezer.complete
            monkeypatch.setattr(garbage, "CLOSES", 1)  # one close is enough now
            async with asyncio.timeout(5):
                while freezer.complete == done:  # the engine's task runs it
                    await asyncio.sleep(0.05)
            assert freezer.closed_since == 0
        finally:
            await stop_engine()
        assert not freezer.installed and gc.get_freeze_count() == 0


@pytest.mark.django_db(transaction=True)
async def test_off_by_setting():
    engine = await get_engine()  # tests/settings.py: GC_FREEZE False
    try:
        assert engine.freezer is None and gc.get_freeze_count() == 0
    finally:
        await stop_engine()


@pytest.mark.django_db(transaction=True)
async def test_the_engine_steps_every_step_every_and_on_after_a_failure(monkeypatch, caplog):
    monkeypatch.setattr(garbage, "STEP_EVERY", 0.01)
    monkeypatch.setattr(garbage, "CHECK_EVERY", 1000.0)  # steps only, no complete collection
    steps = []

    def step():
        steps.append(asyncio.get_running_loop().time())
        if len(steps) == 1:
            raise RuntimeError("a bug")

    with override_settings(WEATHERSTREAM={**get_config(), "GC_FREEZE": True}):
        engine = await get_engine()
        try:
            monkeypatch.setattr(engine.freezer, "step", step)
            async with asyncio.timeout(5):
                while len(steps) < 10:
                    await asyncio.sleep(0.01)
        finally:
            await stop_engine()
    assert "a garbage collection failed" in caplog.text
    assert all(later - earlier >= 0.009 for earlier, later in zip(steps, steps[1:])), "one per STEP_EVERY"

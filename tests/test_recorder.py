"""Readings survive a database outage: kept, bounded, written when it answers again."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError

from weatherstream import recorder as recorder_module
from weatherstream import services
from weatherstream.geocoding import get_geocoder
from weatherstream.models import Observation
from weatherstream.readings import Reading
from weatherstream.recorder import Recorder

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def reading(minute: int, temperature: float = 1.0) -> Reading:
    return Reading(observed_at=T0 + timedelta(minutes=minute), source="open-meteo", temperature=temperature)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(recorder_module, "RETRY_FIRST", 0.05)
    monkeypatch.setattr(recorder_module, "RETRY_MAX", 0.1)


async def wait_until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.mark.django_db(transaction=True)
async def test_a_locked_sqlite_database_loses_nothing_and_logs_two_lines(monkeypatch, caplog):
    place = get_geocoder().resolve("Oslo")
    real = services.observations_store
    failures = {"left": 4}

    def locked_for_a_while(**kwargs):
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError("database is locked")
        return real(**kwargs)

    monkeypatch.setattr(services, "observations_store", locked_for_a_while)
    recorder = Recorder(limit=100)
    caplog.set_level(logging.WARNING, logger="weatherstream.recorder")
    try:
        assert await recorder.record([(place, reading(0))]) is False
        for minute in (15, 30, 45):
            await recorder.record([(place, reading(minute))])
        await wait_until(lambda: not recorder.pending and failures["left"] == 0)
    finally:
        await recorder.close()
    stored = await asyncio.to_thread(
        lambda: list(Observation.objects.order_by("observed_at").values_list("observed_at", flat=True))
    )
    assert stored == [T0 + timedelta(minutes=m) for m in (0, 15, 30, 45)]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "storing observations failed (OperationalError: database is locked)" in messages[0]
    assert messages[1].startswith("storage is back: wrote 4 buffered observation(s)")
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


class Database:
    """A store that refuses while ``down``, and keeps each batch it is given."""

    def __init__(self) -> None:
        self.down = True
        self.batches: list[list] = []

    async def __call__(self, items: list) -> None:
        if self.down:
            raise OperationalError("connection refused")
        self.batches.append(items)


PLACE = type("P", (), {"id": "x"})()


async def test_the_buffer_is_bounded_and_counts_what_it_dropped():
    database = Database()
    recorder = Recorder(limit=3, store=database)
    try:
        for minute in range(5):
            await recorder.record([(PLACE, reading(minute))])
        assert len(recorder.pending) == 3 and recorder.dropped == 2
        database.down = False
        await wait_until(lambda: not recorder.pending)
    finally:
        await recorder.close()
    stored = [r for batch in database.batches for _, r in batch]
    assert [r.observed_at.minute for r in stored] == [2, 3, 4]  # the newest kept, in order


async def test_a_reading_recorded_twice_while_down_is_written_once():
    database = Database()
    recorder = Recorder(limit=10, store=database)
    try:
        await recorder.record([(PLACE, reading(0, 1.0))])
        await recorder.record([(PLACE, reading(0, 1.0))])
        database.down = False
        await wait_until(lambda: not recorder.pending)
    finally:
        await recorder.close()
    assert sum(len(batch) for batch in database.batches) == 1


async def test_a_cancelled_database_call_lets_its_thread_finish_first():
    import time

    from weatherstream.recorder import uninterrupted

    finished = []

    def slow_write():  # e.g. a DELETE under way when the engine stops
        time.sleep(0.3)
        finished.append(True)

    call = asyncio.create_task(uninterrupted(asyncio.to_thread(slow_write)))
    await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(call, 5)
    assert finished == [True]  # nothing writes after a stop has returned

import asyncio

import pytest

from weatherstream.flights import shared


async def settle():
    """Let every ready task run its next steps (a few turns of the loop)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_concurrent_callers_of_one_key_share_one_run_and_the_key_is_freed():
    runs = {}
    started = []
    gate = asyncio.Event()

    async def start(key):
        started.append(key)
        await gate.wait()

    waiters = [asyncio.create_task(shared(runs, "a", lambda: start("a"))) for _ in range(3)]
    other = asyncio.create_task(shared(runs, "b", lambda: start("b")))
    await settle()
    assert started == ["a", "b"]
    assert set(runs) == {"a", "b"}
    gate.set()
    await asyncio.wait_for(asyncio.gather(*waiters, other), 2)
    assert runs == {}  # done: the next caller starts a new run
    await asyncio.wait_for(shared(runs, "a", lambda: start("a")), 2)
    assert started == ["a", "b", "a"] and runs == {}


async def test_a_cancelled_caller_does_not_cancel_the_run_the_others_wait_on():
    runs = {}
    gate = asyncio.Event()
    finished = []

    async def start():
        await gate.wait()
        finished.append(True)

    first = asyncio.create_task(shared(runs, "k", start))
    second = asyncio.create_task(shared(runs, "k", start))
    await settle()
    first.cancel()
    await settle()
    assert first.cancelled() and not runs["k"].done()
    gate.set()
    await asyncio.wait_for(second, 2)
    assert finished == [True] and runs == {}


async def test_the_runs_error_reaches_every_caller():
    runs = {}

    async def start():
        await asyncio.sleep(0)
        raise LookupError("upstream said no")

    results = await asyncio.gather(*(shared(runs, "k", start) for _ in range(2)), return_exceptions=True)
    assert [type(r) for r in results] == [LookupError, LookupError]
    assert runs == {}
    with pytest.raises(LookupError):
        await shared(runs, "k", start)

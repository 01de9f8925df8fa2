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


async def test_next_run_callers_during_a_run_share_the_next_which_begins_after_it():
    from weatherstream.flights import NextRun

    runs, begun, gates = NextRun(), [], [asyncio.Event(), asyncio.Event()]

    async def start():
        n = len(begun)
        begun.append(n)
        await gates[n].wait()
        return n

    first = [asyncio.create_task(runs("k", start)) for _ in range(2)]
    await settle()
    assert begun == [0]
    second = [asyncio.create_task(runs("k", start)) for _ in range(3)]  # asked after run 0 began
    await settle()
    assert begun == [0], "the next waits for the one under way"
    gates[0].set()
    assert await asyncio.wait_for(asyncio.gather(*first), 2) == [0, 0]
    await settle()
    assert begun == [0, 1]
    gates[1].set()
    assert await asyncio.wait_for(asyncio.gather(*second), 2) == [1, 1, 1]


async def test_next_run_errors_reach_their_callers_and_a_cancelled_caller_cancels_nothing():
    from weatherstream.flights import NextRun

    runs, gate = NextRun(), asyncio.Event()

    async def failing():
        await gate.wait()
        raise LookupError("the database is down")

    a, b = asyncio.create_task(runs("k", failing)), asyncio.create_task(runs("k", failing))
    await settle()
    a.cancel()
    gate.set()
    with pytest.raises(LookupError):
        await asyncio.wait_for(b, 2)
    assert a.cancelled()
    assert await asyncio.wait_for(runs("k", _answer), 2) == 42, "a later caller gets a run of its own"


async def _answer():
    return 42


async def test_next_run_cancelled_before_it_began_does_not_stick():
    """At shutdown a run can be cancelled before its first step: the next caller gets a
    run of its own, not the cancelled one."""
    from weatherstream.flights import NextRun

    runs = NextRun()
    waiting = asyncio.get_running_loop().create_future()
    first = asyncio.create_task(runs("k", lambda: waiting))  # under way until `waiting`
    await settle()
    second = asyncio.create_task(runs("k", _answer))
    await asyncio.sleep(0)  # the second asked: its run is made, not begun
    runs._waiting["k"].cancel()  # as a loop shutting down would
    await settle()
    with pytest.raises(asyncio.CancelledError):
        await second
    waiting.set_result(7)
    assert await asyncio.wait_for(first, 2) == 7
    assert await asyncio.wait_for(runs("k", _answer), 2) == 42

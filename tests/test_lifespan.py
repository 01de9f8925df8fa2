"""ASGI lifespan: the server's startup starts this process's engine, its shutdown stops it."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import stop_engine
from weatherstream import engine as engine_module
from weatherstream.engine import get_engine
from weatherstream.lifespan import lifespan

pytestmark = pytest.mark.django_db(transaction=True)

SCOPE = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}


@pytest.fixture(autouse=True)
async def engine_per_test():
    yield
    await stop_engine()


def engine_tasks() -> set[str]:
    """The names of the engine's tasks running in this loop."""
    names = {t.get_name() for t in asyncio.all_tasks() if not t.done()}
    return {n for n in names if n.startswith("weatherstream-")}


class Server:
    """The server's side of the lifespan protocol: what it sends, what it was answered."""

    def __init__(self):
        self.inbox: asyncio.Queue[dict] = asyncio.Queue()
        self.answers: list[dict] = []
        self.answered = asyncio.Event()

    async def receive(self):
        return await self.inbox.get()

    async def send(self, message):
        self.answers.append(message)
        self.answered.set()

    async def say(self, kind: str) -> dict:
        """Send ``lifespan.<kind>``; the answer to it."""
        self.answered.clear()
        await self.inbox.put({"type": f"lifespan.{kind}"})
        await asyncio.wait_for(self.answered.wait(), 10)
        return self.answers[-1]


async def test_startup_starts_the_engine_and_shutdown_stops_it():
    server = Server()
    app = asyncio.create_task(lifespan(SCOPE, server.receive, server.send))
    assert await server.say("startup") == {"type": "lifespan.startup.complete"}
    assert engine_tasks() == {"weatherstream-poller", "weatherstream-sweep", "weatherstream-watchers"}
    engine = await get_engine()
    assert not app.done(), "the application waits for the shutdown"
    assert await server.say("shutdown") == {"type": "lifespan.shutdown.complete"}
    await asyncio.wait_for(app, 5)  # and returns
    assert engine_tasks() == set(), "the engine's tasks are stopped"
    assert server.answers == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    again = await get_engine()
    assert again is not engine, "a new start after a shutdown gets an engine of its own"


async def test_the_engine_started_at_startup_is_the_one_get_engine_returns(monkeypatch):
    started = []
    real_start = engine_module.Engine.start

    async def start(self):
        started.append(self)
        await real_start(self)

    monkeypatch.setattr(engine_module.Engine, "start", start)
    server = Server()
    app = asyncio.create_task(lifespan(SCOPE, server.receive, server.send))
    await server.say("startup")
    assert [await get_engine()] == started  # started once, at startup
    await server.say("shutdown")
    await asyncio.wait_for(app, 5)


async def test_a_failing_start_is_reported_to_the_server(monkeypatch, caplog):
    async def start(self):
        raise RuntimeError("no geocoder index")

    monkeypatch.setattr(engine_module.Engine, "start", start)
    server = Server()
    app = asyncio.create_task(lifespan(SCOPE, server.receive, server.send))
    answer = await server.say("startup")
    assert answer == {"type": "lifespan.startup.failed", "message": "no geocoder index"}
    await asyncio.wait_for(app, 5)  # it returns: the server does not start
    assert [r.getMessage() for r in caplog.records if r.name == "weatherstream.lifespan"] == [
        "weatherstream failed to start"
    ]
    monkeypatch.undo()  # the cause is gone: the next use starts the engine anew
    await get_engine()
    assert "weatherstream-sweep" in engine_tasks()

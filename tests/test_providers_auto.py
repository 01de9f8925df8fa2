import logging

import httpx
import pytest

from tests.conftest import load_fixture
from weatherstream.places import Place
from weatherstream.providers import ProviderError
from weatherstream.providers.auto import AutoProvider
from weatherstream.providers.openmeteo import OpenMeteoProvider
from weatherstream.providers.simulated import SimulatedProvider

PLACE = Place("2756071", 52.21833, 6.89583)


class Network:
    def __init__(self):
        self.up = False
        self.calls = 0

    def __call__(self, request):
        self.calls += 1
        if not self.up:
            raise httpx.ConnectError("[Errno 101] Network is unreachable", request=request)
        return httpx.Response(200, json=load_fixture("open-meteo/forecast_current.json"))


def make(network, clock):
    return AutoProvider(
        OpenMeteoProvider(transport=httpx.MockTransport(network)),
        SimulatedProvider(),
        reprobe_after=300,
        clock=clock,
    )


async def test_falls_back_to_marked_simulated_readings_and_recovers(caplog):
    network, now = Network(), [0.0]
    provider = make(network, lambda: now[0])
    with caplog.at_level(logging.WARNING):
        [reading] = await provider.fetch([PLACE])
    assert reading.source == "simulated"
    assert provider.degraded
    assert "SIMULATED" in caplog.text

    # Within the re-probe period the upstream is not asked again.
    now[0] = 100
    await provider.fetch([PLACE])
    assert network.calls == 1

    network.up = True
    now[0] = 301
    [reading] = await provider.fetch([PLACE])
    assert reading.source == "open-meteo"
    assert not provider.degraded
    await provider.aclose()


async def test_an_error_answer_is_not_replaced_by_fake_weather():
    def broken(request):
        return httpx.Response(503)

    provider = AutoProvider(OpenMeteoProvider(transport=httpx.MockTransport(broken)), SimulatedProvider())
    with pytest.raises(ProviderError, match="503"):
        await provider.fetch([PLACE])
    assert not provider.degraded
    await provider.aclose()


async def test_source_names_the_provider_in_use():
    network, now = Network(), [0.0]
    provider = make(network, lambda: now[0])
    assert provider.source == "open-meteo"
    await provider.fetch([PLACE])
    assert provider.source == "simulated"
    await provider.aclose()

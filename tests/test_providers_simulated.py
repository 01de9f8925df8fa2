from datetime import UTC, datetime

from weatherstream.places import Place
from weatherstream.providers.simulated import SimulatedProvider, simulate, solar_elevation

BERLIN = (52.52, 13.405)
SYDNEY = (-33.87, 151.21)


def ts(*args):
    return datetime(*args, tzinfo=UTC).timestamp()


def test_deterministic_and_marked_simulated():
    a = simulate(*BERLIN, ts(2026, 7, 1, 12))
    b = simulate(*BERLIN, ts(2026, 7, 1, 12))
    assert a == b
    assert a.source == "simulated"
    assert a.observed_at == datetime(2026, 7, 1, 12, tzinfo=UTC)


def test_seasons_follow_the_hemisphere():
    def mean(lat, lon, month):
        return sum(
            simulate(lat, lon, ts(2026, month, d, h)).temperature
            for d in range(1, 29)
            for h in range(0, 24, 3)
        ) / (28 * 8)

    assert mean(*BERLIN, 7) > mean(*BERLIN, 1) + 10
    assert mean(*SYDNEY, 1) > mean(*SYDNEY, 7) + 5
    assert mean(1.3, 103.8, 1) > mean(*BERLIN, 1) + 20  # the tropics are warm


def test_afternoon_warmer_than_dawn_in_solar_time():
    afternoon = [simulate(*BERLIN, ts(2026, 5, d, 14)).temperature for d in range(1, 29)]
    dawn = [simulate(*BERLIN, ts(2026, 5, d, 3)).temperature for d in range(1, 29)]
    assert sum(afternoon) / 28 > sum(dawn) / 28 + 5


def test_is_day_follows_the_sun():
    assert simulate(*BERLIN, ts(2026, 6, 21, 11)).is_day is True
    assert simulate(*BERLIN, ts(2026, 6, 21, 23)).is_day is False
    assert solar_elevation(0, 0, ts(2026, 3, 20, 12)) > 80


def test_values_plausible_and_smooth():
    prev = None
    for second in range(0, 7200, 7):
        r = simulate(*BERLIN, ts(2026, 11, 24, 6) + second)
        assert -40 < r.temperature < 45
        assert 0 <= r.humidity <= 100 and 0 <= r.cloud_cover <= 100
        assert 0 <= r.wind_direction < 360 and r.wind_gusts >= r.wind_speed >= 0
        assert 950 < r.pressure < 1060
        assert r.weather_code in {0, 1, 2, 3, 61, 63, 65, 71, 73, 75}
        if prev is not None:
            assert abs(r.temperature - prev.temperature) < 0.5  # no jumps between seconds
        prev = r


async def test_provider_uses_its_clock_for_every_place():
    provider = SimulatedProvider(clock=lambda: ts(2026, 1, 1, 0))
    readings = await provider.fetch([Place("a", *BERLIN), Place("b", *SYDNEY)])
    assert [r.observed_at for r in readings] == [datetime(2026, 1, 1, tzinfo=UTC)] * 2
    assert readings[0].temperature != readings[1].temperature

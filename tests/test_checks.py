import re
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from weatherstream import checks
from weatherstream.checks import RULES
from weatherstream.conf import DEFAULTS, get_config

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def messages(setting):
    with override_settings(WEATHERSTREAM=setting):
        return sorted(
            (m for m in run_checks() if (m.id or "").startswith("weatherstream")), key=lambda m: (m.id, m.msg)
        )


def ids(**config):
    return [m.id for m in messages(config)]


# Per key: values its check refuses, and the id it refuses them with.
BAD: dict[str, tuple[str, list[Any]]] = {
    "PROVIDER": (
        "weatherstream.E001",
        ["no.such.Provider", "weatherstream.conf.get_config", 5, None, [], ["simulated", "nope"]],
    ),
    "POLL_INTERVAL": ("weatherstream.E002", [0, -1, "fast", True, float("nan"), float("inf")]),
    "OPEN_METEO_URL": (
        "weatherstream.E011",
        ["ftp://example.com/v1/forecast", "api.open-meteo.com/v1/forecast", "https://", None],
    ),
    "OPEN_METEO_GEOCODING_URL": ("weatherstream.E011", ["geocoding", 1, "http://[::1"]),
    "OPEN_METEO_PARAMS": (
        "weatherstream.E012",
        [None, [("apikey", "x")], {"apikey": None}, {"apikey": True}, {1: "x"}],
    ),
    "MET_NORWAY_USER_AGENT": ("weatherstream.E036", [5, ["admin@example.org"], b"admin@example.org"]),
    "MET_NORWAY_URL": (
        "weatherstream.E011",
        ["api.met.no/weatherapi/locationforecast/2.0/compact", "ftp://api.met.no/x", None],
    ),
    "ONLINE_GEOCODING": ("weatherstream.E013", ["yes", 0, 1]),
    "GEOCODERS": ("weatherstream.E034", ["offline", [1], {"offline": 1}]),
    "HTTP_TIMEOUT": ("weatherstream.E014", [-1, 0, "10", True, None]),
    "BREAKER_FAILURES": ("weatherstream.E015", [0, 2.5, True, "5"]),
    "BREAKER_COOLDOWN": ("weatherstream.E016", [0, -1, None]),
    "UPSTREAM_BUDGET": ("weatherstream.E006", [{"week": 5}, {"minute": 0}, [600], {}, {"minute": True}]),
    "BATCH_SIZE": ("weatherstream.E017", [0, True, 2.0, "50"]),
    "POLLER": ("weatherstream.E003", ["sometimes", None, "EMBEDDED"]),
    "DEMAND_HEARTBEAT": ("weatherstream.E005", [0, "often"]),
    "LEADER_LEASE": ("weatherstream.E005", [0, -2.5, None]),
    "REDIS_URL": (
        "weatherstream.E018",
        ["http://127.0.0.1:6379", "127.0.0.1:6379", "", 6379, "redis://", "unix://"],
    ),
    "DEMAND_GRACE": ("weatherstream.E019", [-1, "60", None]),
    "RETENTION_DAYS": ("weatherstream.E020", [-1, 0, "7", None]),
    "MAX_MESSAGE_BYTES": ("weatherstream.E021", ["big", 0, 255, True, 4096.0]),
    "MAX_CONNECTIONS_PER_ADDRESS": ("weatherstream.E022", [0, -1, True, "100"]),
    "REQUIRE_LOGIN": ("weatherstream.E023", [1, "yes", None]),
    "GC_FREEZE": ("weatherstream.E046", [1, "yes", 0]),
    "MAX_SUBSCRIPTIONS": ("weatherstream.E024", [0, True, "50"]),
    "MESSAGES_PER_SECOND": ("weatherstream.E025", [0, -1.0, "10"]),
    "MESSAGE_BURST": ("weatherstream.E026", [0, 1.5, True]),
    "RATE_LIMIT_CLOSE_AFTER": ("weatherstream.E027", [0, None]),
    "SEND_BUFFER_BYTES": ("weatherstream.E028", [1023, 0, "1MB"]),
    "MAX_CITY_LENGTH": ("weatherstream.E029", [0, True]),
    "HISTORY_LIMIT": ("weatherstream.E030", [0, -5, "all"]),
    "RESUME_LIMIT": ("weatherstream.E044", [0, -1, "500", None, 2.5]),
    "WATCHERS_EVERY": ("weatherstream.E045", [0, -1, "5", None]),
    "STORAGE_BUFFER": ("weatherstream.E031", [0, None, "10000"]),
    "NEW_PLACES_PER_HOUR": ("weatherstream.E032", [0, True, "100"]),
    "SILENCE_AFTER": ("weatherstream.E033", [0, -5, "60", True]),
    "FORECAST_INTERVAL": ("weatherstream.E037", [0, -1, "3600", True]),
    "OPEN_METEO_FORECAST_MODELS": ("weatherstream.E038", [[], "dwd_icon", [""], [1], None]),
    "STATION_SILENCE_AFTER": ("weatherstream.E039", [0, -1, "300", None, True]),
    "STATION_MIN_INTERVAL": ("weatherstream.E040", [-1, 2.5, "10", None, True]),
    "STATION_AUTH_FAILURES": ("weatherstream.E041", ["often", "", "0/minute", "10/minute;50/day", 10, None]),
    "STATION_MAX_BODY_BYTES": ("weatherstream.E042", [1023, 0, "16k", None]),
    "STATION_ECOWITT_PATH": ("weatherstream.E043", ["/data/report/", "", None, 5, "data/\nreport/"]),
}

# Per key: values other than the default that pass.
GOOD: dict[str, list[Any]] = {
    "PROVIDER": ["simulated", "open-meteo", "weatherstream.providers.simulated.SimulatedProvider"],
    "POLL_INTERVAL": [900, 60.5],
    "OPEN_METEO_URL": ["http://127.0.0.1:8080/v1/forecast"],
    "OPEN_METEO_GEOCODING_URL": ["http://[::1]:8080/v1/search"],
    "OPEN_METEO_PARAMS": [{"apikey": "x", "forecast_days": 1}],
    # "" passes while no provider in use is met-norway ("auto" then leaves it out).
    "MET_NORWAY_USER_AGENT": ["weather.example.org admin@example.org", ""],
    "MET_NORWAY_URL": ["http://127.0.0.1:8080/weatherapi/locationforecast/2.0/compact"],
    "ONLINE_GEOCODING": [True, False],
    "GEOCODERS": [None, [], ["offline"], ["weatherstream.geocoding.openmeteo.OpenMeteoGeocoder", "offline"]],
    "HTTP_TIMEOUT": [0.5, 30],
    "BREAKER_FAILURES": [1],
    "BREAKER_COOLDOWN": [0.1, 300],
    "UPSTREAM_BUDGET": [None, {"day": 10000}],
    "BATCH_SIZE": [1, 300],  # 300 Open-Meteo locations' forecasts: 600 calls of the 600 a minute
    "POLLER": ["embedded"],
    "DEMAND_HEARTBEAT": [0.2, 30],
    "LEADER_LEASE": [2.5, 60],
    "REDIS_URL": [
        "redis://127.0.0.1:6379/0",
        "rediss://user:pass@redis.example:6380",
        "unix:///run/redis.sock",
    ],
    "DEMAND_GRACE": [0, 0.5],
    "RETENTION_DAYS": [0.5, 30],
    "MAX_MESSAGE_BYTES": [256, 65536],
    "MAX_CONNECTIONS_PER_ADDRESS": [None, 1],
    "REQUIRE_LOGIN": [True],
    "GC_FREEZE": [False, True, None],
    "MAX_SUBSCRIPTIONS": [1, 1000],
    "MESSAGES_PER_SECOND": [0.5, 1e9],
    "MESSAGE_BURST": [1],
    "RATE_LIMIT_CLOSE_AFTER": [1],
    "SEND_BUFFER_BYTES": [1024],
    "MAX_CITY_LENGTH": [1],
    "HISTORY_LIMIT": [1],
    "RESUME_LIMIT": [1, 10000],
    "WATCHERS_EVERY": [0.5, 60],
    "STORAGE_BUFFER": [1],
    "NEW_PLACES_PER_HOUR": [None, 1],
    "SILENCE_AFTER": [None, 0.5, 3600],
    "FORECAST_INTERVAL": [None, 3600, 7200.0],
    "OPEN_METEO_FORECAST_MODELS": [["dwd_icon"], ("ecmwf_ifs025", "ncep_gfs025")],
    "STATION_SILENCE_AFTER": [60, 0.5],
    "STATION_MIN_INTERVAL": [0, 60],
    "STATION_AUTH_FAILURES": ["5/second", "100 per hour"],
    "STATION_MAX_BODY_BYTES": [1024],
    "STATION_ECOWITT_PATH": ["ecowitt", "weather/upload/"],
}


def test_default_configuration_is_clean():
    assert ids() == []
    assert ids(PROVIDER="simulated", POLL_INTERVAL=1) == []
    assert ids(**DEFAULTS) == []


def test_every_key_has_a_rule_and_a_test_here():
    assert set(RULES) == set(DEFAULTS)
    assert set(BAD) == set(DEFAULTS)
    assert set(GOOD) == set(DEFAULTS)


@pytest.mark.parametrize(
    ("key", "value", "id"),
    [(key, value, id) for key, (id, values) in BAD.items() for value in values],
)
def test_a_bad_value_is_an_error_naming_the_key_with_a_hint(key, value, id):
    [problem] = messages({key: value})
    assert problem.id == id
    assert key in problem.msg
    assert problem.hint


@pytest.mark.parametrize(("key", "value"), [(key, value) for key, values in GOOD.items() for value in values])
def test_a_valid_value_passes(key, value):
    assert ids(**{key: value}) == []


def test_true_is_not_an_integer_here():
    assert ids(BATCH_SIZE=True) == ["weatherstream.E017"]
    assert ids(MAX_SUBSCRIPTIONS=1) == []


def test_a_bad_value_is_shown_but_not_a_value_that_may_hold_a_secret():
    [problem] = messages({"MAX_MESSAGE_BYTES": "big"})
    assert "'big'" in problem.msg
    [problem] = messages({"REDIS_URL": "http://:hunter2@127.0.0.1:6379"})
    assert "hunter2" not in problem.msg + problem.hint
    [problem] = messages({"OPEN_METEO_PARAMS": {"apikey": ["hunter2"]}})
    assert "hunter2" not in problem.msg + problem.hint


@pytest.mark.parametrize("setting", [["PROVIDER", "simulated"], "simulated", 5])
def test_a_setting_that_is_not_a_dict_is_an_error_not_a_traceback(setting):
    [problem] = messages(setting)
    assert problem.id == "weatherstream.E008"
    assert type(setting).__name__ in problem.msg
    assert problem.hint
    with override_settings(WEATHERSTREAM=setting):
        assert get_config() == DEFAULTS


def test_no_setting_at_all_is_the_defaults():
    assert messages(None) == []


def test_a_key_in_the_wrong_case_is_an_error_naming_the_right_key():
    [problem] = messages({"provider": "simulated"})
    assert problem.id == "weatherstream.E009"
    assert "did you mean 'PROVIDER'?" in problem.msg
    assert "'PROVIDER'" in problem.hint
    with override_settings(WEATHERSTREAM={"provider": "simulated"}):
        assert get_config()["PROVIDER"] == "auto"  # ignored: why it is an error


@pytest.mark.parametrize("key", ["POLL_INTERVALL", "poll_intervall", "POLL_INTERVALS"])
def test_a_near_miss_key_is_a_warning_naming_the_right_key(key):
    [problem] = messages({key: 5})
    assert problem.id == "weatherstream.W001"
    assert "did you mean 'POLL_INTERVAL'?" in problem.msg
    assert "'POLL_INTERVAL'" in problem.hint


def test_an_unknown_key_is_a_warning_listing_the_known_keys():
    [problem] = messages({"COLOUR_SCHEME": "dark"})
    assert problem.id == "weatherstream.W001"
    assert "did you mean" not in problem.msg
    assert all(key in problem.hint for key in DEFAULTS)


def test_unknown_provider():
    assert ids(PROVIDER="no.such.Provider") == ["weatherstream.E001"]
    assert ids(PROVIDER="weatherstream.conf.get_config") == ["weatherstream.E001"]


def test_each_geocoder_is_checked():
    [problem] = messages({"GEOCODERS": ["offline", "no.such.Geocoder"]})
    assert problem.id == "weatherstream.E035"
    assert "WEATHERSTREAM['GEOCODERS'][1] = 'no.such.Geocoder'" in problem.msg
    assert ids(GEOCODERS=["weatherstream.providers.simulated.SimulatedProvider"]) == ["weatherstream.E035"]


def test_a_list_of_providers_is_a_chain_checked_entry_by_entry():
    [problem] = messages({"PROVIDER": ["simulated", "no.such.Provider"]})
    assert problem.id == "weatherstream.E001"
    assert "WEATHERSTREAM['PROVIDER'][1] = 'no.such.Provider'" in problem.msg
    assert ids(PROVIDER=["open-meteo", "auto"]) == []
    assert ids(PROVIDER=("simulated",)) == []
    # The interval is checked against the strictest entry's floor ("auto": Open-Meteo's).
    assert ids(PROVIDER=["simulated", "auto"], POLL_INTERVAL=5) == ["weatherstream.W002"]
    assert ids(PROVIDER=["simulated"], POLL_INTERVAL=5) == []


@pytest.mark.parametrize(
    ("provider", "user_agent", "problem"),
    [
        ("met-norway", None, "is not set"),
        ("met-norway", "", "is not set"),
        ("met-norway", "  ", "is blank"),
        ("met-norway", "MyWeatherApp/1.0", "names no contact"),
        (["open-meteo", "met-norway"], None, "is not set"),
        ("weatherstream.providers.metno.MetNorwayProvider", "MyWeatherApp/1.0", "names no contact"),
        ("auto", "MyWeatherApp/1.0", "names no contact"),  # auto runs met-norway once it is set
    ],
)
def test_met_norway_needs_a_user_agent_naming_a_contact(provider, user_agent, problem):
    [error] = messages({"PROVIDER": provider, "MET_NORWAY_USER_AGENT": user_agent})
    assert error.id == "weatherstream.E036"
    assert "MET_NORWAY_USER_AGENT" in error.msg and problem in error.msg
    assert "contact" in error.hint


@pytest.mark.parametrize(
    "user_agent",
    [
        "weather.example.org admin@example.org",
        "WeatherApp/1.0 https://weather.example.org",
        "AcmeWeatherApp/0.9 github.com/acmeweatherapp",
    ],
)
def test_met_norway_with_a_contact_passes(user_agent):
    assert ids(PROVIDER="met-norway", MET_NORWAY_USER_AGENT=user_agent) == []


def test_no_user_agent_is_needed_without_met_norway():
    assert ids(PROVIDER="open-meteo", MET_NORWAY_USER_AGENT=None) == []
    assert ids(PROVIDER="simulated", MET_NORWAY_USER_AGENT="no contact") == []


def test_bad_interval():
    assert ids(POLL_INTERVAL=0) == ["weatherstream.E002"]
    assert ids(POLL_INTERVAL="fast") == ["weatherstream.E002"]


def test_interval_below_public_open_meteo_floor_warns_but_not_for_a_custom_url():
    assert ids(PROVIDER="open-meteo", POLL_INTERVAL=5) == ["weatherstream.W002"]
    assert ids(PROVIDER="auto", POLL_INTERVAL=5) == ["weatherstream.W002"]
    assert (
        ids(PROVIDER="open-meteo", POLL_INTERVAL=5, OPEN_METEO_URL="http://127.0.0.1:8080/v1/forecast") == []
    )
    assert ids(PROVIDER="simulated", POLL_INTERVAL=1) == []


def test_unknown_key_and_bad_poller_mode():
    assert ids(POLL_INTERVALL=5) == ["weatherstream.W001"]
    assert ids(POLLER="sometimes") == ["weatherstream.E003"]


def test_separate_poller_needs_a_shared_layer():
    assert ids(POLLER="off") == ["weatherstream.E004"]
    with override_settings(CHANNEL_LAYERS={"default": {"BACKEND": "channels_redis.core.RedisChannelLayer"}}):
        assert ids(POLLER="off") == []


def test_lease_and_heartbeat_must_be_positive_seconds():
    assert ids(LEADER_LEASE=0) == ["weatherstream.E005"]
    assert ids(DEMAND_HEARTBEAT="often") == ["weatherstream.E005"]
    assert ids(LEADER_LEASE=2.5, DEMAND_HEARTBEAT=1) == []


def test_upstream_budget_shape_and_batch_size():
    assert ids(UPSTREAM_BUDGET={"week": 5}) == ["weatherstream.E006"]
    assert ids(UPSTREAM_BUDGET={"minute": 0}) == ["weatherstream.E006"]
    assert ids(UPSTREAM_BUDGET=[600]) == ["weatherstream.E006"]
    assert ids(UPSTREAM_BUDGET={"minute": 30}, BATCH_SIZE=50) == ["weatherstream.E007"]
    # 50 Open-Meteo locations cost 55 calls for readings (1.1 each), 100 for forecasts
    # (2.0 each): 99 a minute never lets a batch of their forecasts out
    assert ids(UPSTREAM_BUDGET={"minute": 55}, BATCH_SIZE=50) == ["weatherstream.E007"]
    assert ids(UPSTREAM_BUDGET={"minute": 99}, BATCH_SIZE=50) == ["weatherstream.E007"]
    assert ids(UPSTREAM_BUDGET={"minute": 100}, BATCH_SIZE=50) == []
    assert ids(PROVIDER="simulated", UPSTREAM_BUDGET={"minute": 30}, BATCH_SIZE=50) == []  # not metered
    assert ids(UPSTREAM_BUDGET=None) == []


def test_a_forecast_interval_below_an_hour_on_the_public_open_meteo_is_a_warning():
    assert ids(PROVIDER="open-meteo", FORECAST_INTERVAL=60) == ["weatherstream.W004"]
    assert ids(PROVIDER="auto", FORECAST_INTERVAL=3599) == ["weatherstream.W004"]
    assert ids(PROVIDER="open-meteo", FORECAST_INTERVAL=3600) == []
    assert (
        ids(PROVIDER="open-meteo", OPEN_METEO_URL="http://127.0.0.1:9/v1/forecast", FORECAST_INTERVAL=1) == []
    )
    assert ids(PROVIDER="simulated", FORECAST_INTERVAL=1) == []


def test_a_message_limit_above_the_servers_own_is_a_warning():
    assert ids(MAX_MESSAGE_BYTES=65537) == ["weatherstream.W003"]
    assert ids(MAX_MESSAGE_BYTES=65536) == []


def test_the_reference_lists_every_check_id():
    source = set(re.findall(r"weatherstream\.[EW]\d{3}", Path(checks.__file__).read_text()))
    documented = set(re.findall(r"^\| `(weatherstream\.[EW]\d{3})` \|", REFERENCE.read_text(), re.M))
    assert documented == source

from django.core.checks import run_checks
from django.test import override_settings


def ids(**config):
    with override_settings(WEATHERSTREAM=config):
        return sorted(m.id for m in run_checks() if m.id.startswith("weatherstream"))


def test_default_configuration_is_clean():
    assert ids(PROVIDER="simulated", POLL_INTERVAL=1) == []
    assert ids() == []


def test_unknown_provider():
    assert ids(PROVIDER="no.such.Provider") == ["weatherstream.E001"]
    assert ids(PROVIDER="weatherstream.conf.get_config") == ["weatherstream.E001"]


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
    assert ids(UPSTREAM_BUDGET=None) == []

import re
from pathlib import Path

import pytest
from django.test import override_settings

from weatherstream.conf import DEFAULTS, get_config, online_geocoding

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_user_settings_override_defaults_and_reset_under_override_settings():
    with override_settings(WEATHERSTREAM={"MAX_SUBSCRIPTIONS": 3}):
        config = get_config()
        assert config["MAX_SUBSCRIPTIONS"] == 3
        assert config["PROVIDER"] == DEFAULTS["PROVIDER"]
    assert get_config()["MAX_SUBSCRIPTIONS"] != 3


def test_every_setting_is_documented_in_the_reference_with_its_default():
    documented = dict(re.findall(r"^\| `([A-Z_]+)` \| `([^`]*)` \|", REFERENCE.read_text(), re.M))
    for key, default in DEFAULTS.items():
        assert key in documented, f"{key} is not in docs/settings.md"
        assert documented[key] == repr(default).replace("'", '"'), (key, documented[key])


@pytest.mark.parametrize(
    ("setting", "provider", "online"),
    [
        (None, "simulated", False),  # offline means offline
        (None, "auto", True),
        (None, "open-meteo", True),
        (True, "simulated", True),
        (False, "auto", False),
    ],
)
def test_online_geocoding_by_default_except_with_the_simulated_provider(setting, provider, online):
    assert online_geocoding({**DEFAULTS, "ONLINE_GEOCODING": setting, "PROVIDER": provider}) is online


def test_a_setting_that_is_not_a_dict_falls_back_to_the_defaults(caplog):
    with override_settings(WEATHERSTREAM=["PROVIDER", "simulated"]):
        assert get_config() == DEFAULTS
    assert "not a dict" in caplog.text

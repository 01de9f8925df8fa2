import re
from pathlib import Path

from django.test import override_settings

from weatherstream.conf import DEFAULTS, get_config

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

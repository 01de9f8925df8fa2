"""System checks: configuration mistakes found at ``manage.py check`` time."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .conf import DEFAULTS, get_config
from .providers import provider_class


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    config = get_config()
    problems: list[Any] = []
    for key in config["_unknown"]:
        problems.append(
            Warning(
                f"WEATHERSTREAM has an unknown key {key!r}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="weatherstream.W001",
            )
        )
    try:
        cls = provider_class(config["PROVIDER"])
    except ImproperlyConfigured as exc:
        problems.append(
            Error(
                str(exc),
                hint="Use 'auto', 'open-meteo', 'simulated' or a dotted path.",
                id="weatherstream.E001",
            )
        )
        return problems
    interval = config["POLL_INTERVAL"]
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
            problems.append(
                Error(
                    "WEATHERSTREAM['POLL_INTERVAL'] must be a positive number of seconds or None.",
                    id="weatherstream.E002",
                )
            )
        else:
            floor = cls.interval_floor(config)
            if interval < floor:
                problems.append(
                    Warning(
                        f"WEATHERSTREAM['POLL_INTERVAL'] = {interval} is below the provider's floor of "
                        f"{floor:g} s; {floor:g} s is used.",
                        hint="The public Open-Meteo API updates current data every 15 minutes; "
                        "a self-hosted OPEN_METEO_URL has no floor.",
                        id="weatherstream.W002",
                    )
                )
    for key in ("LEADER_LEASE", "DEMAND_HEARTBEAT"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            problems.append(
                Error(
                    f"WEATHERSTREAM[{key!r}] must be a positive number of seconds.",
                    id="weatherstream.E005",
                )
            )
    problems.extend(_budget(config))
    if config["POLLER"] not in ("embedded", "off"):
        problems.append(
            Error("WEATHERSTREAM['POLLER'] must be 'embedded' or 'off'.", id="weatherstream.E003")
        )
    elif config["POLLER"] == "off":
        backend = getattr(settings, "CHANNEL_LAYERS", {}).get("default", {}).get("BACKEND", "")
        if not backend or backend.endswith("InMemoryChannelLayer"):
            problems.append(
                Error(
                    "WEATHERSTREAM['POLLER'] is 'off' but no shared channel layer is configured, "
                    "so no poller can reach this process.",
                    hint="Configure CHANNEL_LAYERS with channels_redis, or use POLLER='embedded'.",
                    id="weatherstream.E004",
                )
            )
    return problems


def _budget(config: dict[str, Any]) -> list[Any]:
    budget = config["UPSTREAM_BUDGET"]
    if budget is None:
        return []
    periods = ("minute", "hour", "day")
    if (
        not isinstance(budget, dict)
        or not budget
        or any(k not in periods for k in budget)
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in budget.values())
    ):
        return [
            Error(
                "WEATHERSTREAM['UPSTREAM_BUDGET'] must be None or a dict of positive calls per "
                "'minute', 'hour' and/or 'day'.",
                id="weatherstream.E006",
            )
        ]
    if config["BATCH_SIZE"] > min(budget.values()):
        return [
            Error(
                f"WEATHERSTREAM['BATCH_SIZE'] ({config['BATCH_SIZE']}) is more than UPSTREAM_BUDGET "
                f"allows in one period ({min(budget.values())}): such a batch could never go out.",
                hint="Lower BATCH_SIZE or raise the budget.",
                id="weatherstream.E007",
            )
        ]
    return []

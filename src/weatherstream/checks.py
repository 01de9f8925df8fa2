"""System checks: configuration mistakes found at ``manage.py check`` time.

Every key of ``conf.DEFAULTS`` has one rule in :data:`RULES`: what its value must be and
the id of the error otherwise. The checks that need more than one key (or the provider
class) run after it, on keys whose own rule passed. docs/settings.md lists every id.
"""

from __future__ import annotations

import difflib
import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .budget import PERIODS
from .conf import DEFAULTS, get_config, user_settings
from .providers import ALIASES, AUTO, WeatherProvider, provider_class, provider_names
from .providers.metno import MetNorwayProvider, user_agent_problem

# uvicorn's --ws-max-size in `make run` (see the Makefile): bigger frames are refused unread.
WS_MAX_SIZE = 65536


@dataclass(frozen=True)
class Kind:
    """What a value must be: ``wants`` completes "must be ...", ``ok`` tests a value."""

    wants: str
    ok: Callable[[Any], bool]
    # False where a value may hold a credential (URLs, query parameters): it is not echoed.
    shown: bool = True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is not 1 here


def _is_number(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def positive(unit: str) -> Kind:
    return Kind(f"a positive number of {unit}", lambda v: _is_number(v) and v > 0)


def integer(minimum: int, unit: str = "") -> Kind:
    return Kind(f"an integer of at least {minimum} {unit}".rstrip(), lambda v: _is_int(v) and v >= minimum)


def optional(kind: Kind, meaning: str) -> Kind:
    return Kind(f"None ({meaning}) or {kind.wants}", lambda v: v is None or kind.ok(v), kind.shown)


def choice(*values: str) -> Kind:
    return Kind(f"one of {', '.join(map(repr, values))}", lambda v: isinstance(v, str) and v in values)


def url(*schemes: str) -> Kind:
    def ok(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            parts = urlsplit(value)
        except ValueError:  # e.g. an unclosed [IPv6] bracket
            return False
        host = parts.netloc or (parts.scheme == "unix" and parts.path)
        return parts.scheme in schemes and bool(host)

    return Kind(f"a URL starting with {' or '.join(s + '://' for s in schemes)}", ok, shown=False)


def _is_provider_setting(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return bool(value) and all(isinstance(name, str) for name in value)
    return isinstance(value, str)


def _is_budget(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(k in PERIODS and _is_int(v) and v >= 1 for k, v in value.items())
    )


def _is_params(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and (isinstance(v, str) or _is_number(v)) for k, v in value.items()
    )


SECONDS = positive("seconds")


def _is_rate(value: Any) -> bool:
    from limits import parse

    if not isinstance(value, str) or ";" in value or "," in value:  # one rate, not several
        return False
    try:
        return parse(value).amount > 0
    except ValueError:
        return False


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not value.startswith("/") and value.isprintable()


BOOL = Kind("True or False", lambda v: isinstance(v, bool))
HTTP_URL = url("http", "https")
MET_NORWAY_HINT = (
    "MET Norway's terms require a User-Agent naming your site and a contact (an e-mail address "
    "or a website), e.g. 'weather.example.org admin@example.org'; weatherstream appends its own name."
)


@dataclass(frozen=True)
class Rule:
    kind: Kind
    id: str
    hint: str = ""


RULES: dict[str, Rule] = {
    "PROVIDER": Rule(
        Kind("a provider alias, a dotted path, or a non-empty list of them", _is_provider_setting),
        "weatherstream.E001",
        f"Use one of {', '.join(map(repr, [AUTO, *ALIASES]))}, the dotted path of a WeatherProvider "
        "subclass, or a list of them (a chain, asked in order).",
    ),
    "POLL_INTERVAL": Rule(
        optional(SECONDS, "the provider's default"),
        "weatherstream.E002",
        "None polls at the provider's default: 900 s for Open-Meteo, 60 s simulated.",
    ),
    "OPEN_METEO_URL": Rule(HTTP_URL, "weatherstream.E011", "The forecast endpoint of an Open-Meteo."),
    "OPEN_METEO_GEOCODING_URL": Rule(
        HTTP_URL, "weatherstream.E011", "The geocoding endpoint of an Open-Meteo."
    ),
    "OPEN_METEO_PARAMS": Rule(
        Kind("a dict of query parameters, str names to str or number values", _is_params, shown=False),
        "weatherstream.E012",
        "For example {'apikey': '...'}; {} for none.",
    ),
    "MET_NORWAY_USER_AGENT": Rule(
        optional(Kind("a string naming your site and a contact", lambda v: isinstance(v, str)), "unset"),
        "weatherstream.E036",
        MET_NORWAY_HINT,
    ),
    "MET_NORWAY_URL": Rule(
        HTTP_URL, "weatherstream.E011", "The Locationforecast 2.0 compact endpoint of MET Norway."
    ),
    "ONLINE_GEOCODING": Rule(
        Kind("None, True or False", lambda v: v is None or isinstance(v, bool)),
        "weatherstream.E013",
        "None: online look-ups except with PROVIDER 'simulated'; True or False decide.",
    ),
    "GEOCODERS": Rule(
        optional(
            Kind(
                "a list of geocoder names",
                lambda v: isinstance(v, (list, tuple)) and all(isinstance(n, str) for n in v),
            ),
            "offline, then online when ONLINE_GEOCODING allows",
        ),
        "weatherstream.E034",
        "Aliases ('offline', 'open-meteo') or dotted paths of Geocoder subclasses, asked in turn.",
    ),
    "HTTP_TIMEOUT": Rule(SECONDS, "weatherstream.E014", "The total deadline of one upstream request."),
    "BREAKER_FAILURES": Rule(
        integer(1), "weatherstream.E015", "Failed upstream requests in a row that open the circuit."
    ),
    "BREAKER_COOLDOWN": Rule(SECONDS, "weatherstream.E016", "How long an open circuit waits to probe."),
    "UPSTREAM_BUDGET": Rule(
        optional(
            Kind(
                f"a dict of positive calls per {', '.join(map(repr, PERIODS))} (some of them)",
                _is_budget,
            ),
            "no budget",
        ),
        "weatherstream.E006",
        "None suits a self-hosted Open-Meteo.",
    ),
    "BATCH_SIZE": Rule(integer(1), "weatherstream.E017", "Locations in one upstream request."),
    "POLLER": Rule(
        choice("embedded", "off"),
        "weatherstream.E003",
        "'embedded' polls inside the server; 'off' needs `manage.py weatherstream_poll` beside it.",
    ),
    "DEMAND_HEARTBEAT": Rule(SECONDS, "weatherstream.E005"),
    "LEADER_LEASE": Rule(SECONDS, "weatherstream.E005"),
    "REDIS_URL": Rule(
        optional(url("redis", "rediss", "unix"), "the first host of a channels_redis layer"),
        "weatherstream.E018",
        "For example 'redis://127.0.0.1:6379/0'.",
    ),
    "DEMAND_GRACE": Rule(
        Kind("a number of seconds, 0 or more", lambda v: _is_number(v) and v >= 0),
        "weatherstream.E019",
        "How long a location nobody watches is still polled; 0 stops at once.",
    ),
    "RETENTION_DAYS": Rule(positive("days"), "weatherstream.E020", "Older observations are pruned."),
    "MAX_MESSAGE_BYTES": Rule(
        integer(256, "bytes"),
        "weatherstream.E021",
        "A smaller limit would refuse ordinary subscribe messages.",
    ),
    "MAX_CONNECTIONS_PER_ADDRESS": Rule(
        optional(integer(1), "no limit"), "weatherstream.E022", "Connections per client address."
    ),
    "REQUIRE_LOGIN": Rule(BOOL, "weatherstream.E023"),
    "GC_FREEZE": Rule(
        optional(BOOL, "on, except on Python 3.14.0-3.14.4"),
        "weatherstream.E046",
        "Freeze what survives full garbage collections.",
    ),
    "MAX_SUBSCRIPTIONS": Rule(integer(1), "weatherstream.E024", "Subscriptions one connection may hold."),
    "MESSAGES_PER_SECOND": Rule(
        positive("messages per second"), "weatherstream.E025", "Client messages a connection may send."
    ),
    "MESSAGE_BURST": Rule(integer(1), "weatherstream.E026", "Messages a connection may send at once."),
    "RATE_LIMIT_CLOSE_AFTER": Rule(
        integer(1), "weatherstream.E027", "Messages over the rate in a row before closing (4008)."
    ),
    "SEND_BUFFER_BYTES": Rule(
        integer(1024, "bytes"),
        "weatherstream.E028",
        "Bytes queued for a client that does not read; a smaller one closes clients at any hiccup.",
    ),
    "MAX_CITY_LENGTH": Rule(integer(1, "characters"), "weatherstream.E029"),
    "HISTORY_LIMIT": Rule(integer(1), "weatherstream.E030", "Rows one /api/history answer returns."),
    "RESUME_LIMIT": Rule(integer(1), "weatherstream.E044", "Readings one subscribe with 'since' replays."),
    "WATCHERS_EVERY": Rule(
        SECONDS, "weatherstream.E045", "Seconds between two 'watchers' frames of a place."
    ),
    "STORAGE_BUFFER": Rule(
        integer(1, "readings"), "weatherstream.E031", "Readings kept in memory while the database fails."
    ),
    "NEW_PLACES_PER_HOUR": Rule(
        optional(integer(1), "no limit"),
        "weatherstream.E032",
        "New places one client address may add an hour.",
    ),
    "SILENCE_AFTER": Rule(
        optional(SECONDS, "two poll intervals plus the provider's data resolution"),
        "weatherstream.E033",
        "Seconds without a new reading before a watched place is marked stale.",
    ),
    "FORECAST_INTERVAL": Rule(
        optional(SECONDS, "an hour"),
        "weatherstream.E037",
        "The least time between two forecast fetches of a place.",
    ),
    "OPEN_METEO_FORECAST_MODELS": Rule(
        Kind(
            "a list of Open-Meteo model names (e.g. 'dwd_icon')",
            lambda v: isinstance(v, (list, tuple)) and bool(v) and all(isinstance(m, str) and m for m in v),
        ),
        "weatherstream.E038",
        "The models whose update times (Open-Meteo's metadata API) say when forecasts change.",
    ),
    "STATION_SILENCE_AFTER": Rule(
        SECONDS, "weatherstream.E039", "Seconds without an upload before a station is marked stale."
    ),
    "STATION_MIN_INTERVAL": Rule(
        integer(0, "seconds"), "weatherstream.E040", "Least seconds between two uploads of a station."
    ),
    "STATION_AUTH_FAILURES": Rule(
        Kind("a rate in the limits notation, e.g. '10/minute'", _is_rate),
        "weatherstream.E041",
        "Wrong station keys one address may send; see https://limits.readthedocs.io (rate notation).",
    ),
    "STATION_MAX_BODY_BYTES": Rule(
        integer(1024, "bytes"), "weatherstream.E042", "The largest station upload; gateways send 1-2 KiB."
    ),
    "STATION_ECOWITT_PATH": Rule(
        Kind("a URL path without a leading '/', e.g. 'data/report/'", _is_path),
        "weatherstream.E043",
        "The path set on the Ecowitt gateway's customized upload, without the leading '/'.",
    ),
}


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    user = user_settings()
    if user is not None and not isinstance(user, Mapping):
        return [
            Error(
                f"settings.WEATHERSTREAM must be a dict, not a {type(user).__name__}; "
                "it is ignored and the defaults are used.",
                hint="WEATHERSTREAM = {'PROVIDER': 'auto', ...}: see docs/settings.md.",
                id="weatherstream.E008",
            )
        ]
    config = get_config()
    problems = _unknown_keys(user or {})
    valid = set()
    for key, rule in RULES.items():
        if rule.kind.ok(config[key]):
            valid.add(key)
        else:
            problems.append(_error(key, config[key], rule))
    if "PROVIDER" in valid:
        problems.extend(
            _provider(
                config,
                check_interval="POLL_INTERVAL" in valid,
                check_forecasts="FORECAST_INTERVAL" in valid,
            )
        )
    if {"PROVIDER", "MET_NORWAY_USER_AGENT"} <= valid:
        problems.extend(_met_norway(config))
    if "GEOCODERS" in valid and config["GEOCODERS"] is not None:
        problems.extend(_geocoders(config["GEOCODERS"]))
    if "POLLER" in valid:
        problems.extend(_poller(config))
    if {"BATCH_SIZE", "UPSTREAM_BUDGET", "PROVIDER"} <= valid:
        problems.extend(_batch(config))
    if "MAX_MESSAGE_BYTES" in valid and config["MAX_MESSAGE_BYTES"] > WS_MAX_SIZE:
        problems.append(
            Warning(
                f"WEATHERSTREAM['MAX_MESSAGE_BYTES'] = {config['MAX_MESSAGE_BYTES']} is above "
                f"{WS_MAX_SIZE}, the --ws-max-size `make run` gives uvicorn: it refuses bigger "
                "frames (1009) before they reach weatherstream.",
                hint=f"Use at most {WS_MAX_SIZE}, or raise the ASGI server's limit as well.",
                id="weatherstream.W003",
            )
        )
    return problems


def _error(key: str, value: Any, rule: Rule) -> Error:
    got = f", not {reprlib.repr(value)}" if rule.kind.shown else ""
    hint = f"{rule.hint} The default is {DEFAULTS[key]!r}; see docs/settings.md.".lstrip()
    return Error(f"WEATHERSTREAM[{key!r}] must be {rule.kind.wants}{got}.", hint=hint, id=rule.id)


def _unknown_keys(user: Mapping[Any, Any]) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    for key in sorted((k for k in user if k not in DEFAULTS), key=str):
        name = str(key).upper()
        if name in DEFAULTS:
            # Clearly meant, and silently ignored: an error, not a warning.
            problems.append(
                Error(
                    f"WEATHERSTREAM key {key!r} is ignored: did you mean {name!r}? Keys are upper case.",
                    hint=f"Rename {key!r} to {name!r}.",
                    id="weatherstream.E009",
                )
            )
            continue
        close = difflib.get_close_matches(name, DEFAULTS, n=1)
        problems.append(
            Warning(
                f"WEATHERSTREAM has an unknown key {key!r}, which is ignored"
                + (f"; did you mean {close[0]!r}?" if close else "."),
                hint=f"Rename it to {close[0]!r}."
                if close
                else f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="weatherstream.W001",
            )
        )
    return problems


def _geocoders(names: list[str]) -> list[CheckMessage]:
    from .geocoding.base import geocoder_class

    problems: list[CheckMessage] = []
    for i, name in enumerate(names):
        try:
            geocoder_class(name)
        except ImproperlyConfigured as exc:
            problems.append(
                Error(
                    f"WEATHERSTREAM['GEOCODERS'][{i}] = {name!r} is not a geocoder: {exc.__cause__ or exc}.",
                    hint=RULES["GEOCODERS"].hint,
                    id="weatherstream.E035",
                )
            )
    return problems


def _provider(config: dict[str, Any], *, check_interval: bool, check_forecasts: bool) -> list[CheckMessage]:
    setting = config["PROVIDER"]
    names = [setting] if isinstance(setting, str) else list(setting)
    problems: list[CheckMessage] = []
    for i, name in enumerate(names):
        if name == AUTO:
            continue
        try:
            provider_class(name)
        except ImproperlyConfigured as exc:
            where = "" if isinstance(setting, str) else f"[{i}]"
            reason = exc.__cause__ or exc  # the ImportError, if that was it
            problems.append(
                Error(
                    f"WEATHERSTREAM['PROVIDER']{where} = {name!r} is not a provider: {reason}.",
                    hint=RULES["PROVIDER"].hint,
                    id="weatherstream.E001",
                )
            )
    if problems:
        return problems
    interval = config["POLL_INTERVAL"]
    if check_interval and interval is not None:
        floor = max(cls.interval_floor(config) for _, cls in _in_use(config, offline=True))
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
    wanted = config.get("FORECAST_INTERVAL")
    if check_forecasts and wanted is not None:
        floor = max(
            (cls.forecast_interval(config) for _, cls in _in_use(config) if cls.forecasts), default=0.0
        )
        if wanted < floor:
            problems.append(
                Warning(
                    f"WEATHERSTREAM['FORECAST_INTERVAL'] = {wanted} is below the provider's floor of "
                    f"{floor:g} s; {floor:g} s is used.",
                    hint="The public Open-Meteo API is asked for forecasts hourly at most; a "
                    "self-hosted OPEN_METEO_URL has no floor.",
                    id="weatherstream.W004",
                )
            )
    return problems


def _in_use(config: dict[str, Any], *, offline: bool = False) -> list[tuple[str, type[WeatherProvider]]]:
    """The providers PROVIDER runs (``"auto"`` expanded), by name and class, and with
    ``offline`` the offline fallback too; names that load no provider are left out (E001
    reports them)."""
    names, fallback = provider_names(config)
    found = []
    for name in [*names, fallback] if offline and fallback else names:
        try:
            found.append((name, provider_class(name)))
        except ImproperlyConfigured:
            continue
    return found


def _met_norway(config: dict[str, Any]) -> list[CheckMessage]:
    """E036: MET Norway among the providers that run, without a User-Agent it accepts."""
    problem = user_agent_problem(config["MET_NORWAY_USER_AGENT"])
    if problem is None:
        return []
    for name, cls in _in_use(config):
        if issubclass(cls, MetNorwayProvider):
            return [
                Error(
                    f"WEATHERSTREAM['MET_NORWAY_USER_AGENT'] {problem}, and PROVIDER uses {name!r}: "
                    "MET Norway refuses (403) or throttles clients that do not identify themselves.",
                    hint=MET_NORWAY_HINT,
                    id="weatherstream.E036",
                )
            ]
    return []


def _poller(config: dict[str, Any]) -> list[CheckMessage]:
    if config["POLLER"] != "off":
        return []
    backend = getattr(settings, "CHANNEL_LAYERS", {}).get("default", {}).get("BACKEND", "")
    if backend and not backend.endswith("InMemoryChannelLayer"):
        return []
    return [
        Error(
            "WEATHERSTREAM['POLLER'] is 'off' but no shared channel layer is configured, "
            "so no poller can reach this process.",
            hint="Configure CHANNEL_LAYERS with channels_redis, or use POLLER='embedded'.",
            id="weatherstream.E004",
        )
    ]


def _batch(config: dict[str, Any]) -> list[CheckMessage]:
    """A full batch, weighed as its provider counts calls, must fit every period."""
    budget = config["UPSTREAM_BUDGET"]
    if budget is None:
        return []
    metered = [cls for _, cls in _in_use(config) if cls.metered]
    batch = config["BATCH_SIZE"]
    calls = max((max(cls.calls(batch), cls.forecast_calls(batch)) for cls in metered), default=0.0)
    if calls <= min(budget.values()):
        return []
    return [
        Error(
            f"WEATHERSTREAM['BATCH_SIZE'] ({config['BATCH_SIZE']}) costs {calls:g} calls, more than "
            f"UPSTREAM_BUDGET allows in one period ({min(budget.values())}): such a batch could "
            "never go out.",
            hint="Lower BATCH_SIZE or raise the budget (Open-Meteo counts 1.1 calls a location for "
            "readings, 2.0 for forecasts).",
            id="weatherstream.E007",
        )
    ]

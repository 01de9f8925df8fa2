"""The ``WEATHERSTREAM`` setting: one dict, merged over documented defaults.

Read it with :func:`get_config`; the cache is cleared when tests override settings.
Environment variables are not read here, only in the example project's settings.
Every key is checked for type and range by ``manage.py check`` (``checks.py``; the ids
are listed in docs/settings.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .places import MAX_NAME_LENGTH

T = TypeVar("T")

logger = logging.getLogger(__name__)

PUBLIC_OPEN_METEO_URL = "https://api.open-meteo.com/v1/forecast"
PUBLIC_OPEN_METEO_GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search"
PUBLIC_MET_NORWAY_URL = "https://api.met.no/weatherapi/locationforecast/2.0/compact"

DEFAULTS: dict[str, Any] = {
    # "auto" (Open-Meteo, then MET Norway when MET_NORWAY_USER_AGENT is set, simulated
    # readings only while none can be reached), "open-meteo", "met-norway", "simulated",
    # the dotted path of a WeatherProvider subclass, or a list of them (a chain).
    "PROVIDER": "auto",
    # Seconds between two fetches of one location. A provider that says when its upstream
    # has a new value (Open-Meteo, MET Norway) is asked then, but never sooner than this
    # after the last fetch (None: its floor, 60 s). Told to clients as poll_interval: this,
    # the provider's default (900 Open-Meteo, 60 simulated) if None, never below the
    # provider's data resolution; stretched when the call budget runs short.
    "POLL_INTERVAL": None,
    # Open-Meteo endpoints; point them at a self-hosted or commercial instance.
    "OPEN_METEO_URL": PUBLIC_OPEN_METEO_URL,
    "OPEN_METEO_GEOCODING_URL": PUBLIC_OPEN_METEO_GEOCODING_URL,
    # Extra query parameters for every Open-Meteo request (e.g. {"apikey": "..."}).
    "OPEN_METEO_PARAMS": {},
    # The User-Agent MET Norway's terms require of PROVIDER "met-norway": your site and a
    # contact, an e-mail address or a website ("weather.example.org admin@example.org");
    # " weatherstream/<version>" is appended. None: met-norway refuses to start (E036).
    "MET_NORWAY_USER_AGENT": None,
    # MET Norway's Locationforecast 2.0 compact endpoint (e.g. a caching proxy of yours).
    "MET_NORWAY_URL": PUBLIC_MET_NORWAY_URL,
    # Ask Open-Meteo's geocoding API for names the offline GeoNames data lacks.
    # None: yes, except with PROVIDER "simulated" (offline means offline: no network
    # call unless asked); True or False decide. Resolved by online_geocoding().
    "ONLINE_GEOCODING": None,
    # The geocoders asked in turn for a name: aliases ("offline", "open-meteo") or dotted
    # paths of weatherstream.geocoding.Geocoder subclasses. None: "offline", then
    # "open-meteo" when ONLINE_GEOCODING allows it.
    "GEOCODERS": None,
    # Total deadline of one upstream HTTP request, seconds.
    "HTTP_TIMEOUT": 10.0,
    # After this many failed upstream requests in a row the circuit opens: no calls
    # for a while, then one probe; its success closes it again. The first wait is 2 s
    # and doubles with each failed probe, up to BREAKER_COOLDOWN seconds.
    "BREAKER_FAILURES": 5,
    "BREAKER_COOLDOWN": 60.0,
    # Upstream calls allowed per minute/hour/day (each location in a request counts as
    # one; Open-Meteo's free-use limits). None: no budget (a self-hosted instance).
    "UPSTREAM_BUDGET": {"minute": 600, "hour": 5000, "day": 10000},
    # At most this many locations go out in one upstream request.
    "BATCH_SIZE": 50,
    # "embedded": the poller runs inside the server process. "off": run
    # `manage.py weatherstream_poll` separately.
    "POLLER": "embedded",
    # With POLLER="off": how often a server re-announces what its clients watch,
    # seconds; the poller forgets a location not announced for three heartbeats.
    "DEMAND_HEARTBEAT": 10.0,
    # Separate pollers elect one of them through a lease in Redis, held this many
    # seconds and renewed every third of it; a dead poller is replaced within two.
    "LEADER_LEASE": 10.0,
    # The Redis for that lease. None: the first host of a channels_redis layer.
    "REDIS_URL": None,
    # A location nobody watches any more is still polled this long, seconds.
    "DEMAND_GRACE": 60.0,
    # Observations older than this many days are pruned by the poller.
    "RETENTION_DAYS": 7,
    # Largest client message accepted, bytes; a bigger one closes the connection (1009).
    # The ASGI server's own limit (uvicorn --ws-max-size) refuses far bigger ones unread.
    "MAX_MESSAGE_BYTES": 4096,
    # Open WebSocket connections per client address (each over it is closed, 4029);
    # behind a proxy, have the ASGI server trust its X-Forwarded-For. None: no limit.
    "MAX_CONNECTIONS_PER_ADDRESS": 100,
    # Only logged-in Django users may connect (closed with 4003 otherwise); needs
    # Channels' AuthMiddlewareStack around the WebSocket routes.
    "REQUIRE_LOGIN": False,
    # Subscriptions one WebSocket connection may hold.
    "MAX_SUBSCRIPTIONS": 50,
    # Client messages per second a connection may send (token bucket), and its burst.
    "MESSAGES_PER_SECOND": 10.0,
    "MESSAGE_BURST": 30,
    # A connection that stays this many messages over its budget is closed (code 4008).
    "RATE_LIMIT_CLOSE_AFTER": 50,
    # Freeze what survives the garbage collector's full collections (garbage.py), so that
    # with thousands of connections open the later ones do not visit them all, and run one
    # every second; a complete collection runs after many closes, a doubling of what is
    # frozen, and at least hourly.
    # None: on, except on Python 3.14.0-3.14.4 (an incremental collector); True or False decide.
    "GC_FREEZE": None,
    # Bytes queued for a client that does not read; past it the client is closed (4009).
    "SEND_BUFFER_BYTES": 1024 * 1024,
    # Longest city name accepted, characters.
    "MAX_CITY_LENGTH": MAX_NAME_LENGTH,
    # Most rows /api/history returns in one answer (hours are capped to RETENTION_DAYS).
    "HISTORY_LIMIT": 5000,
    # Most readings a subscribe with "since" replays; more missed than this (or older than
    # RETENTION_DAYS, or storage down) is answered "recovered": false, none replayed.
    "RESUME_LIMIT": 500,
    # Seconds between two "watchers" frames of one place: changes in its count of watching
    # connections are coalesced and sent at most this often.
    "WATCHERS_EVERY": 5.0,
    # Readings kept in memory while the database fails (written when it answers again);
    # past this many the oldest are dropped (metric weatherstream_storage_dropped).
    "STORAGE_BUFFER": 10000,
    # New places (not watched on this server yet, so new upstream fetches) one client
    # address may add per hour; past it, subscribe answers "too_many_places" (HTTP 429).
    # None: no limit.
    "NEW_PLACES_PER_HOUR": 100,
    # Seconds without a new reading after which a watched place's last reading is sent
    # again marked stale, by each server process. None: two poll intervals plus the
    # provider's own data resolution (Open-Meteo's values come in 15-minute slots).
    "SILENCE_AFTER": None,
    # Seconds a place's forecast is at least kept before it is fetched again (forecasts
    # are fetched when the upstream may have a new one: Open-Meteo's model runs, MET
    # Norway's Expires). None: an hour.
    "FORECAST_INTERVAL": None,
    # The Open-Meteo models whose run times (its metadata API, not counted as calls) say
    # when a forecast may have changed: a forecast is fetched again once one of them has
    # a run newer than the place's last forecast, hourly at most. Name those of `models=`
    # (OPEN_METEO_PARAMS) if you chose some; the default names the global models (add the
    # regional ones "best match" uses where you are, e.g. "dwd_icon_d2", "ncep_hrrr_conus").
    "OPEN_METEO_FORECAST_MODELS": ["dwd_icon", "ncep_gfs025", "ecmwf_ifs025"],
    # -- personal weather stations (docs/stations.md) --
    # Seconds without an upload after which a station's last reading is sent again
    # marked stale (gateways upload every 16 to 60 s).
    "STATION_SILENCE_AFTER": 300.0,
    # Least whole seconds between two uploads of one station; one sooner is answered 429
    # and not stored. 0: no spacing.
    "STATION_MIN_INTERVAL": 10,
    # Wrong station keys one client address may send (the `limits` notation, e.g.
    # "10/minute"); past it every upload from there is answered 429 until the window moves.
    "STATION_AUTH_FAILURES": "10/minute",
    # Largest upload accepted, bytes (a query string or a form body); larger: 413.
    "STATION_MAX_BODY_BYTES": 16384,
    # Where the stations' upload route receives Ecowitt's "customized" uploads (the path
    # set on the gateway, without the leading "/"; Ecowitt's default "data/report/").
    "STATION_ECOWITT_PATH": "data/report/",
}


def user_settings() -> Any:
    """The ``WEATHERSTREAM`` setting as the project wrote it; None when it is unset."""
    return getattr(settings, "WEATHERSTREAM", None)


@cache
def get_config() -> dict[str, Any]:
    """DEFAULTS overlaid with the ``WEATHERSTREAM`` setting (unknown keys kept, unused).

    A setting that is not a mapping (a list, a string, ...) is not used: this falls back
    to DEFAULTS and logs a warning instead of raising, so that ``manage.py check`` can
    report it (weatherstream.E008) rather than a traceback. ``None`` means unset.
    """
    user = user_settings()
    if user is None:
        user = {}
    elif not isinstance(user, Mapping):
        logger.warning("settings.WEATHERSTREAM is a %s, not a dict: using the defaults", type(user).__name__)
        user = {}
    return {**DEFAULTS, **user}


def online_geocoding(config: Mapping[str, Any]) -> bool:
    """Whether names the offline GeoNames data lacks are looked up online.

    ``ONLINE_GEOCODING`` True or False decide; None (the default) means yes, except with
    the "simulated" provider, so that an offline setup makes no network call unless asked.
    """
    wanted = config["ONLINE_GEOCODING"]
    if wanted is None:
        return bool(config["PROVIDER"] != "simulated")
    return bool(wanted)


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == "WEATHERSTREAM":
        get_config.cache_clear()


def import_subclass(name: str, *, aliases: Mapping[str, str], base: type[T], setting: str) -> type[T]:
    """The class a setting names by alias or dotted path, checked to subclass ``base``;
    ImproperlyConfigured otherwise (its cause is the ImportError, if that was it)."""
    path = aliases.get(name, name)
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"WEATHERSTREAM['{setting}']: {name!r} is neither one of {sorted(aliases)} "
            f"nor an importable dotted path: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ImproperlyConfigured(f"{path} is not a {base.__name__} subclass")
    return cls

"""The example site `make run` serves. Configured by environment variables:

DJANGO_SECRET_KEY, DJANGO_DEBUG (0/1), DJANGO_ALLOWED_HOSTS (comma list), DATABASE_URL
(default: SQLite in var/), REDIS_URL (default: in-memory channel layer),
WEATHERSTREAM_<KEY> for any key of the WEATHERSTREAM setting (WEATHERSTREAM_PROVIDER,
WEATHERSTREAM_POLL_INTERVAL, WEATHERSTREAM_POLLER, ...), OPEN_METEO_URL,
OPEN_METEO_GEOCODING_URL, LOG_LEVEL, LOG_FORMAT (plain, kv or json).
"""

import json
import os
import sys
from pathlib import Path

import dj_database_url

from weatherstream.conf import DEFAULTS

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("WEATHERSTREAM_VAR_DIR", BASE_DIR.parent / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-example-key-set-DJANGO_SECRET_KEY")
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if h.strip()
]

# daphne's app makes `manage.py runserver` (and testserver) serve the WebSocket endpoint too.
# It imports Twisted, 25 MiB in every process, so only those load it (uvicorn serves `make run`).
RUNSERVER = ["daphne"] if sys.argv[1:2] in (["runserver"], ["testserver"]) else []

INSTALLED_APPS = [
    *RUNSERVER,
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "weatherstream",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ASGI_APPLICATION = "example.asgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'weatherstream.sqlite3'}", conn_max_age=600
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the page's reads run beside the poller's writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }

# One process: the in-memory layer. Several processes or a separate poller
# (WEATHERSTREAM_POLLER=off): REDIS_URL, with the package's `redis` extra installed.
# REDIS_LAYER=core picks channels_redis's list-based layer instead of pub/sub (see
# docs/architecture.md for why pub/sub is the default).
if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer"
            if os.environ.get("REDIS_LAYER") == "core"
            else "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Every WEATHERSTREAM key can be set as WEATHERSTREAM_<KEY> (a JSON value, or plain
# text): e.g. WEATHERSTREAM_POLL_INTERVAL=1 WEATHERSTREAM_POLLER=off.
WEATHERSTREAM = {"PROVIDER": "auto", "POLLER": "embedded"}
for _key in DEFAULTS:
    _raw = os.environ.get(f"WEATHERSTREAM_{_key}")
    if _raw is not None:
        try:
            WEATHERSTREAM[_key] = json.loads(_raw)
        except ValueError:
            WEATHERSTREAM[_key] = _raw
for _name in ("OPEN_METEO_URL", "OPEN_METEO_GEOCODING_URL"):  # shorter spellings
    if os.environ.get(_name):
        WEATHERSTREAM[_name] = os.environ[_name]

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
SERVESTATIC_USE_FINDERS = True  # serve app static files without collectstatic
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# LOG_FORMAT: plain (for people), kv (key=value) or json (one object per line).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "kv": {"()": "weatherstream.logs.KeyValueFormatter"},
        "json": {"()": "weatherstream.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": os.environ.get("LOG_FORMAT", "plain")}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}},
}

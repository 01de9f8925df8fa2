"""Settings for the test suite: in-memory layer, simulated provider, no network."""

SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.messages",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "weatherstream",
]
MIDDLEWARE = [  # what the admin needs, and CSRF as in every new project
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
# SQLite in memory here; the suite's conftest points it at a PostgreSQL of its own unless
# WEATHERSTREAM_TEST_DB=sqlite (tests/conftest.py, django_db_modify_db_settings).
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
STATIC_URL = "/static/"
ASGI_APPLICATION = "example.asgi.application"  # the application users run
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
WEATHERSTREAM = {
    "PROVIDER": "simulated",
    "POLL_INTERVAL": 1,
    "ONLINE_GEOCODING": False,
    # Not across the suite: frozen objects would outlive the tests that made them (tests
    # of weakly held objects collect garbage); test_garbage.py and the served servers
    # (the example's settings) run it.
    "GC_FREEZE": False,
}

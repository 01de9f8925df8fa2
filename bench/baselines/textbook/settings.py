"""Minimal Django settings for the textbook Channels baseline (no database)."""

import os

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
INSTALLED_APPS = ["channels"]
ASGI_APPLICATION = "textbook.asgi.application"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
DATABASES = {}
USE_TZ = True

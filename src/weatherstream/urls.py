"""The page and the JSON API: ``path("weather/", include("weatherstream.urls"))``.

The operations endpoints (``/healthz``, ``/readyz``, ``/metrics``) are not here: mount
``weatherstream.operations_urls`` deliberately, where only your probes and Prometheus
reach it (docs/deployment.md).
"""

from django.urls import path

from . import views

app_name = "weatherstream"

urlpatterns = [
    path("", views.index, name="index"),
    path("api/weather", views.weather, name="weather"),
    path("api/history", views.history, name="history"),
    path("api/forecast", views.forecast, name="forecast"),
    path("api/locations", views.locations, name="locations"),
    path("api/<path:rest>", views.not_found),
]

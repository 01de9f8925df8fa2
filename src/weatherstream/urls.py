from django.urls import path

from . import views

app_name = "weatherstream"

urlpatterns = [
    path("", views.index, name="index"),
    path("api/weather", views.weather, name="weather"),
    path("api/history", views.history, name="history"),
    path("api/locations", views.locations, name="locations"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
]

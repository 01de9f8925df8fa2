"""Liveness, readiness and Prometheus metrics: ``path("", include("weatherstream.operations_urls"))``.

Kept apart from ``weatherstream.urls`` so that a site publishes them only where it means
to (the example project mounts them at its root; nginx keeps ``/metrics`` private).
"""

from django.urls import path

from . import views

app_name = "weatherstream_operations"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
]

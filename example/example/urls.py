from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    path("admin/", admin.site.urls),
    # The template tag in a page of the site's own: {% weather_widget "Berlin" %}.
    path("widgets/", TemplateView.as_view(template_name="widgets.html"), name="widgets"),
    path("", include("weatherstream.urls")),
    # Probes and Prometheus: at the root here; keep /metrics private (docs/deployment.md).
    path("", include("weatherstream.operations_urls")),
]

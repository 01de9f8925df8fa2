from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("weatherstream.urls")),
    path("", include("weatherstream.operations_urls")),
    path("", include("weatherstream.station_urls")),
]

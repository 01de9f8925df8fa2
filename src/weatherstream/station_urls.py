"""Where personal weather stations upload: ``routing.station_uploads(application)`` in
asgi.py routes these paths past Django's handler; or ``path("", include("weatherstream.station_urls"))``.

At the site's root, since devices hard-code the Weather Underground path
(``/weatherstation/updateweatherstation.php``); Ecowitt's "customized" upload comes to
STATION_ECOWITT_PATH (``/data/report/``, the gateway's default), read when this module
is loaded. Devices upload over plain HTTP: see docs/stations.md on TLS and nginx.
"""

from django.urls import path

from . import views
from .conf import get_config

app_name = "weatherstream_stations"

urlpatterns = [
    path("weatherstation/updateweatherstation.php", views.wunderground_upload, name="wunderground"),
    path(get_config()["STATION_ECOWITT_PATH"], views.ecowitt_upload, name="ecowitt"),
]

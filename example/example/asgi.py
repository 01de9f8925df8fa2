"""ASGI entry point: HTTP through Django, WebSockets through Channels, lifespan for the poller."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from weatherstream.conf import get_config  # noqa: E402
from weatherstream.lifespan import lifespan  # noqa: E402
from weatherstream.routing import station_uploads, unknown_path, websocket_urlpatterns  # noqa: E402

websocket = URLRouter([*websocket_urlpatterns, unknown_path])
if get_config()["REQUIRE_LOGIN"]:
    # The session's user in the scope. Only when needed: it costs a thread hop and a
    # session object per connection (bench/README.md).
    websocket = AuthMiddlewareStack(websocket)

application = ProtocolTypeRouter(
    {
        # Personal weather stations' uploads straight to their views, the rest to Django.
        "http": station_uploads(django_asgi_app),
        # Handshakes from other sites' pages are refused (cross-site WebSocket hijacking).
        "websocket": AllowedHostsOriginValidator(websocket),
        "lifespan": lifespan,
    }
)

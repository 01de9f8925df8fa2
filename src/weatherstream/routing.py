"""ASGI routes. WebSockets: ``URLRouter([*websocket_urlpatterns, unknown_path])``; the
stations' uploads: ``station_uploads(application)`` in front of Django's HTTP app.

Put your own WebSocket routes before ``unknown_path``: it matches every path, and refuses
the handshake (HTTP 404 with a JSON body where the server supports it, as uvicorn does;
a plain refusal, 403, elsewhere) instead of Channels' "No route found" error, which
ends in an HTTP 500 and a traceback in the log.
"""

from __future__ import annotations

import io
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.urls import path, re_path
from django.utils.log import log_response

from . import station_urls, views
from .conf import get_config
from .consumers import WeatherConsumer
from .protocol import dumps

websocket_urlpatterns = [path("ws/weather/", WeatherConsumer.as_asgi())]

_NOT_FOUND = dumps(
    {"error": {"code": "not_found", "message": "No WebSocket endpoint at this path."}}
).encode()


async def refuse_unknown_path(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that turns down any WebSocket handshake."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 404,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(_NOT_FOUND)),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": _NOT_FOUND})
    else:
        await send({"type": "websocket.close"})


unknown_path = re_path(r"", refuse_unknown_path)  # type: ignore[arg-type]  # an ASGI app, as Channels routes take


def station_uploads(app: Any) -> Any:
    """An ASGI app: HTTP requests to the stations' upload paths (``station_urls``) go
    straight to their views, everything else to ``app``, your Django application.

    The same views as through ``include("weatherstream.station_urls")``, without what
    Django's handler adds to every request: a thread of its own, and a hop to it and
    back for each synchronous middleware. An upload uses none of it (no session, user
    or CSRF token), and took 2-3x the time and CPU that way (bench/README.md).
    ALLOWED_HOSTS is still checked, by the views.
    """
    uploads = {"/" + str(pattern.pattern): pattern.callback for pattern in station_urls.urlpatterns}

    async def route(scope: dict[str, Any], receive: Any, send: Any) -> None:
        root = scope.get("root_path", "")
        view = uploads.get(scope["path"].removeprefix(root)) if scope["type"] == "http" else None
        if view is None:
            await app(scope, receive, send)
            return
        limit = get_config()["STATION_MAX_BODY_BYTES"]
        body = bytearray()
        while True:  # up to one byte past the limit: the view refuses that, unread beyond
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit or not message.get("more_body", False):
                break
        try:
            request = ASGIRequest(scope, io.BytesIO(bytes(body)))
        except UnicodeDecodeError:  # a query string that is not UTF-8
            response: HttpResponse = views.malformed_upload()
        else:
            response = await view(request)
            if response.status_code >= 400:  # as Django's handler logs it: the path, no query
                log_response(
                    "%s: %s", response.reason_phrase, request.path, response=response, request=request
                )
        await _send(response, send)

    return route


async def _send(response: HttpResponse, send: Any) -> None:
    content = response.content
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    headers.append((b"content-length", b"%d" % len(content)))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": content})

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

from django.core.handlers.asgi import ASGIRequest, get_script_prefix
from django.http import HttpResponse
from django.urls import path, re_path
from django.utils.log import log_response

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
    or CSRF token); through it, one process took 950 of 6,000 uploads at 100 a second,
    with the route all of them (bench/README.md).
    The views still check ALLOWED_HOSTS; refused uploads are logged as Django logs them.
    """
    from . import station_urls, views

    uploads = {"/" + str(pattern.pattern): pattern.callback for pattern in station_urls.urlpatterns}

    async def route(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (
            (view := uploads.get(scope["path"].removeprefix(get_script_prefix(scope)))) is None
        ):
            await app(scope, receive, send)
            return
        limit = get_config()["STATION_MAX_BODY_BYTES"]
        body = bytearray()
        declared = dict(scope.get("headers", ())).get(b"content-length")
        while not views.declared_over(declared, limit):  # (that one the view refuses unread)
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit or not message.get("more_body", False):
                break  # past the limit: the view refuses it, the rest unread
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
    """``response`` as Django's handler sends it (a body in one message, with its length)."""
    content = response.content
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    cookies = response.cookies.values()
    headers += [(b"set-cookie", cookie.output(header="").encode("ascii").strip()) for cookie in cookies]
    headers.append((b"content-length", b"%d" % len(content)))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": content})

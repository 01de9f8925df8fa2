"""WebSocket routes: ``URLRouter([*websocket_urlpatterns, unknown_path])``.

Put your own routes before ``unknown_path``: it matches every path, and refuses the
handshake (HTTP 404 with a JSON body where the server supports it, as uvicorn does;
a plain refusal, 403, elsewhere) instead of Channels' "No route found" error, which
ends in an HTTP 500 and a traceback in the log.
"""

from __future__ import annotations

from typing import Any

from django.urls import path, re_path

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

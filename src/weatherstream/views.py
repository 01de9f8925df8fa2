"""The page, the JSON API and the stations' uploads: thin async views over the engine and
the storage services."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import DisallowedHost, SuspiciousOperation
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from . import health, metrics, protocol, services, stations, uploads
from .conf import get_config
from .engine import get_engine
from .forecasts import KINDS as FORECAST_KINDS
from .geocoding import get_geocoder
from .places import Place, PlaceError, TooManyPlaces, is_station
from .stations import Station

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """``suggestions`` (for ``unknown_city``) go into the body as they are, as in the error frame."""

    def __init__(
        self, status: int, code: str, message: str, *, suggestions: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.suggestions = suggestions


def require_get(view: Callable[..., Any]) -> Callable[..., Any]:
    """Like Django's require_GET, but every error answer is JSON: 405 for another method,
    503 when the database is down, 500 for a bug (logged), never an HTML page.

    CSRF-exempt: these views only read (no state changes, no writes on the user's
    behalf), so a forged cross-site request can do nothing; without the exemption a POST
    would get CsrfViewMiddleware's HTML 403 instead of the documented JSON 405.
    """

    def refuse(request: HttpRequest) -> JsonResponse | None:
        if request.method in ("GET", "HEAD"):
            return None
        response = _error(ApiError(405, "method_not_allowed", "Only GET is allowed here."))
        response["Allow"] = "GET, HEAD"
        return response

    def failed(exc: Exception) -> JsonResponse:
        if isinstance(exc, DatabaseError):
            logger.warning("%s: the database failed (%s)", view.__name__, exc)
            return _error(ApiError(503, "unavailable", "Storage is unavailable; try again."))
        logger.exception("%s failed", view.__name__)
        return _error(ApiError(500, "internal_error", "The server failed to answer."))

    if asyncio.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            refused = refuse(request)
            if refused is not None:
                return refused
            try:
                return await view(request, *args, **kwargs)  # type: ignore[no-any-return]
            except Exception as exc:
                return failed(exc)

        return csrf_exempt(async_view)

    @functools.wraps(view)
    def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = refuse(request)
        if refused is not None:
            return refused
        try:
            return view(request, *args, **kwargs)  # type: ignore[no-any-return]
        except Exception as exc:
            return failed(exc)

    return csrf_exempt(sync_view)


def _error(exc: ApiError) -> JsonResponse:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.suggestions is not None:
        error["suggestions"] = exc.suggestions
    return JsonResponse({"error": error}, status=exc.status)


def _float(request: HttpRequest, name: str) -> float:
    try:
        return float(request.GET.get(name, ""))
    except ValueError:
        raise ApiError(400, "bad_request", f"'{name}' must be a number.") from None


def _refusal(exc: PlaceError | TooManyPlaces) -> ApiError:
    error = protocol.refusal(exc)
    status = {"unknown_city": 404, "too_many_places": 429}.get(error.code, 400)
    return ApiError(status, error.code, error.message, suggestions=error.suggestions)


async def _place(request: HttpRequest) -> Place:
    """The place named by ?city=, ?lat=&lon=, or ?location= (an id from ``subscribed``)."""
    city = request.GET.get("city", "").strip()
    location_id = request.GET.get("location", "").strip()
    engine = await get_engine()
    if location_id and not city:
        known = engine.places.get(location_id)
        if known is None:  # watched through another worker, or earlier: it is stored
            known = await database_sync_to_async(services.location_get)(location_id=location_id)
        if known is None:
            raise ApiError(404, "unknown_location", "No location with that id is known.")
        return known
    try:
        if city:
            if len(city) > get_config()["MAX_CITY_LENGTH"]:
                raise ApiError(400, "bad_request", "'city' is too long.")
            return await engine.resolve(city=city)
        if "lat" in request.GET or "lon" in request.GET:
            return await engine.resolve(lat=_float(request, "lat"), lon=_float(request, "lon"))
    except PlaceError as exc:
        raise _refusal(exc) from None
    raise ApiError(400, "bad_request", "Give 'city', or 'lat' and 'lon'.")


@require_get
async def weather(request: HttpRequest) -> JsonResponse:
    try:
        place = await _place(request)
        reading = await (await get_engine()).current(place, request.META.get("REMOTE_ADDR"))
    except ApiError as exc:
        return _error(exc)
    except TooManyPlaces as exc:
        return _error(_refusal(exc))
    if reading is None:
        return _error(ApiError(503, "unavailable", "No reading is available for this place yet."))
    return JsonResponse({"location": place.as_dict(), "weather": reading.to_wire()})


@require_get
async def forecast(request: HttpRequest) -> JsonResponse:
    """The latest forecast of a place: ?kind=hourly|daily and the place as for /api/weather."""
    kind = request.GET.get("kind", "").strip()
    try:
        if kind not in FORECAST_KINDS:
            raise ApiError(400, "bad_request", "'kind' must be 'hourly' or 'daily'.")
        place = await _place(request)
        held = await (await get_engine()).forecast(place, kind, request.META.get("REMOTE_ADDR"))
    except ApiError as exc:
        return _error(exc)
    except TooManyPlaces as exc:
        return _error(_refusal(exc))
    if held is None:
        return _error(ApiError(503, "unavailable", "No forecast is available for this place yet."))
    return JsonResponse({"location": place.as_dict(), **held.to_wire()})


@require_get
async def history(request: HttpRequest) -> JsonResponse:
    config = get_config()
    max_hours = config["RETENTION_DAYS"] * 24
    try:
        raw_hours = request.GET.get("hours", "24")
        try:
            hours = float(raw_hours)
        except ValueError:
            raise ApiError(400, "bad_request", "'hours' must be a number.") from None
        if not math.isfinite(hours) or not 0 < hours <= max_hours:
            raise ApiError(400, "bad_request", f"'hours' must be between 0 and {max_hours}.")
        source = request.GET.get("source", "any").strip()
        if not source or len(source) > 64:
            raise ApiError(400, "bad_request", "'source' must be 'any', 'real', or a source name.")
        place = await _place(request)
    except ApiError as exc:
        return _error(exc)
    since = timezone.now() - timedelta(hours=hours)
    readings = await database_sync_to_async(services.observations_since)(
        location_id=place.id, since=since, limit=config["HISTORY_LIMIT"], source=source
    )
    return JsonResponse(
        {
            "location": place.as_dict(),
            "hours": hours,
            "source": source,
            "observations": [r.to_wire() for r in readings],
        }
    )


@require_get
def locations(request: HttpRequest) -> JsonResponse:
    query = request.GET.get("q")
    if query is None:
        return _error(ApiError(400, "bad_request", "Give the text to search as 'q'."))
    query = query.strip()
    if len(query) < 2:
        return JsonResponse({"results": []})
    try:
        places = get_geocoder().search(query, limit=10)
    except PlaceError as exc:
        return _error(ApiError(400, "bad_request", str(exc)))
    found = services.stations_search(query=query[: get_config()["MAX_CITY_LENGTH"]], limit=10)
    results = [{**p.as_dict(population=True), "station": True} for p in found]  # first: your own
    results += [p.as_dict(population=True) for p in places][: max(0, 10 - len(results))]
    return JsonResponse({"results": results})


@require_get
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under api/: a JSON 404 like every API error."""
    return _error(ApiError(404, "not_found", "No such API endpoint."))


@require_get
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "weatherstream/index.html",
        {
            "ws_path": "/ws/weather/",
            "locations_url": reverse("weatherstream:locations"),
            "history_url": reverse("weatherstream:history"),
        },
    )


@require_get
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: the process answers (for a liveness probe; no dependency is asked)."""
    return JsonResponse({"status": "ok"})


@require_get
async def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: database, channel layer and a poller answer; 503 otherwise."""
    checks = await health.readiness(await get_engine())
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


@require_get
def metrics_view(request: HttpRequest) -> HttpResponse:
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)


# -- station uploads (docs/stations.md) -------------------------------------------------
# Gateways read the status and a short text, nothing else: every answer is text/plain.
# The key (a query parameter of the Weather Underground format) is never logged.

NO_KEY = stations.digest("")  # compared when the id is unknown, so that both take as long
WU_REFUSED = "INVALIDPASSWORDID|Password or key and/or id are incorrect"  # the real service's text


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body + "\n", status=status, content_type="text/plain; charset=utf-8")


def _refused(outcome: str, body: str, status: int) -> HttpResponse:
    metrics.STATION_UPLOADS.labels(outcome).inc()
    return _text(body, status)


def malformed_upload() -> HttpResponse:
    return _refused("bad_request", "The upload is malformed.", 400)


def declared_over(length: str | bytes | None, limit: int) -> bool:
    """Whether a Content-Length declares more than ``limit`` bytes (an unreadable one does not)."""
    try:
        return int(length or 0) > limit
    except ValueError:
        return False


def station_upload(method: str) -> Callable[..., Any]:
    """An upload view: its host in ALLOWED_HOSTS, ``method`` only, CSRF-exempt (a device
    cannot send a token), its size checked before it is read, a malformed request 400, a
    database failure answered 503 and a bug 500 (logged), never a traceback in the answer."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        async def wrapped(request: HttpRequest) -> HttpResponse:
            try:
                request.get_host()  # as Django's CommonMiddleware would, on either route
            except DisallowedHost as exc:  # logged as Django logs it, without a traceback
                logging.getLogger("django.security.DisallowedHost").error("%s", exc)
                return _refused("bad_host", "This server does not serve that host.", 400)
            if request.method != method:  # (not even HEAD: an upload is stored)
                response = _text(f"Only {method} is allowed here.", 405)
                response["Allow"] = method
                return response
            limit = get_config()["STATION_MAX_BODY_BYTES"]
            declared = request.META.get("CONTENT_LENGTH")
            if declared_over(declared, limit) or len(request.META.get("QUERY_STRING", "")) > limit:
                return _refused("too_big", f"An upload is at most {limit} bytes.", 413)
            try:
                return await view(request)  # type: ignore[no-any-return]
            except DatabaseError as exc:
                logger.warning("a station upload failed: the database failed (%s)", exc)
                return _text("Storage is unavailable; try again.", 503)
            except (SuspiciousOperation, MultiPartParserError):  # the client's (too many fields, ...)
                return malformed_upload()
            except Exception:
                logger.exception("a station upload failed")
                return _text("The server failed to take the upload.", 500)

        return csrf_exempt(wrapped)

    return decorate


async def _take(
    request: HttpRequest,
    params: dict[str, str],
    station: Station | None,
    secret_ok: bool,
    fields: uploads.Fields,
    *,
    refused: str,
    accepted: str,
) -> HttpResponse:
    """The part both formats share, once the station is looked up: the key, the reading,
    the spacing, then publishing and storing."""
    engine = await get_engine()
    address = request.META.get("REMOTE_ADDR") or ""
    if station is None or not secret_ok:
        await engine.upload_limits.failed(address)
        return _refused("unauthorized", refused, 401)
    try:
        upload = uploads.read(params, fields, station=station.place, elevation=station.elevation)
    except uploads.UploadError as exc:
        _count_dropped(exc.dropped)
        return _refused("bad_request", str(exc), 400)
    _count_dropped(upload.dropped)
    if not await engine.upload_limits.spaced(station.id):
        every = get_config()["STATION_MIN_INTERVAL"]
        return _refused("too_soon", f"Too soon: one upload every {every} seconds at most.", 429)
    await engine.upload(station.place, upload.reading)
    metrics.STATION_UPLOADS.labels("stored").inc()
    return _text(accepted)


def _count_dropped(names: tuple[str, ...]) -> None:
    for name in names:
        metrics.STATION_FIELDS_DROPPED.labels(name).inc()


async def _locked_out(request: HttpRequest) -> HttpResponse | None:
    engine = await get_engine()
    if await engine.upload_limits.locked_out(request.META.get("REMOTE_ADDR") or ""):
        allowed = get_config()["STATION_AUTH_FAILURES"]
        return _refused(
            "locked_out", f"Too many wrong keys from this address (at most {allowed}); wait.", 429
        )
    return None


async def _registered(key: str, lookup: Callable[..., Station | None], **kwargs: Any) -> Station | None:
    """The station storage has under ``key``; while the database fails, the one it last
    had (the upload is then published, and kept by the recorder until storage is back)."""
    seen = (await get_engine()).stations_seen
    try:
        station: Station | None = await database_sync_to_async(lookup)(**kwargs)
    except DatabaseError:
        if key not in seen:
            raise
        return seen[key]
    if station is None:
        seen.pop(key, None)
    else:
        seen[key] = station
    return station


@station_upload("GET")
async def wunderground_upload(request: HttpRequest) -> HttpResponse:
    """Weather Underground's upload protocol: ``?ID=<station id>&PASSWORD=<key>&...``."""
    if (locked := await _locked_out(request)) is not None:
        return locked
    params = {name: request.GET.get(name, "") for name in request.GET}
    station_id = params.get("ID", "").strip().lower()
    station = None
    if is_station(station_id) and len(station_id) <= 40:
        station = await _registered(f"id:{station_id}", services.station_get, station_id=station_id)
    key_ok = stations.key_matches(params.get("PASSWORD", ""), station.key_hash if station else NO_KEY)
    return await _take(
        request, params, station, key_ok, uploads.WUNDERGROUND, refused=WU_REFUSED, accepted="success"
    )


@station_upload("POST")
async def ecowitt_upload(request: HttpRequest) -> HttpResponse:
    """Ecowitt's "customized" upload: a form POST carrying the gateway's ``PASSKEY``."""
    if (locked := await _locked_out(request)) is not None:
        return locked
    if len(request.body) > get_config()["STATION_MAX_BODY_BYTES"]:  # sent without a length
        return _refused("too_big", "The upload is too big.", 413)
    params = {name: request.POST.get(name, "") for name in request.POST}
    passkey = params.get("PASSKEY", "")
    station = None
    if passkey.strip():
        digest = stations.passkey_digest(passkey)
        station = await _registered(f"passkey:{digest}", services.station_by_passkey, passkey_hash=digest)
    return await _take(
        request, params, station, True, uploads.ECOWITT, refused="Unknown PASSKEY.", accepted="OK"
    )

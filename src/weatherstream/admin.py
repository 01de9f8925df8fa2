"""Django admin: observations are a record of what the upstream said, so they are
read-only (editing one would lie); locations can be renamed, never re-pointed."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Forecast, Location, Observation, Station


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "country", "region", "latitude", "longitude", "timezone", "created_at")
    list_filter = ("country",)
    search_fields = ("id", "name", "region")
    # The id, coordinates and zone define which weather is fetched and stored for it.
    readonly_fields = ("id", "latitude", "longitude", "timezone", "population", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # locations come from subscriptions, through the geocoder


@admin.register(Observation)
class ObservationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "location",
        "observed_at",
        "source",
        "temperature",
        "humidity",
        "wind_speed",
        "weather_code",
    )
    list_filter = ("source", ("location", admin.RelatedOnlyFieldListFilter), "observed_at")
    list_select_related = ("location",)
    date_hierarchy = "observed_at"
    search_fields = ("location__name",)
    ordering = ("-observed_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # viewing stays allowed (the view permission)


@admin.register(Forecast)
class ForecastAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only like observations: what the source said."""

    list_display = ("location", "kind", "issued_at", "source", "fetched_at")
    list_filter = ("kind", "source")
    list_select_related = ("location",)
    search_fields = ("location__name",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Listed, never keyed here: keys are made and shown once by ``manage.py
    weatherstream_station`` (stored as digests, which this page does not show)."""

    list_display = ("location", "location_id", "latitude", "longitude", "elevation", "ecowitt", "created_at")
    list_select_related = ("location",)
    search_fields = ("location__id", "location__name")
    fields = ("location", "elevation", "created_at")
    readonly_fields = ("location", "created_at")

    @admin.display(description="latitude")
    def latitude(self, obj: Station) -> float:
        return obj.location.latitude

    @admin.display(description="longitude")
    def longitude(self, obj: Station) -> float:
        return obj.location.longitude

    @admin.display(boolean=True, description="Ecowitt PASSKEY")
    def ecowitt(self, obj: Station) -> bool:
        return obj.passkey_hash is not None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # `manage.py weatherstream_station add` makes the key and shows it once

    # Deleting a station removes its place with its readings, as the command's `remove`.
    def delete_model(self, request: HttpRequest, obj: Station) -> None:
        obj.location.delete()

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        Location.objects.filter(station__in=queryset).delete()

"""Locations people watch and the observations fetched for them."""

from __future__ import annotations

from django.db import models


class Location(models.Model):
    """A place weather is fetched for.

    ``id`` is the GeoNames id for a named city (``"2950159"``) or the rounded
    coordinates for a point (``"52.52,13.41"``): the same place always maps to the
    same row, so it is fetched once however many people watch it.
    """

    id = models.CharField(primary_key=True, max_length=40)
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 code")
    region = models.CharField(max_length=200, blank=True)
    latitude = models.FloatField()
    longitude = models.FloatField()
    timezone = models.CharField(max_length=64, blank=True)
    population = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}, {self.country}" if self.country else self.name


class Observation(models.Model):
    """One reading of the current weather at a location, as the provider gave it."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="observations")
    observed_at = models.DateTimeField(help_text="UTC time the reading is valid for")
    fetched_at = models.DateTimeField()
    source = models.CharField(max_length=32, help_text="provider that produced the reading")
    temperature = models.FloatField(null=True)
    feels_like = models.FloatField(null=True)
    humidity = models.FloatField(null=True)
    wind_speed = models.FloatField(null=True)
    wind_gusts = models.FloatField(null=True)
    wind_direction = models.FloatField(null=True)
    precipitation = models.FloatField(null=True)
    cloud_cover = models.FloatField(null=True)
    pressure = models.FloatField(null=True)
    weather_code = models.PositiveSmallIntegerField(null=True)
    is_day = models.BooleanField(null=True)

    class Meta:
        ordering = ["location", "-observed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["location", "observed_at"], name="weatherstream_observation_unique"
            )
        ]
        indexes = [models.Index(fields=["observed_at"], name="weatherstream_obs_time")]

    def __str__(self) -> str:
        return f"{self.location_id} @ {self.observed_at:%Y-%m-%d %H:%M}Z ({self.source})"


class Forecast(models.Model):
    """The latest forecast of one kind for a location, as its source issued it: a new one
    replaces the row (the record of what is coming, not of what was said before)."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="forecasts")
    kind = models.CharField(max_length=8, help_text="hourly or daily")
    issued_at = models.DateTimeField(help_text="UTC time the source issued it")
    fetched_at = models.DateTimeField()
    source = models.CharField(max_length=32, help_text="provider that produced the forecast")
    items = models.JSONField(help_text="the forecast's items, in the protocol's form")

    class Meta:
        ordering = ["location", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["location", "kind"], name="weatherstream_forecast_unique")
        ]

    def __str__(self) -> str:
        return f"{self.location_id} {self.kind} @ {self.issued_at:%Y-%m-%d %H:%M}Z ({self.source})"


class Station(models.Model):
    """A personal weather station that uploads its readings (``manage.py
    weatherstream_station``): its place is its ``location`` (name, coordinates, zone), and
    its readings are observations of that location with the source "station:<id>".

    Keys are kept as SHA-256 digests only (the key is shown once, when made).
    """

    location = models.OneToOneField(
        Location, primary_key=True, on_delete=models.CASCADE, related_name="station"
    )
    key_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the upload key (Weather Underground PASSWORD)"
    )
    passkey_hash = models.CharField(
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        help_text="SHA-256 of the Ecowitt gateway's PASSKEY, if it uploads in that format",
    )
    elevation = models.FloatField(null=True, blank=True, help_text="metres above sea level")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["location__name"]

    def __str__(self) -> str:
        return f"{self.location.name} ({self.location_id})"

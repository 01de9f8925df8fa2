"""Storage: plain synchronous functions over the ORM (call them through sync_to_async)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from .forecasts import Forecast
from .models import Forecast as ForecastRow
from .models import Location, Observation
from .models import Station as StationRow
from .places import STATION_PREFIX, Place
from .readings import MEASUREMENTS, SIMULATED, Reading, is_real
from .stations import Station


def location_get(*, location_id: str) -> Place | None:
    """A stored location as a place, or None."""
    row = Location.objects.filter(id=location_id).first()
    return None if row is None else Place.from_fields(row)


def locations_ensure(*, places: Iterable[Place]) -> None:
    """Store the places that are not stored yet (an existing row is left as it is)."""
    rows = [Location(id=p.id, **p.fields()) for p in places]
    Location.objects.bulk_create(rows, ignore_conflicts=True)


_OBSERVATION_COLUMNS = ("location_id", "observed_at", "fetched_at", "source", *MEASUREMENTS)


def observations_record(
    *, readings: Sequence[tuple[str, Reading]], fetched_at: datetime | None = None
) -> None:
    """Store readings in one transaction; one already stored for (location, observed_at)
    is left as it is, so a replay adds no row.

    On SQLite and PostgreSQL this is one prepared ``INSERT ... ON CONFLICT DO NOTHING``
    run for every row: the poller calls it each interval, and building the ORM's bulk
    INSERT cost more than the fan-out of the readings it stores.
    """
    if not readings:
        return
    fetched_at = fetched_at or timezone.now()
    wanted = {(loc_id, r.observed_at): r for loc_id, r in readings}
    if connection.vendor not in ("sqlite", "postgresql"):
        rows = [
            Observation(
                location_id=loc_id,
                observed_at=observed_at,
                fetched_at=fetched_at,
                source=r.source,
                **{name: getattr(r, name) for name in MEASUREMENTS},
            )
            for (loc_id, observed_at), r in wanted.items()
        ]
        Observation.objects.bulk_create(rows, ignore_conflicts=True)
        return
    ops = connection.ops
    fetched = ops.adapt_datetimefield_value(fetched_at)
    params = [
        (
            loc_id,
            ops.adapt_datetimefield_value(observed_at),
            fetched,
            r.source,
            *(getattr(r, name) for name in MEASUREMENTS),
        )
        for (loc_id, observed_at), r in wanted.items()
    ]
    table = ops.quote_name(Observation._meta.db_table)
    columns = ", ".join(ops.quote_name(c) for c in _OBSERVATION_COLUMNS)
    values = ", ".join(["%s"] * len(_OBSERVATION_COLUMNS))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _of_source(rows: QuerySet[Observation], source: str) -> QuerySet[Observation]:
    """``source``: "any", "real" (every source but the simulated one), or one source."""
    if source == "any":
        return rows
    if source == "real":
        return rows.exclude(source=SIMULATED)
    return rows.filter(source=source)


def observations_store(*, items: Sequence[tuple[Place, Reading]]) -> None:
    """Store readings with their places, in one transaction (a place not stored yet is
    added first); idempotent like :func:`observations_record`."""
    places = {place.id: place for place, _ in items}
    with transaction.atomic():
        locations_ensure(places=places.values())
        observations_record(readings=[(place.id, reading) for place, reading in items])


def observation_latest(*, location_id: str, real: bool = True, simulated: bool = True) -> Reading | None:
    """The latest stored reading of the kinds asked for; a real one before any simulated
    one, whatever their times (readings.supersedes)."""
    rows = Observation.objects.filter(location_id=location_id).order_by("-observed_at")
    kinds = (["real"] if real else []) + ([SIMULATED] if simulated else [])
    for kind in kinds:
        obs = _of_source(rows, kind).first()
        if obs is not None:
            return Reading.from_observation(obs)
    return None


def observations_since(
    *, location_id: str, since: datetime, limit: int, source: str = "any"
) -> list[Reading]:
    rows = Observation.objects.filter(location_id=location_id, observed_at__gte=since)
    newest = _of_source(rows, source).order_by("-observed_at")[:limit]
    return [Reading.from_observation(o) for o in reversed(newest)]


def observations_after(
    *, location_id: str, after: datetime, limit: int, real: bool = True, simulated: bool = True
) -> list[Reading]:
    """The first ``limit`` stored readings observed after ``after``, oldest first, of the
    kinds asked for (a subscribe's replay)."""
    rows = Observation.objects.filter(location_id=location_id, observed_at__gt=after)
    if not simulated:
        rows = _of_source(rows, "real")
    if not real:
        rows = _of_source(rows, SIMULATED)
    return [Reading.from_observation(o) for o in rows.order_by("observed_at")[:limit]]


def observations_prune(*, older_than: timedelta) -> int:
    """Delete observations older than the retention, keeping each location's latest."""
    cutoff = timezone.now() - older_than
    newest = Observation.objects.filter(location_id=OuterRef("location_id")).order_by("-observed_at")
    old = Observation.objects.filter(observed_at__lt=cutoff).exclude(pk=Subquery(newest.values("pk")[:1]))
    deleted, _ = old.delete()
    return deleted


def points_prune(*, older_than: timedelta, keep: Iterable[str] = ()) -> int:
    """Delete point locations ("lat,lon" ids) with no observation newer than the retention
    and older than it themselves, with their observations; cities stay. ``keep``: ids
    watched now. Returns how many locations went."""
    cutoff = timezone.now() - older_than
    recent = Observation.objects.filter(location_id=OuterRef("pk"), observed_at__gte=cutoff)
    stale = (
        Location.objects.filter(id__contains=",", created_at__lt=cutoff)
        .exclude(id__in=list(keep))
        .exclude(Exists(recent))
    )
    ids = list(stale.values_list("id", flat=True)[:10000])
    Location.objects.filter(id__in=ids).delete()
    return len(ids)


def forecasts_store(*, items: Sequence[tuple[Place, Forecast]], fetched_at: datetime | None = None) -> None:
    """Store each place's forecast of its kind in one transaction, replacing the one
    stored (a place not stored yet is added first)."""
    if not items:
        return
    fetched_at = fetched_at or timezone.now()
    rows = {
        (place.id, f.kind): ForecastRow(
            location_id=place.id,
            kind=f.kind,
            issued_at=f.issued_at,
            fetched_at=fetched_at,
            source=f.source,
            items=list(f.items),
        )
        for place, f in items
    }
    with transaction.atomic():
        locations_ensure(places={place.id: place for place, _ in items}.values())
        ForecastRow.objects.bulk_create(
            rows.values(),
            update_conflicts=True,
            unique_fields=["location", "kind"],
            update_fields=["issued_at", "fetched_at", "source", "items"],
        )


def forecast_latest(
    *, location_id: str, kind: str, real: bool = True, simulated: bool = True
) -> Forecast | None:
    """The stored forecast of a place and kind, if it is of a kind of source asked for."""
    row = ForecastRow.objects.filter(location_id=location_id, kind=kind).first()
    if row is None or not (real if is_real(row.source) else simulated):
        return None
    return Forecast.from_items(row.kind, row.issued_at.astimezone(UTC), row.source, row.items)


def _station(row: StationRow) -> Station:
    return Station(
        place=Place.from_fields(row.location),
        key_hash=row.key_hash,
        elevation=row.elevation,
        has_passkey=row.passkey_hash is not None,
        created_at=row.created_at,
    )


def station_create(
    *, place: Place, key_hash: str, passkey_hash: str | None = None, elevation: float | None = None
) -> Station:
    """Register a station at its place (a new Location row with the station's id);
    IntegrityError when the id or the PASSKEY is taken."""
    with transaction.atomic():
        location = Location.objects.create(id=place.id, **place.fields())
        row = StationRow.objects.create(
            location=location, key_hash=key_hash, passkey_hash=passkey_hash, elevation=elevation
        )
    return _station(row)


def station_get(*, station_id: str) -> Station | None:
    row = StationRow.objects.select_related("location").filter(location_id=station_id).first()
    return None if row is None else _station(row)


def station_by_passkey(*, passkey_hash: str) -> Station | None:
    row = StationRow.objects.select_related("location").filter(passkey_hash=passkey_hash).first()
    return None if row is None else _station(row)


def stations_list() -> list[Station]:
    return [_station(row) for row in StationRow.objects.select_related("location")]


def station_rotate_key(*, station_id: str, key_hash: str) -> bool:
    """Replace a station's key; False when there is no such station."""
    return StationRow.objects.filter(location_id=station_id).update(key_hash=key_hash) == 1


def station_set_passkey(*, station_id: str, passkey_hash: str | None) -> bool:
    """Set (a digest) or clear (None) a station's Ecowitt PASSKEY; False when there is no
    such station, IntegrityError when another station has it."""
    with transaction.atomic():  # a savepoint: a taken PASSKEY leaves the caller's transaction usable
        return StationRow.objects.filter(location_id=station_id).update(passkey_hash=passkey_hash) == 1


def station_remove(*, station_id: str) -> bool:
    """Delete a station with its location, readings and forecasts; False when none."""
    deleted, _ = Location.objects.filter(id=station_id, station__isnull=False).delete()
    return bool(deleted)


def stations_search(*, query: str, limit: int) -> list[Place]:
    """Stations whose name contains ``query`` (any case), by name."""
    rows = Location.objects.filter(
        id__startswith=STATION_PREFIX, station__isnull=False, name__icontains=query
    ).order_by("name")[:limit]
    return [Place.from_fields(row) for row in rows]

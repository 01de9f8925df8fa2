"""``manage.py weatherstream_station``: register, list, re-key and remove weather stations.

    manage.py weatherstream_station add "Garden" --lat 52.52 --lon 13.40 [--elevation 34]
                                        [--passkey <Ecowitt PASSKEY>] [--json]
    manage.py weatherstream_station list [--json]
    manage.py weatherstream_station rotate-key <id> [--json]
    manage.py weatherstream_station passkey <id> <PASSKEY> | --clear
    manage.py weatherstream_station remove <id> [--noinput]

A key is printed once, when it is made; only its digest is stored (docs/stations.md).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from weatherstream import services, stations
from weatherstream.conf import get_config
from weatherstream.geocoding import load_geocoders
from weatherstream.places import Place, PlaceError, clean_name, coordinates

MAX_PASSKEY_LENGTH = 64


class Command(BaseCommand):
    help = "Register, list, re-key and remove the personal weather stations that upload here."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(
            dest="action", required=True, metavar="{add,list,rotate-key,passkey,remove}"
        )
        add = commands.add_parser("add", help="Register a station; prints its id and key.")
        add.add_argument("name", help='What the station is called, e.g. "Garden".')
        add.add_argument("--lat", type=float, required=True, help="Latitude, degrees north.")
        add.add_argument("--lon", type=float, required=True, help="Longitude, degrees east.")
        add.add_argument("--elevation", type=float, help="Metres above sea level.")
        add.add_argument("--passkey", help="The Ecowitt gateway's PASSKEY, if it uploads in that format.")
        add.add_argument("--json", action="store_true", help='Print only {"id": ..., "key": ...}.')
        listing = commands.add_parser("list", help="The registered stations (never their keys).")
        listing.add_argument("--json", action="store_true", help="Print them as a JSON list.")
        rotate = commands.add_parser(
            "rotate-key", help="Give a station a new key; the old one stops working."
        )
        rotate.add_argument("id")
        rotate.add_argument("--json", action="store_true", help='Print only {"id": ..., "key": ...}.')
        passkey = commands.add_parser(
            "passkey", help="Set (a new gateway) or clear a station's Ecowitt PASSKEY."
        )
        passkey.add_argument("id")
        which = passkey.add_mutually_exclusive_group(required=True)
        which.add_argument("passkey", nargs="?", help="The gateway's PASSKEY.")
        which.add_argument("--clear", action="store_true", help="No Ecowitt uploads for this station.")
        remove = commands.add_parser("remove", help="Remove a station with all its readings.")
        remove.add_argument("id")
        remove.add_argument("--noinput", "--no-input", action="store_false", dest="interactive")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "add":
            self.add(options)
        elif action == "list":
            self.list(options)
        elif action == "rotate-key":
            self.rotate(options)
        elif action == "passkey":
            self.passkey(options)
        else:
            self.remove(options)

    def add(self, options: dict[str, Any]) -> None:
        try:
            name = clean_name(options["name"])
            lat, lon = coordinates(options["lat"], options["lon"])
        except PlaceError as exc:
            raise CommandError(str(exc)) from None
        elevation = options["elevation"]
        if elevation is not None and not -500.0 <= elevation <= 9000.0:
            raise CommandError("--elevation must be between -500 and 9000 metres.")
        passkey = self._passkey(options["passkey"])
        place = self._place(stations.new_id(), name, lat, lon)
        key = stations.new_key()
        try:
            services.station_create(
                place=place,
                key_hash=stations.digest(key),
                passkey_hash=stations.passkey_digest(passkey) if passkey else None,
                elevation=elevation,
            )
        except IntegrityError:
            raise CommandError("Another station is registered with that PASSKEY.") from None
        self._show_key(place.id, key, options["json"], f"Registered the weather station '{name}'.")

    @staticmethod
    def _passkey(passkey: str | None) -> str | None:
        if passkey is not None and not 0 < len(passkey.strip()) <= MAX_PASSKEY_LENGTH:
            raise CommandError(f"A PASSKEY is 1 to {MAX_PASSKEY_LENGTH} characters.")
        return passkey

    @staticmethod
    def _place(station_id: str, name: str, lat: float, lon: float) -> Place:
        """The station's place: its own coordinates, the country, region and time zone of
        the point there (the geocoders' description, as for any coordinate place)."""
        geocoders = load_geocoders(get_config())
        geocoders.load()
        around = geocoders.at(lat, lon)
        return Place(
            id=station_id,
            latitude=lat,
            longitude=lon,
            name=name,
            country=around.country,
            region=around.region,
            timezone=around.timezone,
        )

    def _show_key(self, station_id: str, key: str, as_json: bool, headline: str) -> None:
        if as_json:
            self.stdout.write(json.dumps({"id": station_id, "key": key}))
            return
        self.stdout.write(self.style.SUCCESS(headline))
        self.stdout.write(f"  id:  {station_id}\n  key: {key}")
        self.stdout.write(
            "Set them on the station as its Weather Underground station ID and key (or, for an\n"
            "Ecowitt upload, register its PASSKEY). The key is shown only now."
        )

    def list(self, options: dict[str, Any]) -> None:
        found = services.stations_list()
        if options["json"]:
            rows = [
                {
                    **s.place.as_dict(),
                    "elevation": s.elevation,
                    "passkey": s.has_passkey,
                    "created_at": s.created_at.isoformat() if s.created_at else None,
                }
                for s in found
            ]
            self.stdout.write(json.dumps(rows))
            return
        if not found:
            self.stdout.write("No weather station is registered (add one: weatherstream_station add).")
            return
        for s in found:
            place = s.place
            where = f"{place.latitude:.4f}, {place.longitude:.4f}"
            if s.elevation is not None:
                where += f", {s.elevation:g} m"
            extra = "  (Ecowitt PASSKEY)" if s.has_passkey else ""
            self.stdout.write(f"{place.id}  {place.name}  ({where}; {place.region or place.country}){extra}")

    def _existing(self, station_id: str) -> stations.Station:
        found = services.station_get(station_id=station_id.strip().lower())
        if found is None:
            raise CommandError(f"No weather station has the id '{station_id}'.")
        return found

    def rotate(self, options: dict[str, Any]) -> None:
        station = self._existing(options["id"])
        key = stations.new_key()
        services.station_rotate_key(station_id=station.id, key_hash=stations.digest(key))
        self._show_key(station.id, key, options["json"], f"New key for '{station.place.name}'.")

    def passkey(self, options: dict[str, Any]) -> None:
        station = self._existing(options["id"])
        passkey = None if options["clear"] else self._passkey(options["passkey"])
        digest = stations.passkey_digest(passkey) if passkey else None
        try:
            services.station_set_passkey(station_id=station.id, passkey_hash=digest)
        except IntegrityError:
            raise CommandError("Another station is registered with that PASSKEY.") from None
        done = (
            "no longer takes Ecowitt uploads" if digest is None else "takes Ecowitt uploads with that PASSKEY"
        )
        self.stdout.write(f"'{station.place.name}' ({station.id}) {done}.")

    def remove(self, options: dict[str, Any]) -> None:
        station = self._existing(options["id"])
        if options["interactive"]:
            try:
                answer = input(
                    f"Remove '{station.place.name}' ({station.id}) and all its readings? Type 'yes': "
                )
            except EOFError:  # no terminal to answer from
                raise CommandError(
                    "Nothing removed: no answer (use --noinput to remove without asking)."
                ) from None
            if answer.strip() != "yes":
                raise CommandError("Nothing removed.")
        services.station_remove(station_id=station.id)
        self.stdout.write(f"Removed the weather station '{station.place.name}' ({station.id}).")

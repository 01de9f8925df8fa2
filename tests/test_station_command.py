"""``manage.py weatherstream_station``: add, list, rotate-key, passkey, remove."""

import io
import json
from datetime import UTC, datetime

import pytest
from channels.db import database_sync_to_async
from django.core.management import CommandError, ManagementUtility, call_command
from django.test import AsyncClient, override_settings

from tests.conftest import stop_engine
from weatherstream import services, stations
from weatherstream.conf import get_config
from weatherstream.models import Location, Observation, Station
from weatherstream.places import Place
from weatherstream.readings import Reading

pytestmark = pytest.mark.django_db

PASSKEY = "34271334ED1FADA6D8B988B14267E55D"  # an EasyWeather console's (tests/fixtures/stations)


def run(*args) -> str:
    out = io.StringIO()
    call_command("weatherstream_station", *args, stdout=out)
    return out.getvalue()


def add(*args) -> dict:
    return json.loads(run("add", "Garden", "--lat", "52.52", "--lon", "13.40", "--json", *args))


# -- add ------------------------------------------------------------------------------------------


def test_add_prints_the_id_and_key_once_and_stores_only_the_keys_digest():
    out = run("add", "Garden", "--lat", "52.52", "--lon", "13.40", "--elevation", "34")
    assert "Registered the weather station 'Garden'." in out
    [station_id] = [line.split()[-1] for line in out.splitlines() if line.strip().startswith("id:")]
    [key] = [line.split()[-1] for line in out.splitlines() if line.strip().startswith("key:")]
    assert stations.key_matches(key, stations.digest(key)) and len(key) == 20
    row = Station.objects.select_related("location").get()
    assert row.location_id == station_id and station_id.startswith("st-")
    assert row.key_hash == stations.digest(key) != key
    assert row.passkey_hash is None and row.elevation == 34.0
    location = row.location
    assert (location.name, location.latitude, location.longitude) == ("Garden", 52.52, 13.40)
    assert (location.country, location.timezone) == ("DE", "Europe/Berlin")  # the point's, as for any place
    stored = [str(value) for value in Station.objects.values_list().get()]
    stored += [str(value) for value in Location.objects.values_list().get()]
    assert not any(key in value for value in stored), "the key itself is kept nowhere"


def test_add_json_prints_exactly_one_json_object_with_the_id_and_key():
    out = run("add", "Garden", "--lat", "52.52", "--lon", "13.40", "--json")
    assert out.count("\n") == 1 and out.endswith("}\n")
    shown = json.loads(out)
    assert set(shown) == {"id", "key"}
    row = Station.objects.get()
    assert row.location_id == shown["id"] and row.key_hash == stations.digest(shown["key"])


def test_add_with_a_passkey_stores_its_digest_found_in_any_case():
    shown = add("--passkey", "34271334ed1fada6d8b988b14267e55d")
    row = Station.objects.get()
    assert row.passkey_hash == stations.passkey_digest("34271334ED1FADA6D8B988B14267E55D")
    found = services.station_by_passkey(
        passkey_hash=stations.passkey_digest("34271334ED1FADA6D8B988B14267E55D")
    )
    assert found is not None and found.id == shown["id"] and found.has_passkey


def test_each_station_gets_its_own_id_and_key():
    first, second = add(), add()
    assert first["id"] != second["id"] and first["key"] != second["key"]
    assert Station.objects.count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Garden", "--lat", "95", "--lon", "13.40"], "'lat' must be between -90 and 90."),
        (["Garden", "--lat", "52.52", "--lon", "181"], "'lon' must be between -180 and 180."),
        (["Garden", "--lat", "nan", "--lon", "13.40"], "'lat' must be between -90 and 90."),
        (["", "--lat", "52.52", "--lon", "13.40"], "Please enter a place name."),
        (["   ", "--lat", "52.52", "--lon", "13.40"], "Please enter a place name."),
        (["x" * 201, "--lat", "52.52", "--lon", "13.40"], "Place names are at most 200 characters long."),
        (
            ["Garden", "--lat", "52.52", "--lon", "13.40", "--elevation", "9001"],
            "--elevation must be between",
        ),
        (
            ["Garden", "--lat", "52.52", "--lon", "13.40", "--passkey", " "],
            "A PASSKEY is 1 to 64 characters.",
        ),
        (["Garden", "--lat", "52.52", "--lon", "13.40", "--passkey", "A" * 65], "A PASSKEY is 1 to 64"),
        (["Garden", "--lat", "north", "--lon", "13.40"], "argument --lat: invalid float value: 'north'"),
    ],
)
def test_bad_input_is_a_command_error_saying_what_is_wrong(args, message):
    with pytest.raises(CommandError) as refused:
        run("add", *args)
    assert message in str(refused.value)
    assert not Station.objects.exists() and not Location.objects.exists()


def test_a_passkey_registered_already_is_refused_in_any_case():
    add("--passkey", PASSKEY)
    with pytest.raises(CommandError, match="^Another station is registered with that PASSKEY.$"):
        add("--passkey", " 34271334ed1fada6d8b988b14267e55d ")
    assert Station.objects.count() == 1 and Location.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "Garden", "--lat", "95", "--lon", "1"], "'lat' must be between -90 and 90."),
        (["add", "", "--lat", "52.52", "--lon", "13.40"], "Please enter a place name."),
        (["add", "Shed", "--lat", "52.52", "--lon", "13.40", "--passkey", PASSKEY.lower()],
         "Another station is registered with that PASSKEY."),
        (["remove", "st-000000000000", "--noinput"], "No weather station has the id 'st-000000000000'."),
    ],
)  # fmt: skip
def test_from_the_command_line_an_error_is_one_line_without_a_traceback(capsys, args, message):
    run("add", "Garden", "--lat", "52.52", "--lon", "13.40", "--passkey", PASSKEY)
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        ManagementUtility(["manage.py", "weatherstream_station", *args]).execute()
    assert ended.value.code == 1
    captured = capsys.readouterr()
    assert captured.err == f"CommandError: {message}\n" and captured.out == ""
    assert Station.objects.count() == 1


# -- list ------------------------------------------------------------------------------------------


def test_list_names_the_stations_never_their_keys():
    assert "No weather station is registered" in run("list")
    garden = add("--elevation", "34", "--passkey", "34271334ED1FADA6D8B988B14267E55D")
    roof = json.loads(run("add", "Roof", "--lat", "48.8566", "--lon", "2.3522", "--json"))
    out = run("list")
    lines = out.splitlines()
    assert len(lines) == 2
    assert (
        lines[0].startswith(f"{garden['id']}  Garden  (52.5200, 13.4000, 34 m; ")
        and "(Ecowitt PASSKEY)" in lines[0]
    )
    assert lines[1].startswith(f"{roof['id']}  Roof  (48.8566, 2.3522; ") and "PASSKEY" not in lines[1]
    listed = json.loads(run("list", "--json"))
    assert [s["id"] for s in listed] == [garden["id"], roof["id"]]
    assert listed[0]["elevation"] == 34.0 and listed[0]["passkey"] is True and listed[1]["passkey"] is False
    assert listed[0]["lat"] == 52.52 and listed[0]["name"] == "Garden" and listed[0]["created_at"]
    for text in (out, run("list", "--json")):
        for secret in (
            garden["key"],
            roof["key"],
            stations.digest(garden["key"]),
            stations.digest(roof["key"]),
        ):
            assert secret not in text
        assert stations.passkey_digest("34271334ED1FADA6D8B988B14267E55D") not in text
        assert "34271334ED1FADA6D8B988B14267E55D" not in text


# -- rotate-key ------------------------------------------------------------------------------------


def test_rotate_key_replaces_the_stored_digest():
    shown = add()
    rotated = json.loads(run("rotate-key", shown["id"], "--json"))
    assert rotated["id"] == shown["id"] and rotated["key"] != shown["key"]
    assert Station.objects.get().key_hash == stations.digest(rotated["key"])
    out = run("rotate-key", shown["id"].upper())
    assert "New key for 'Garden'." in out and "key: " in out
    with pytest.raises(CommandError, match="^No weather station has the id 'st-000000000000'.$"):
        run("rotate-key", "st-000000000000")


@pytest.mark.django_db(transaction=True)
async def test_after_rotate_key_the_upload_view_refuses_the_old_key_and_takes_the_new():
    client = AsyncClient()
    upload = "/weatherstation/updateweatherstation.php"
    try:
        with override_settings(WEATHERSTREAM={**get_config(), "STATION_MIN_INTERVAL": 0}):
            shown = await database_sync_to_async(add)()
            old = {
                "ID": shown["id"],
                "PASSWORD": shown["key"],
                "tempf": "50",
                "dateutc": "2026-01-01 00:00:00",
            }
            assert (await client.get(upload, old)).content == b"success\n"
            out = await database_sync_to_async(run)("rotate-key", shown["id"], "--json")
            new = {**old, "PASSWORD": json.loads(out)["key"], "dateutc": "2026-01-01 00:01:00"}
            refused = await client.get(upload, {**old, "dateutc": "2026-01-01 00:01:00"})
            assert refused.status_code == 401
            taken = await client.get(upload, new)
            assert taken.status_code == 200 and taken.content == b"success\n"
    finally:
        await stop_engine()


# -- remove -----------------------------------------------------------------------------------------


def stored_readings(station_id):
    when = datetime(2026, 1, 1, tzinfo=UTC)
    reading = Reading(observed_at=when, source=f"station:{station_id}", temperature=1.0)
    services.observations_record(readings=[(station_id, reading)])


def test_remove_deletes_the_station_with_its_readings_and_nothing_else():
    garden, roof = add(), add()
    stored_readings(garden["id"])
    stored_readings(roof["id"])
    out = run("remove", garden["id"], "--noinput")
    assert out == f"Removed the weather station 'Garden' ({garden['id']}).\n"
    assert list(Station.objects.values_list("location_id", flat=True)) == [roof["id"]]
    assert not Location.objects.filter(id=garden["id"]).exists()
    assert list(Observation.objects.values_list("location_id", flat=True)) == [roof["id"]]
    with pytest.raises(CommandError, match="^No weather station has the id"):
        run("remove", garden["id"], "--noinput")


def test_remove_asks_first(monkeypatch):
    garden = add()
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="^Nothing removed.$"):
        run("remove", garden["id"])
    assert Station.objects.exists()
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "yes")
    run("remove", garden["id"])
    assert not Station.objects.exists()
    assert asked == [f"Remove 'Garden' ({garden['id']}) and all its readings? Type 'yes': "]


def test_remove_does_not_remove_a_place_that_is_not_a_station():
    berlin = Place(id="2950159", latitude=52.52, longitude=13.41, name="Berlin")
    services.locations_ensure(places=[berlin])
    with pytest.raises(CommandError):
        run("remove", "2950159", "--noinput")
    assert Location.objects.filter(id="2950159").exists()


def test_remove_without_a_terminal_to_answer_removes_nothing_and_says_why(monkeypatch):
    garden = add()

    def no_terminal(prompt):
        raise EOFError

    monkeypatch.setattr("builtins.input", no_terminal)
    with pytest.raises(CommandError, match=r"^Nothing removed: no answer \(use --noinput"):
        run("remove", garden["id"])
    assert Station.objects.exists()


# -- passkey -----------------------------------------------------------------------------------------


def test_passkey_sets_replaces_and_clears_a_stations_ecowitt_passkey():
    garden = add()
    assert run("passkey", garden["id"], PASSKEY) == (
        f"'Garden' ({garden['id']}) takes Ecowitt uploads with that PASSKEY.\n"
    )
    found = services.station_by_passkey(passkey_hash=stations.passkey_digest(PASSKEY.lower()))
    assert found is not None and found.id == garden["id"]
    run("passkey", garden["id"], "AAAABBBBCCCCDDDDEEEEFFFF00001111")  # a new gateway
    assert services.station_by_passkey(passkey_hash=stations.passkey_digest(PASSKEY)) is None
    roof = add()
    with pytest.raises(CommandError, match="^Another station is registered with that PASSKEY.$"):
        run("passkey", roof["id"], "aaaabbbbccccddddeeeeffff00001111")
    assert (
        run("passkey", garden["id"], "--clear")
        == f"'Garden' ({garden['id']}) no longer takes Ecowitt uploads.\n"
    )
    assert Station.objects.get(location_id=garden["id"]).passkey_hash is None
    with pytest.raises(CommandError, match="^A PASSKEY is 1 to 64 characters.$"):
        run("passkey", garden["id"], "  ")

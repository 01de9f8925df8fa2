"""Station uploads read into readings (weatherstream.uploads), with real uploads.

The parameter sets are devices' own uploads as captured by other projects
(tests/fixtures/stations/README.md). Every expected value is worked out by hand from the
upload, in our units: °C = (°F − 32) × 5/9, km/h = mph × 1.609344, hPa = inHg ×
33.8639, mm = in × 25.4, each rounded to 0.01 as stored.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from weatherstream import uploads
from weatherstream.places import Place
from weatherstream.readings import Reading
from weatherstream.uploads import ECOWITT, WUNDERGROUND, UploadError, read

FIXTURES = Path(__file__).parent / "fixtures" / "stations"

BERLIN = Place(id="st-0123456789ab", latitude=52.52, longitude=13.40, name="Garden")
DENVER = Place(id="st-00000000d3e4", latitude=39.74, longitude=-104.99, name="Mile High")
SAN_FRANCISCO = Place(id="st-0000000005f0", latitude=37.77, longitude=-122.42, name="KCASANFR5")


def load_upload(name: str) -> dict[str, str]:
    """A captured upload's parameters as a server reads them: one text value each
    (a ``.query`` or ``.form`` file holds the URL-encoded text the device sent)."""
    path = FIXTURES / name
    if path.suffix == ".json":
        return {key: str(value) for key, value in json.loads(path.read_text()).items()}
    return dict(parse_qsl(path.read_text().strip(), keep_blank_values=True))


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def expected(place: Place, when: str, **values) -> Reading:
    """The whole reading: whatever is not named here must stay empty (no weather code,
    summary, cloud cover or "feels like" from a station)."""
    return Reading(observed_at=at(when), source=f"station:{place.id}", **values)


# -- Weather Underground's format: real uploads ----------------------------------------------


def test_the_protocols_own_example_in_our_units():
    upload = read(load_upload("wunderground_protocol_example.query"), WUNDERGROUND, station=SAN_FRANCISCO)
    assert upload.reading == expected(
        SAN_FRANCISCO,
        "2000-01-01 10:32:35",  # dateutc=2000-01-01+10%3A32%3A35
        temperature=21.11,  # tempf=70: 38 × 5/9
        humidity=90.0,
        wind_speed=19.31,  # windspeedmph=12: 12 × 1.609344 = 19.312
        wind_gusts=19.31,  # windgustmph=12
        wind_direction=230.0,
        precipitation=0.0,  # rainin=0
        pressure=985.44,  # baromin=29.1: 29.1 × 33.8639 = 985.44
        is_day=False,  # 02:32 in San Francisco
    )
    assert upload.dropped == ()  # dewptf, weather=, clouds=, softwaretype, action: ignored


def test_a_weather_logger_upload_with_unpadded_dateutc():
    upload = read(load_upload("wunderground_weather_logger_v2_1_9.query"), WUNDERGROUND, station=BERLIN)
    assert upload.reading == expected(
        BERLIN,
        "2016-01-04 21:02:35",  # dateutc=2016-1-4 21:2:35
        temperature=6.28,  # tempf=43.3: 11.3 × 5/9 = 6.278
        humidity=98.0,
        wind_speed=0.0,
        wind_gusts=0.0,
        wind_direction=129.0,
        precipitation=0.0,
        pressure=983.75,  # baromin=29.05: 29.05 × 33.8639 = 983.746
        is_day=False,
    )
    assert upload.dropped == ()


def test_sensors_a_device_lacks_are_minus_9999_and_simply_missing():
    upload = read(
        load_upload("wunderground_weather_logger_v3_0_7_sensors_missing.query"), WUNDERGROUND, station=BERLIN
    )
    assert upload.reading == expected(
        BERLIN,
        "2016-05-10 02:34:15",
        precipitation=0.0,  # rainin=0.00
        pressure=1013.88,  # baromin=29.94: 29.94 × 33.8639 = 1013.885
        is_day=False,
    )
    assert upload.dropped == (), "a -9999 is a sensor the device lacks, not a bad value"


def test_an_easyweather_console_uploading_in_the_wunderground_format():
    upload = read(load_upload("wunderground_easyweather_hp2550.query"), WUNDERGROUND, station=BERLIN)
    assert upload.reading == expected(
        BERLIN,
        "2019-06-16 01:05:39",
        temperature=12.89,  # tempf=55.2: 23.2 × 5/9 = 12.889
        humidity=88.0,
        wind_speed=3.22,  # 2.0 mph = 3.219
        wind_gusts=3.54,  # 2.2 mph = 3.541
        wind_direction=25.0,
        precipitation=0.0,
        pressure=1006.74,  # baromin=29.729: 1006.743 (absbaromin is not read)
        is_day=False,
    )


def test_an_observer_ip_upload_at_now():
    now = datetime(2026, 7, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    upload = read(load_upload("wunderground_observerip.json"), WUNDERGROUND, station=BERLIN, now=now)
    assert upload.reading == expected(
        BERLIN,
        "2026-07-01 12:00:00",  # dateutc=now: the server's time, to the second
        temperature=31.9,  # tempf=89.42: 57.42 × 5/9 = 31.9
        humidity=54.0,
        wind_speed=0.0,
        wind_gusts=14.76,  # 9.17 mph = 14.758
        wind_direction=269.0,
        precipitation=0.0,
        pressure=1020.49,  # baromin=30.135: 1020.488
        is_day=True,
    )


# -- Ecowitt's "customized" format: real uploads ---------------------------------------------


def test_an_easyweather_console():
    upload = read(load_upload("ecowitt_easyweather_hp3500.json"), ECOWITT, station=BERLIN)
    assert upload.reading == expected(
        BERLIN,
        "2020-05-04 14:34:26",
        temperature=21.28,  # tempf=70.3: 38.3 × 5/9 = 21.278
        humidity=32.0,
        wind_speed=0.64,  # 0.4 mph = 0.644
        wind_gusts=1.77,  # 1.1 mph = 1.770
        wind_direction=200.0,
        pressure=967.93,  # baromrelin=28.583: 967.932
        is_day=True,
    )  # no hourlyrainin: no precipitation (rainratein, eventrainin, dailyrainin are not it)
    assert upload.dropped == ()


def test_a_gw2000a_gateway_with_a_piezo_rain_gauge():
    upload = read(load_upload("ecowitt_gw2000a.json"), ECOWITT, station=BERLIN)
    assert upload.reading == expected(
        BERLIN,
        "2022-07-15 15:26:14",
        temperature=30.6,  # tempf=87.08: 55.08 × 5/9 = 30.6
        humidity=34.0,
        wind_speed=4.68,  # 2.91 mph = 4.683
        wind_gusts=5.04,  # 3.13 mph = 5.037
        wind_direction=289.0,
        pressure=944.29,  # baromrelin=27.885: 944.294
        precipitation=0.0,  # hrain_piezo=0.000: its piezo gauge's past hour (no hourlyrainin)
        is_day=True,
    )


def test_a_piezo_gauges_hour_is_read_only_without_hourlyrainin():
    piezo = read({"hrain_piezo": "0.126"}, ECOWITT, station=BERLIN)
    assert piezo.reading.precipitation == 3.2
    both = read({"hrain_piezo": "0.126", "hourlyrainin": "0.5"}, ECOWITT, station=BERLIN)
    assert both.reading.precipitation == 12.7  # 0.5 in, the tipping bucket's
    assert (
        read({"tempf": "50", "hrain_piezo": "0.126"}, WUNDERGROUND, station=BERLIN).reading.precipitation
        is None
    )
    assert read({"tempf": "50", "hrain_piezo": "99"}, ECOWITT, station=BERLIN).dropped == ("hrain_piezo",)


def test_a_wn1980b_console_with_extra_sensors():
    upload = read(load_upload("ecowitt_wn1980b.json"), ECOWITT, station=BERLIN)
    assert upload.reading == expected(
        BERLIN,
        "2024-01-26 16:50:11",
        temperature=17.3,  # tempf=63.14: 31.14 × 5/9 = 17.3 (temp1f, tf_co2: other sensors)
        humidity=93.0,
        wind_speed=0.72,  # 0.45 mph = 0.724
        wind_gusts=1.8,  # 1.12 mph = 1.802
        wind_direction=56.0,
        precipitation=0.0,  # hourlyrainin=0.000 (not eventrainin=1.035)
        pressure=1023.2,  # baromrelin=30.215: 1023.197 (not baromabsin=29.111)
        is_day=False,
    )


def test_a_ws2900_station():
    upload = read(load_upload("ecowitt_ws2900.json"), ECOWITT, station=BERLIN)
    assert upload.reading == expected(
        BERLIN,
        "2021-08-17 00:15:59",
        temperature=14.0,  # tempf=57.2: 25.2 × 5/9 = 14.0
        humidity=87.0,
        wind_speed=11.1,  # 6.9 mph = 11.105
        wind_gusts=14.81,  # 9.2 mph = 14.806
        wind_direction=271.0,
        precipitation=0.0,
        pressure=1010.13,  # baromrelin=29.829: 1010.134
        is_day=False,
    )


def test_an_ambient_weather_station_posting_with_a_plus_in_dateutc():
    upload = read(load_upload("ecowitt_ambweather_v4_0_2.form"), ECOWITT, station=BERLIN)
    assert upload.reading == expected(
        BERLIN,
        "2018-06-20 13:39:00",  # dateutc=2018-06-20+13:39:00 in the form body
        temperature=20.61,  # tempf=69.1: 37.1 × 5/9 = 20.611
        humidity=61.0,
        wind_speed=2.9,  # 1.8 mph = 2.897
        wind_gusts=3.54,  # 2.2 mph = 3.541
        wind_direction=169.0,
        precipitation=0.0,
        pressure=1012.19,  # baromrelin=29.89: 1012.192
        is_day=True,
    )


def test_an_ambient_weather_station_at_altitude():
    upload = read(load_upload("ecowitt_ambweather_v4_3_4.json"), ECOWITT, station=DENVER, elevation=1500)
    assert upload.reading == expected(
        DENVER,
        "2022-11-26 22:25:29",
        temperature=12.11,  # tempf=53.8: 21.8 × 5/9 = 12.111
        humidity=30.0,
        wind_speed=7.24,  # 4.5 mph = 7.242
        wind_gusts=11.1,  # 6.9 mph = 11.105
        wind_direction=99.0,
        precipitation=0.0,
        pressure=1002.91,  # the station's relative pressure, 29.616 inHg; its elevation is not used
        is_day=True,
    )


def test_an_uncalibrated_gw1000_pressure_is_dropped_and_named_the_rest_kept():
    # 24.740 inHg is 837.79 hPa: station pressure sent as sea-level pressure, below 850.
    params = load_upload("ecowitt_gw1000b_pro.json")
    upload = read(params, ECOWITT, station=DENVER)
    assert upload.reading == expected(
        DENVER,
        "2022-05-27 19:08:10",
        temperature=34.0,  # tempf=93.2: 61.2 × 5/9 = 34.0
        humidity=64.0,
        wind_speed=33.62,  # 20.89 mph = 33.619
        wind_gusts=1.8,  # 1.12 mph = 1.802
        wind_direction=139.0,
        precipitation=0.0,
        is_day=True,
    )
    assert upload.dropped == ("baromrelin",)
    # With the station's elevation, its absolute pressure is brought to sea level instead.
    high = read(params, ECOWITT, station=DENVER, elevation=1650)
    assert high.reading.pressure == 1003.45  # 837.79 × (1 − 10.725 / (34.0 + 10.725 + 273.15))^−5.257
    assert high.dropped == ("baromrelin",)


# -- units --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("convert", "value", "ours"),
    [
        (uploads.fahrenheit, 32.0, 0.0),
        (uploads.fahrenheit, 212.0, 100.0),
        (uploads.fahrenheit, -40.0, -40.0),
        (uploads.mph, 1.0, 1.609344),  # the international mile
        (uploads.mph, 100.0, 160.9344),
        (uploads.inches, 1.0, 25.4),
        (uploads.inches_of_mercury, 1.0, 33.8639),
        (uploads.inches_of_mercury, 29.92126, 1013.25),  # the standard atmosphere
    ],
)
def test_units(convert, value, ours):
    assert convert(value) == pytest.approx(ours, abs=1e-3)


def test_each_format_reads_its_own_rain_and_pressure_parameters():
    wu = read(
        {"rainin": "0.126", "baromin": "30", "hourlyrainin": "1", "baromrelin": "29"},
        WUNDERGROUND,
        station=BERLIN,
    )
    assert wu.reading.precipitation == 3.2  # 0.126 in = 3.2004 mm
    assert wu.reading.pressure == 1015.92  # 30 inHg = 1015.917 hPa
    ecowitt = read(
        {"rainin": "1", "baromin": "29", "hourlyrainin": "0.126", "baromrelin": "30"}, ECOWITT, station=BERLIN
    )
    assert ecowitt.reading.precipitation == 3.2 and ecowitt.reading.pressure == 1015.92


# -- plausible values: each bound -------------------------------------------------------------

BASE = {
    "tempf": "50",  # 10.0 °C
    "humidity": "50",
    "windspeedmph": "5",  # 8.05 km/h
    "windgustmph": "10",  # 16.09 km/h
    "winddir": "180",
    "rainin": "0.1",  # 2.54 mm
    "baromin": "30",  # 1015.92 hPa
}
BASE_READING = {
    "temperature": 10.0,
    "humidity": 50.0,
    "wind_speed": 8.05,
    "wind_gusts": 16.09,
    "wind_direction": 180.0,
    "precipitation": 2.54,
    "pressure": 1015.92,
}


@pytest.mark.parametrize(
    ("parameter", "field", "value", "ours"),
    [
        ("tempf", "temperature", "-148", -100.0),  # (−148 − 32) × 5/9
        ("tempf", "temperature", "158", 70.0),
        ("humidity", "humidity", "0", 0.0),
        ("humidity", "humidity", "100", 100.0),
        ("windspeedmph", "wind_speed", "0", 0.0),
        ("windspeedmph", "wind_speed", "310.68", 499.99),  # × 1.609344 = 499.991
        ("windgustmph", "wind_gusts", "0", 0.0),
        ("windgustmph", "wind_gusts", "372.82", 600.0),  # 599.996
        ("winddir", "wind_direction", "0", 0.0),
        ("winddir", "wind_direction", "360", 360.0),
        ("rainin", "precipitation", "0", 0.0),
        ("rainin", "precipitation", "19.68", 499.87),  # × 25.4
        ("baromin", "pressure", "25.11", 850.32),  # × 33.8639 = 850.322
        ("baromin", "pressure", "32.48", 1099.9),  # 1099.899
    ],
)
def test_a_value_at_a_bound_is_kept(parameter, field, value, ours):
    upload = read({**BASE, parameter: value}, WUNDERGROUND, station=BERLIN)
    assert getattr(upload.reading, field) == ours
    assert upload.dropped == ()


@pytest.mark.parametrize(
    ("parameter", "field", "value"),
    [
        ("tempf", "temperature", "-148.1"),  # −100.06 °C
        ("tempf", "temperature", "158.1"),  # 70.06 °C
        ("humidity", "humidity", "-0.1"),
        ("humidity", "humidity", "100.1"),
        ("windspeedmph", "wind_speed", "-0.1"),
        ("windspeedmph", "wind_speed", "310.69"),  # 500.007 km/h
        ("windgustmph", "wind_gusts", "-0.1"),
        ("windgustmph", "wind_gusts", "372.83"),  # 600.012 km/h
        ("winddir", "wind_direction", "-1"),
        ("winddir", "wind_direction", "360.1"),
        ("rainin", "precipitation", "-0.01"),
        ("rainin", "precipitation", "19.69"),  # 500.13 mm
        ("baromin", "pressure", "25.10"),  # 849.98 hPa
        ("baromin", "pressure", "32.49"),  # 1100.24 hPa
    ],
)
def test_a_value_past_a_bound_is_dropped_and_named_the_rest_kept(parameter, field, value):
    upload = read({**BASE, parameter: value}, WUNDERGROUND, station=BERLIN)
    assert getattr(upload.reading, field) is None
    assert upload.dropped == (parameter,)
    kept = {name: getattr(upload.reading, name) for name in BASE_READING if name != field}
    assert kept == {name: v for name, v in BASE_READING.items() if name != field}


@pytest.mark.parametrize(("parameter", "value"), [("baromrelin", "25.10"), ("hourlyrainin", "19.69")])
def test_ecowitt_values_past_a_bound_are_dropped_and_named(parameter, value):
    upload = read({"tempf": "50", parameter: value}, ECOWITT, station=BERLIN)
    assert upload.reading.temperature == 10.0
    assert upload.reading.pressure is None and upload.reading.precipitation is None
    assert upload.dropped == (parameter,)


def test_several_dropped_values_are_named_in_the_order_of_the_fields():
    upload = read({**BASE, "baromin": "40", "tempf": "abc", "humidity": "150"}, WUNDERGROUND, station=BERLIN)
    assert upload.dropped == ("tempf", "humidity", "baromin")
    assert upload.reading.wind_direction == 180.0


# -- missing values and values that are not numbers --------------------------------------------


@pytest.mark.parametrize("missing", ["-9999", "-9999.0", "-9999.00", "", "  "])
@pytest.mark.parametrize(("parameter", "field"), [(p, f) for f, (p, _) in WUNDERGROUND.items()])
def test_minus_9999_or_nothing_is_a_missing_value_not_a_dropped_one(parameter, field, missing):
    upload = read({**BASE, parameter: missing}, WUNDERGROUND, station=BERLIN)
    assert getattr(upload.reading, field) is None
    assert upload.dropped == ()


@pytest.mark.parametrize("value", ["abc", "nan", "NaN", "inf", "-inf", "1e999", "12,5", "--", "0x10"])
def test_a_value_that_is_not_a_number_is_dropped_and_named(value):
    upload = read({**BASE, "tempf": value}, WUNDERGROUND, station=BERLIN)
    assert upload.reading.temperature is None
    assert upload.dropped == ("tempf",)
    assert upload.reading.humidity == 50.0


def test_unknown_parameters_are_ignored():
    noise = {
        "Tempf": "99",  # names are case-sensitive
        "temp1f": "99",
        "tempinf": "99",
        "indoortempf": "99",
        "windchillf": "0",
        "dewptf": "0",
        "weather": "+RA",
        "clouds": "OVC",
        "UV": "11",
        "solarradiation": "1000",
        "softwaretype": "x",
        "action": "updateraw",
        "whatever": "&=?",
    }
    plain = read(BASE, WUNDERGROUND, station=BERLIN, now=at("2026-01-01 00:00:00"))
    noisy = read({**BASE, **noise}, WUNDERGROUND, station=BERLIN, now=at("2026-01-01 00:00:00"))
    assert noisy == plain


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"tempinf": "70", "humidityin": "40", "PASSKEY": "x", "dateutc": "now"},  # indoor only
        {"tempf": "abc", "humidity": "-9999"},  # nothing kept
    ],
)
def test_an_upload_without_a_measurement_kept_is_refused(params):
    with pytest.raises(UploadError, match="^The upload carries no measurement weatherstream keeps.$"):
        read(params, ECOWITT, station=BERLIN)


# -- dateutc ------------------------------------------------------------------------------------

NOW = datetime(2026, 10, 3, 10, 30, 0, 250_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("dateutc", "when"),
    [
        (None, "2026-10-03 10:30:00"),  # missing: now
        ("", "2026-10-03 10:30:00"),
        ("now", "2026-10-03 10:30:00"),
        ("NOW", "2026-10-03 10:30:00"),
        (" now ", "2026-10-03 10:30:00"),
        ("   ", "2026-10-03 10:30:00"),  # blank: as missing
        ("2019-01-01 10:32:35", "2019-01-01 10:32:35"),  # "+" in a URL, decoded
        ("2019-01-01+10:32:35", "2019-01-01 10:32:35"),  # a "+" left as it is (sent as %2B)
        ("2019-01-01T10:32:35", "2019-01-01 10:32:35"),
        ("2016-5-10 2:34:15", "2016-05-10 02:34:15"),  # as Fine Offset loggers write it
        ("2026-10-03 10:40:00", "2026-10-03 10:40:00"),  # a clock 10 minutes ahead: believed
    ],
)
def test_dateutc(dateutc, when):
    params = {"tempf": "50"} if dateutc is None else {"tempf": "50", "dateutc": dateutc}
    assert read(params, WUNDERGROUND, station=BERLIN, now=NOW).reading.observed_at == at(when)


@pytest.mark.parametrize(
    "dateutc",
    [
        "2019-13-01 10:32:35",
        "2019-01-01",
        "10:32:35",
        "yesterday",
        "1546338755",
        "2019-01-01 10:32:35Z",
        "2019/01/01 10:32:35",
    ],
)
def test_a_malformed_dateutc_is_refused(dateutc):
    with pytest.raises(UploadError, match=r"^dateutc must be 'now' or 'YYYY-MM-DD HH:MM:SS' \(UTC\)\.$"):
        read({"tempf": "50", "dateutc": dateutc}, WUNDERGROUND, station=BERLIN, now=NOW)


@pytest.mark.parametrize("dateutc", ["2026-10-03 10:40:01", "2026-10-04 10:30:00", "2099-01-01 00:00:00"])
def test_a_dateutc_in_the_future_is_refused(dateutc):
    with pytest.raises(UploadError, match=r"^dateutc is in the future; check the station's clock\.$"):
        read({"tempf": "50", "dateutc": dateutc}, WUNDERGROUND, station=BERLIN, now=NOW)


def test_a_clock_exactly_ten_minutes_ahead_is_believed_and_a_second_more_refused():
    now = datetime(2026, 10, 3, 10, 30, tzinfo=UTC)
    ahead = read({"tempf": "50", "dateutc": "2026-10-03 10:40:00"}, WUNDERGROUND, station=BERLIN, now=now)
    assert ahead.reading.observed_at == now + timedelta(minutes=10)
    with pytest.raises(UploadError):
        read({"tempf": "50", "dateutc": "2026-10-03 10:40:01"}, WUNDERGROUND, station=BERLIN, now=now)


def test_a_dateutc_in_the_future_is_refused_against_the_real_clock():
    ahead = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(UploadError):
        read({"tempf": "50", "dateutc": ahead.strftime("%Y-%m-%d %H:%M:%S")}, WUNDERGROUND, station=BERLIN)


# -- absolute pressure (Ecowitt's baromabsin) ---------------------------------------------------


def absolute_only(name="ecowitt_ambweather_v4_3_4.json", **changes):
    params = {**load_upload(name), **changes}
    del params["baromrelin"]
    return params


def test_absolute_pressure_is_brought_to_sea_level_with_the_stations_elevation():
    upload = read(absolute_only(), ECOWITT, station=DENVER, elevation=1500)
    # baromabsin=24.679: 835.73 hPa at 1500 m and 12.11 °C:
    # 835.73 × (1 − 9.75 / (12.11 + 9.75 + 273.15))^−5.257 = 997.23
    assert upload.reading.pressure == 997.23
    assert upload.dropped == ()


def test_absolute_pressure_agrees_with_the_standard_atmosphere():
    # ISA at 1500 m: 845.56 hPa (24.9694 inHg) and 5.25 °C (41.45 °F); at sea level 1013.25.
    params = {"tempf": "41.45", "baromabsin": "24.9694"}
    assert read(params, ECOWITT, station=DENVER, elevation=1500).reading.pressure == pytest.approx(
        1013.25, abs=0.1
    )
    at_sea = read({"baromabsin": "29.92"}, ECOWITT, station=DENVER, elevation=0).reading.pressure
    assert at_sea == 1013.21, "at sea level the station's pressure is the sea-level one (29.92 inHg)"


def test_absolute_pressure_without_a_temperature_takes_the_standard_15_degrees():
    upload = read(absolute_only(tempf="-9999"), ECOWITT, station=DENVER, elevation=1500)
    # 835.73 × (1 − 9.75 / (15 + 9.75 + 273.15))^−5.257 = 995.49
    assert upload.reading.pressure == 995.49 and upload.reading.temperature is None


def test_absolute_pressure_without_the_elevation_is_not_sea_level_pressure():
    upload = read(absolute_only(), ECOWITT, station=DENVER)
    assert upload.reading.pressure is None
    assert upload.dropped == ()
    with pytest.raises(UploadError):  # nothing else to keep
        read({"baromabsin": "24.679"}, ECOWITT, station=DENVER)


def test_a_missing_relative_pressure_falls_back_to_the_absolute_one():
    params = {**load_upload("ecowitt_ambweather_v4_3_4.json"), "baromrelin": "-9999"}
    assert read(params, ECOWITT, station=DENVER, elevation=1500).reading.pressure == 997.23


def test_an_implausible_absolute_pressure_is_dropped_and_named():
    for value in ("10", "abc"):
        upload = read(absolute_only(baromabsin=value), ECOWITT, station=DENVER, elevation=1500)
        assert upload.reading.pressure is None
        assert upload.dropped == ("baromabsin",)
        assert upload.reading.temperature == 12.11


def test_the_wunderground_format_reads_no_absolute_pressure():
    upload = read({"tempf": "50", "baromabsin": "24.679"}, WUNDERGROUND, station=DENVER, elevation=1500)
    assert upload.reading.pressure is None


# -- day and night: the sun at the station -----------------------------------------------------


@pytest.mark.parametrize(
    ("place", "when", "is_day"),
    [
        (BERLIN, "2026-06-21 11:00:00", True),
        (BERLIN, "2026-06-21 23:00:00", False),
        (SAN_FRANCISCO, "2026-06-21 11:00:00", False),  # 04:00 there
        (SAN_FRANCISCO, "2026-06-21 20:00:00", True),
        (Place(id="st-00000000aaaa", latitude=78.22, longitude=15.63), "2026-12-21 11:00:00", False),
        (Place(id="st-00000000bbbb", latitude=69.65, longitude=18.96), "2026-06-21 22:45:00", True),
    ],
)
def test_is_day_is_the_sun_at_the_station_not_the_clock(place, when, is_day):
    # Longyearbyen at noon in December: polar night; Tromsø before midnight in June: midnight sun.
    upload = read(
        {"tempf": "50", "dateutc": when}, WUNDERGROUND, station=place, now=at("2027-01-01 00:00:00")
    )
    assert upload.reading.is_day is is_day


# -- nothing a station does not measure ---------------------------------------------------------


@pytest.mark.parametrize("fields", [WUNDERGROUND, ECOWITT])
def test_no_weather_code_summary_cloud_cover_or_feels_like_is_invented(fields):
    params = {
        **BASE,
        "weather": "+RA",
        "clouds": "OVC",
        "windchillf": "20",
        "dewptf": "40",
        "heatindexf": "90",
    }
    reading = read(params, fields, station=BERLIN).reading
    assert reading.weather_code is None and reading.cloud_cover is None and reading.feels_like is None
    wire = reading.to_wire()
    assert wire["summary"] is None and wire["weather_code"] is None and wire["feels_like"] is None
    assert reading.source == f"station:{BERLIN.id}" and reading.real and not reading.stale

"""Station ids and keys, and the limits on uploads (weatherstream.stations)."""

import asyncio
import hashlib
import logging
import re
import socket
import string

import pytest

from weatherstream import stations
from weatherstream.conf import get_config
from weatherstream.places import is_station
from weatherstream.stations import UploadLimits

# -- ids and keys -------------------------------------------------------------------------------


def test_an_id_is_st_and_12_hex_digits_and_names_a_station():
    made = {stations.new_id() for _ in range(1000)}
    assert len(made) == 1000
    for station_id in made:
        assert re.fullmatch(r"st-[0-9a-f]{12}", station_id)
        assert is_station(station_id)


def test_a_key_is_20_letters_or_digits_every_device_takes():
    assert stations.KEY_ALPHABET == string.ascii_letters + string.digits
    keys = {stations.new_key() for _ in range(1000)}
    assert len(keys) == 1000
    for key in keys:
        assert len(key) == 20 and set(key) <= set(stations.KEY_ALPHABET)
    assert set("".join(keys)) == set(stations.KEY_ALPHABET), "every character is used"


def test_a_key_comes_from_the_secrets_module(monkeypatch):
    monkeypatch.setattr(stations.secrets, "choice", lambda alphabet: alphabet[-1])
    assert stations.new_key() == "9" * 20


def test_a_digest_is_sha256_in_hex():
    # FIPS 180-2's own example: SHA-256("abc")
    assert stations.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    key = stations.new_key()
    assert stations.digest(key) == hashlib.sha256(key.encode()).hexdigest()
    assert stations.digest("ümlaut") == hashlib.sha256("ümlaut".encode()).hexdigest()


def test_a_passkey_digest_ignores_the_case_of_its_hex_digits_and_spaces_around_it():
    passkey = "34271334ED1FADA6D8B988B14267E55D"  # as an EasyWeather console sends it
    assert stations.passkey_digest(passkey) == stations.digest(passkey)
    assert stations.passkey_digest(passkey.lower()) == stations.digest(passkey)
    assert stations.passkey_digest(f" {passkey}\n") == stations.digest(passkey)
    assert stations.passkey_digest("345544D8EAF42E1B8824A86D8250D5A3") != stations.digest(passkey)


def test_a_key_matches_only_its_own_digest():
    key = stations.new_key()
    stored = stations.digest(key)
    assert stations.key_matches(key, stored)
    assert not stations.key_matches(key.swapcase(), stored), "keys are case-sensitive"
    assert not stations.key_matches(key[:-1], stored)
    assert not stations.key_matches("", stored)
    assert not stations.key_matches(key, key), "the stored form is a digest, never the key"
    assert not stations.key_matches(stored, stored)


def test_a_key_is_compared_in_constant_time(monkeypatch):
    seen = []
    real = stations.hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(stations.hmac, "compare_digest", spy)
    key = stations.new_key()
    assert stations.key_matches(key, stations.digest(key))
    assert not stations.key_matches("wrong", stations.digest(key))
    assert seen == [
        (stations.digest(key), stations.digest(key)),
        (stations.digest("wrong"), stations.digest(key)),
    ]


# -- upload limits in this process ---------------------------------------------------------------


def limits(**changes) -> UploadLimits:
    return UploadLimits(
        {
            **get_config(),
            "REDIS_URL": None,
            "STATION_MIN_INTERVAL": 10,
            "STATION_AUTH_FAILURES": "3/minute",
            **changes,
        }
    )


async def test_uploads_of_a_station_are_spaced():
    limited = limits()
    assert await limited.spaced("st-000000000001")
    assert not await limited.spaced("st-000000000001")
    assert not await limited.spaced("st-000000000001"), "a refused upload is refused again"
    assert await limited.spaced("st-000000000002"), "each station has its own spacing"


async def test_the_spacing_ends_after_its_seconds():
    limited = limits(STATION_MIN_INTERVAL=1)
    assert await limited.spaced("st-000000000001")
    assert not await limited.spaced("st-000000000001")
    await asyncio.sleep(1.1)
    assert await limited.spaced("st-000000000001")


async def test_no_spacing_lets_every_upload_through():
    limited = limits(STATION_MIN_INTERVAL=0)
    assert [await limited.spaced("st-000000000001") for _ in range(20)] == [True] * 20


async def test_an_address_is_locked_out_after_its_wrong_keys():
    limited = limits()
    for _ in range(3):
        assert not await limited.locked_out("192.0.2.1")
        await limited.failed("192.0.2.1")
    assert await limited.locked_out("192.0.2.1"), "three wrong keys of 3/minute: no fourth try"
    assert not await limited.locked_out("192.0.2.2"), "each address counts alone"


async def test_asking_whether_an_address_is_locked_out_counts_nothing():
    limited = limits()
    for _ in range(10):
        assert not await limited.locked_out("192.0.2.1")


# -- upload limits in Redis, shared by the processes ---------------------------------------------


async def test_two_processes_share_the_spacing_and_the_lock_out_in_redis(redis_server, redis_client):
    first, second = limits(REDIS_URL=redis_server.url), limits(REDIS_URL=redis_server.url)
    assert await first.spaced("st-000000000001")
    assert not await second.spaced("st-000000000001"), "the other process's upload counts"
    assert await second.spaced("st-000000000002")
    for _ in range(3):
        await first.failed("192.0.2.1")
    assert await second.locked_out("192.0.2.1")
    assert not await second.locked_out("192.0.2.2")
    keys = await redis_client.keys("*")
    assert keys and all(key.startswith(b"weatherstream-stations") for key in keys)


async def test_the_redis_of_the_channel_layer_is_used_without_redis_url(redis_server, redis_client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_server.url]},
        }
    }
    first, second = limits(), limits()
    assert await first.spaced("st-000000000001")
    assert not await second.spaced("st-000000000001")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_without_its_redis_a_limit_lets_uploads_through_with_one_warning(caplog):
    limited = limits(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    with caplog.at_level(logging.WARNING, logger="weatherstream.stations"):
        assert await limited.spaced("st-000000000001")
        assert await limited.spaced("st-000000000001"), "not spaced: the limit is unavailable"
        for _ in range(5):
            await limited.failed("192.0.2.1")
        assert not await limited.locked_out("192.0.2.1")
    warnings = [r for r in caplog.records if r.name == "weatherstream.stations"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "the station upload limits are unavailable" in warnings[0].getMessage()


async def test_a_limit_warns_again_when_its_redis_fails_again_after_answering(caplog, monkeypatch):
    limited = limits()
    real = limited.limiter.hit
    down = True

    async def flaky(*args):
        if down:
            raise ConnectionError("Redis is down")
        return await real(*args)

    monkeypatch.setattr(limited.limiter, "hit", flaky)
    with caplog.at_level(logging.WARNING, logger="weatherstream.stations"):
        assert await limited.spaced("st-000000000001")
        assert await limited.spaced("st-000000000001")
        down = False
        assert await limited.spaced("st-000000000001")
        assert not await limited.spaced("st-000000000001"), "back: spaced again"
        down = True
        assert await limited.spaced("st-000000000001")
    assert len([r for r in caplog.records if r.name == "weatherstream.stations"]) == 2


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # the same subscriber
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),  # IPv4 through an IPv6 socket
        ("192.0.2.7", "192.0.2.7"),
        ("not an address", "not an address"),
    ],
)
def test_failed_keys_are_counted_per_ipv4_address_and_per_ipv6_64(address, counted_as):
    assert stations.sender(address) == counted_as


async def test_an_ipv6_subscriber_cannot_escape_the_lock_out_by_changing_its_address():
    limits = stations.UploadLimits({**get_config(), "STATION_AUTH_FAILURES": "2/minute", "REDIS_URL": None})
    await limits.failed("2001:db8::1")
    await limits.failed("2001:db8::2")
    assert await limits.locked_out("2001:db8::ffff")
    assert not await limits.locked_out("2001:db8:0:1::1")

"""Personal weather stations: their ids and keys, and the limits on their uploads.

A station is registered with ``manage.py weatherstream_station add`` (the services do
the storing): its id ("st-" and 12 hex digits) is also its place's id, and its upload
key is shown once and kept only as a SHA-256 digest. A key is random (about 119 bits),
so a fast digest is enough, and every upload is checked in constant time. An Ecowitt
gateway cannot be given a secret: it sends its own PASSKEY, which the station is
registered with (digested the same way) and found by.

Uploads are limited per station (STATION_MIN_INTERVAL between two accepted ones) and
failed keys per client address (STATION_AUTH_FAILURES), with the ``limits`` library:
in Redis when the processes share one (REDIS_URL or the channel layer's), so that every
process counts alike; in memory otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .budget import redis_storage
from .election import redis_url
from .places import STATION_PREFIX, Place

logger = logging.getLogger(__name__)

KEY_ALPHABET = string.ascii_letters + string.digits  # what every device's key field takes
KEY_LENGTH = 20


@dataclass(frozen=True, slots=True)
class Station:
    """A registered station as storage holds it (its key only as a digest)."""

    place: Place
    key_hash: str
    elevation: float | None = None
    has_passkey: bool = False
    created_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.place.id


def new_id() -> str:
    return STATION_PREFIX + secrets.token_hex(6)


def new_key() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def digest(secret: str) -> str:
    """How a key or PASSKEY is stored: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def passkey_digest(passkey: str) -> str:
    """An Ecowitt PASSKEY's digest (hex digits in either case are the same PASSKEY)."""
    return digest(passkey.strip().upper())


def key_matches(key: str, stored: str) -> bool:
    """Whether ``key`` is the one whose digest is ``stored``, in constant time."""
    return hmac.compare_digest(digest(key), stored)


def sender(address: str) -> str:
    """Who is counted for an address: an IPv6 one's /64 (one subscriber's usual share, all
    of it theirs to use), an IPv4 one itself."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class UploadLimits:
    """Per-station spacing of uploads and per-address failed keys.

    Without its storage (Redis down) a limit lets the upload through, with a warning:
    a reading is not lost to a limiter's fault, and the key is still checked.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        from limits import RateLimitItemPerSecond, parse
        from limits.aio.storage import MemoryStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        url = redis_url(config)
        storage = redis_storage(url, key_prefix="weatherstream-stations") if url else MemoryStorage()
        self.limiter = MovingWindowRateLimiter(storage)
        spacing = config["STATION_MIN_INTERVAL"]
        self.spacing = RateLimitItemPerSecond(1, spacing) if spacing else None
        self.failures = parse(config["STATION_AUTH_FAILURES"])
        self._failing = False

    async def spaced(self, station_id: str) -> bool:
        """Take the station's next upload slot; False when its last upload was too recent."""
        if self.spacing is None:
            return True
        return await self._ask(self.limiter.hit, self.spacing, "upload", station_id)

    async def locked_out(self, address: str) -> bool:
        """Whether ``address`` sent more wrong keys than STATION_AUTH_FAILURES allows."""
        return not await self._ask(self.limiter.test, self.failures, "auth", sender(address))

    async def failed(self, address: str) -> None:
        """Count a wrong key from ``address``."""
        await self._ask(self.limiter.hit, self.failures, "auth", sender(address))

    async def _ask(self, call: Any, item: Any, *identifiers: str) -> bool:
        try:
            allowed = bool(await call(item, *identifiers))
        except Exception as exc:  # the limits' Redis: let it through
            if not self._failing:
                logger.warning("the station upload limits are unavailable (%s); not limiting", exc)
            self._failing = True
            return True
        self._failing = False
        return allowed

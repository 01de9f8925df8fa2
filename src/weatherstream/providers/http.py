"""HTTP for the providers that call a weather service: one client, one deadline per
exchange, httpx's errors turned into :class:`ProviderError`, and a pacer for services that
ask for few requests at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx

from .base import ProviderError, UpstreamUnreachable


def new_client(
    *,
    timeout: float,
    user_agent: str,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """A client for one upstream. httpx asks for gzip (``Accept-Encoding``) by itself."""
    return httpx.AsyncClient(
        transport=transport,
        # Connecting gets half the deadline, so an unreachable host is told apart.
        timeout=httpx.Timeout(timeout, connect=timeout / 2),
        headers={"User-Agent": user_agent, "Accept": "application/json", **(headers or {})},
    )


async def get(
    client: httpx.AsyncClient,
    url: str,
    *,
    deadline: float,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """GET ``url``, whatever its status. Raises :class:`UpstreamUnreachable` when no
    connection could be made, :class:`ProviderError` for any other failure to get a
    complete answer within ``deadline`` seconds."""
    try:
        # One deadline for the whole exchange: httpx's timeouts are per read, so a body
        # trickling in a byte at a time would never trip them.
        async with asyncio.timeout(deadline):
            return await client.get(url, params=params, headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # no answer at all
        raise UpstreamUnreachable(f"cannot reach {url}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise ProviderError(f"{type(exc).__name__} from {url}: {exc}") from exc
    except TimeoutError:
        raise ProviderError(f"no complete answer from {url} within {deadline:g}s") from None


def failure(response: httpx.Response, detail: str = "") -> ProviderError:
    """The error for an answer that is not a success: "HTTP <status>[: detail]", carrying
    the answer's ``Retry-After``."""
    message = f"HTTP {response.status_code}" + (f": {detail}" if detail else "")
    return ProviderError(message, retry_after=retry_after(response))


def json_body(response: httpx.Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(f"malformed JSON from {url}") from exc


def http_date(value: str | None) -> float | None:
    """An HTTP date (``Expires``, ``Retry-After``) as epoch seconds; None if unreadable."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the answer's ``Retry-After`` asks to wait (seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = http_date(value)
    if when is None:
        return None
    return max(0.0, when - datetime.now(UTC).timestamp())


class Pacer:
    """At most ``in_flight`` requests at once, their starts at least ``1 / per_second``
    apart: ``async with pacer: ...`` around each request. ``clock`` and ``sleep`` are
    injectable for tests."""

    def __init__(
        self,
        *,
        in_flight: int,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.gap = 1.0 / per_second
        self._slots = asyncio.Semaphore(max(1, in_flight))
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")  # the earliest start the next request may have

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        try:
            # No await between reading and moving _next: each request gets its own turn.
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.gap
            if start > now:
                await self._sleep(start - now)
        except BaseException:
            self._slots.release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._slots.release()

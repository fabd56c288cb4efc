"""The HTTP connection to the API: one pooled httpx2 client, shared by every credential set that uses it."""

from __future__ import annotations

import re
from contextlib import aclosing
from http.cookiejar import Cookie, CookieJar
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2

import oas_mcp.client._telemetry as telemetry
from oas_mcp import __version__, tls
from oas_mcp.client._errors import (
    APIConnectionError,
    APITimeoutError,
    RequestNotSentError,
    ResponseTooLargeError,
    UnexpectedResponseError,
)
from oas_mcp.client._responses import request_line
from oas_mcp.client._retry import Deadline
from oas_mcp.untrusted import clean

ACCEPT = "application/json, text/plain;q=0.9, */*;q=0.1"
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?")
"""What a header value this client sends may be: visible ASCII, spaces only inside (RFC 9110 allows more; an API
key or a token never needs it)."""


class _NoCookies(CookieJar):
    """A jar that keeps no cookie, so none is ever sent. The API authenticates by header, and every user's client
    shares the pool: a cookie set while serving one (Django's ``sessionid``) must never ride on another's request."""

    def set_cookie(self, cookie: Cookie) -> None:
        pass


class Connection:
    """Sends requests to one base URL; network failures become APIConnectionError / APITimeoutError, and a body
    over ``max_response_bytes`` a ResponseTooLargeError.

    The httpx2 client (and its connection pool) is made on first use, so start-up pays nothing for it.
    """

    def __init__(
        self, base_url: str, timeout: float, transport: httpx2.AsyncBaseTransport | None, max_response_bytes: int
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.base_path = urlsplit(self.base_url).path
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._transport = transport
        self._http: httpx2.AsyncClient | None = None
        self._peer = telemetry.Peer.of(self.base_url)

    def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            self._http = httpx2.AsyncClient(
                base_url=self.base_url,
                timeout=self.timeout,
                headers={"User-Agent": f"oas-mcp/{__version__}", "Accept": ACCEPT},
                transport=self._transport,
                follow_redirects=False,
                cookies=_NoCookies(),
                verify=tls.context(),
            )
        return self._http

    async def send(
        self, method: str, path: str, headers: dict[str, str], json: Any, deadline: Deadline | None
    ) -> httpx2.Response:
        """Send one request (no retries) and read the whole response, up to ``max_response_bytes``, within
        ``timeout`` or what is left before ``deadline`` (None: no deadline), whichever is shorter. Its span and
        duration go to OpenTelemetry (see :mod:`oas_mcp.client._telemetry`)."""
        where = urlsplit(path).path
        for name, value in headers.items():
            if not _HEADER_VALUE.fullmatch(value):
                raise RequestNotSentError(
                    f"{method} {where} was not sent: its {name} header holds a line break, a blank at an end or a "
                    "character other than ASCII",
                    method=method,
                    path=where,
                    header=name,
                )
        limit = self.timeout if deadline is None else min(self.timeout, deadline.left(method, where))
        with telemetry.request(method, where, self._peer) as exchange:
            try:
                # The deadline also covers transports that ignore httpx2's timeouts (in-process ASGI apps).
                with anyio.fail_after(limit):
                    response = await self._exchange(method, path, headers, json)
            except (TimeoutError, httpx2.TimeoutException) as exc:
                sent = not isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout)
                if deadline is not None and limit < self.timeout:
                    raise deadline.ran_out(method, where, sent) from exc
                raise APITimeoutError(
                    f"{method} {where} got no answer within {limit:g} s", method=method, path=where, request_sent=sent
                ) from exc
            except httpx2.TransportError as exc:
                reason = clean(str(exc) or type(exc).__name__, 120)
                if isinstance(exc, httpx2.LocalProtocolError):  # it broke HTTP's rules here: nothing was sent
                    message = f"{method} {where} was not sent: {reason}"
                    raise RequestNotSentError(message, method=method, path=where, header=None) from exc
                sent = not isinstance(exc, httpx2.ConnectError | httpx2.UnsupportedProtocol | httpx2.ProxyError)
                message = f"{'lost the connection to' if sent else 'cannot reach'} {self.base_url} ({method} {where})"
                raise APIConnectionError(f"{message}: {reason}", method=method, path=where, request_sent=sent) from exc
            exchange.answered(response.status_code, len(response.content))
            return response

    async def _exchange(self, method: str, path: str, headers: dict[str, str], json: Any) -> httpx2.Response:
        """The response, its body read, unless it is (or announces it is) bigger than the limit."""
        client = self._client()
        response = await client.send(client.build_request(method, path, headers=headers, json=json), stream=True)
        try:
            announced = response.headers.get("content-length", "")
            size = int(announced) if announced.isdigit() else None
            if size is not None and size > self.max_response_bytes:
                raise self._too_large(response, size)
            body = bytearray()
            async with aclosing(response.aiter_bytes()) as chunks:
                async for chunk in chunks:
                    body += chunk
                    if len(body) > self.max_response_bytes:
                        raise self._too_large(response, size)
        except httpx2.DecodingError:
            raise self._undecodable(response) from None
        finally:
            await response.aclose()
        # The body is decoded now: the copy must not claim an encoding (or a length) it no longer has.
        kept = [(name, value) for name, value in response.headers.multi_items() if name not in _BODY_HEADERS]
        return httpx2.Response(response.status_code, headers=kept, content=bytes(body), request=response.request)

    @staticmethod
    def _undecodable(response: httpx2.Response) -> UnexpectedResponseError:
        method, where = request_line(response)
        encoding = clean(response.headers.get("content-encoding", "?"), 40)
        return UnexpectedResponseError(
            f"{method} {where} answered HTTP {response.status_code} with a body that is not the {encoding} it claims",
            method=method,
            path=where,
            status_code=response.status_code,
        )

    def _too_large(self, response: httpx2.Response, size: int | None) -> ResponseTooLargeError:
        method, where = request_line(response)
        of = f" of {size:,} bytes," if size is not None else ""
        return ResponseTooLargeError(
            f"{method} {where} answered HTTP {response.status_code} with a body{of} over the "
            f"{self.max_response_bytes:,}-byte limit",
            method=method,
            path=where,
            status_code=response.status_code,
            size=size,
            limit=self.max_response_bytes,
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

"""What the client tells OpenTelemetry: a span per API request, events for retries and sign-ins, and metrics.

Through the OpenTelemetry API alone, so there is one code path: without an SDK (the otel extra, which
:mod:`oas_mcp.observability.telemetry` sets up) every call here is a no-op. A request's span is a child of the
current span (a tool call's, made by the MCP SDK); the events go on the current span.

What is recorded is the method, the route template (:func:`~oas_mcp.client._routes.template`), the status, the
attempt, the size, the error's type and the API's host: never a header, a query string, a body, an id or a message,
so neither a secret nor an organisation's data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry.metrics import get_meter
from opentelemetry.trace import SpanKind, StatusCode, get_current_span, get_tracer

from oas_mcp import DURATION_BUCKETS, __version__
from oas_mcp.client._errors import APIConnectionError, APITimeoutError, OASError
from oas_mcp.client._routes import template

_tracer = get_tracer("oas_mcp.client", __version__)
_meter = get_meter("oas_mcp.client", __version__)
_durations = _meter.create_histogram(
    "oas_mcp.api.request.duration",
    unit="s",
    description="OAS API requests and how long each took, by method, route and status.",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
)
_retries = _meter.create_counter(
    "oas_mcp.api.retries", unit="{retry}", description="OAS API requests tried again, by method, route and reason."
)
_sign_ins = _meter.create_counter(
    "oas_mcp.api.sign_ins",
    unit="{sign_in}",
    description="Sign-ins to the OAS API, by kind (first or renewal) and outcome (ok, refused or error).",
)

resends: ContextVar[int] = ContextVar("oas_mcp_resends", default=0)
"""How many times the request being sent was sent before: set by the retry loop around each attempt."""


@dataclass(frozen=True)
class Peer:
    """The API's host and port, as spans name them (``server.address``, ``server.port``)."""

    address: str
    port: int

    @classmethod
    def of(cls, base_url: str) -> Peer:
        parts = urlsplit(base_url)
        return cls(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


class Exchange:
    """What one request got: its status and body size, once answered."""

    __slots__ = ("size", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.size: int | None = None

    def answered(self, status: int, size: int) -> None:
        self.status, self.size = status, size


@contextmanager
def request(method: str, path: str, peer: Peer) -> Iterator[Exchange]:
    """One API request (``path`` without its query): its span and its duration, whatever the outcome; what the
    block raises passes through, its type recorded as the span's ``error.type``."""
    route = template(path)
    span = _tracer.start_span(f"{method} {route}", kind=SpanKind.CLIENT)
    exchange = Exchange()
    error: Exception | None = None
    started = time.perf_counter()
    try:
        yield exchange
    except Exception as failure:
        error = failure
        raise
    finally:  # also when cancelled (a page the listing no longer needs): not an error
        status: int | None = exchange.status or getattr(error, "status_code", None)
        label = str(status) if status is not None else _no_answer(error)
        _durations.record(time.perf_counter() - started, {"method": method, "route": route, "status": label})
        if span.is_recording():
            span.set_attributes(_attributes(method, route, peer, status, exchange.size))
            if error is not None or (status is not None and status >= 400):
                span.set_attribute("error.type", type(error).__name__ if error is not None else str(status))
                span.set_status(StatusCode.ERROR)
        span.end()


def _no_answer(error: Exception | None) -> str:
    """The status label of a request that got no answer: timeout, connection, error, or (no error) cancelled."""
    if error is None:
        return "cancelled"
    if isinstance(error, APITimeoutError):
        return "timeout"
    return "connection" if isinstance(error, APIConnectionError) else "error"


def _attributes(method: str, route: str, peer: Peer, status: int | None, size: int | None) -> dict[str, str | int]:
    """A request span's attributes, with the HTTP semantic conventions' names."""
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "url.template": route,
        "http.request.resend_count": resends.get(),
        "server.address": peer.address,
        "server.port": peer.port,
    }
    if status is not None:
        attributes["http.response.status_code"] = status
    if size is not None:
        attributes["http.response.body.size"] = size
    return attributes


def retrying(what: str, error: OASError, retry: int, wait: float) -> None:
    """``what`` (``METHOD /path``) failed with ``error``, and is tried again (retry number ``retry``) in ``wait``
    seconds."""
    method, _, path = what.partition(" ")
    reason, route = _reason(error), template(path)
    _retries.add(1, {"method": method, "route": route, "reason": reason})
    _event("oas_mcp.retry", {"url.template": route, "retry": retry, "wait_s": wait, "reason": reason})


def gave_up(what: str, error: OASError, wait: float) -> None:
    """``what`` is not tried again after ``error``: waiting ``wait`` seconds would not fit in the call's budget."""
    route = template(what.partition(" ")[2])
    _event("oas_mcp.retry.no_time", {"url.template": route, "wait_s": wait, "reason": _reason(error)})


def _reason(error: OASError) -> str:
    status = getattr(error, "status_code", None)
    return str(status) if status is not None else type(error).__name__


def signed_in(renewal: bool, outcome: str) -> None:
    """A sign-in ended: ``outcome`` is ok, refused (the API refused the credentials) or error (anything else)."""
    kind = "renewal" if renewal else "first"
    _sign_ins.add(1, {"kind": kind, "outcome": outcome})
    _event("oas_mcp.sign_in", {"kind": kind, "outcome": outcome})


def held_back(seconds: float) -> None:
    """A sign-in was not tried: the API refused the last one, and trying again waits ``seconds`` more."""
    _event("oas_mcp.sign_in.held_back", {"wait_s": seconds})


def _event(name: str, attributes: dict[str, str | int | float]) -> None:
    span = get_current_span()
    if span.is_recording():
        span.add_event(name, attributes)

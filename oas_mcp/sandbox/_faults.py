"""Fault injection: make the sandbox misbehave the way real networks and APIs do, on purpose."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx2


class Unreachable(Exception):
    """The request never reached the API (connection refused)."""


class Dropped(Exception):
    """The connection was lost; with ``after``, once the API had processed the request."""


@dataclass
class Fault:
    """One misbehaviour, applied to the next ``times`` requests that match (``None``: every one).

    ``match`` is a glob over ``METHOD /path?query``, e.g. ``"GET /api/organisations/*"``.
    Then, in order: ``action`` runs (to change the store mid-way), ``delay`` seconds pass, and either the
    connection is lost (``drop="before"``: never reached the API; ``"after"``: processed, reply lost),
    or the response is replaced (``status``, ``body``, ``content_type``, ``headers``), or, with none of
    those, the request is served as usual.
    """

    match: str = "*"
    times: int | None = 1
    status: int | None = None
    body: str | bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] | None = None
    delay: float = 0.0
    drop: Literal["before", "after"] | None = None
    action: Callable[[], object] | None = None
    hits: int = 0

    def matches(self, target: str) -> bool:
        return (self.times is None or self.hits < self.times) and fnmatch.fnmatchcase(target, self.match)


class SandboxTransport(httpx2.ASGITransport):
    """The in-process transport: injected network faults surface as the errors httpx2 raises for real ones."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return await super().handle_async_request(request)
        except Unreachable:
            raise httpx2.ConnectError("[Errno 111] Connection refused", request=request) from None
        except Dropped:
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None

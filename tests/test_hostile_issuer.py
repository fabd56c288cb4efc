"""An issuer that is hostile or broken, over HTTP on loopback: its JWKS endpoint floods (a body without end), or
trickles (a byte now and then, so no single read ever times out). oas-mcp reads no more than its limit, gives up
each fetch at its deadline, and meanwhile answers the requests whose keys it already knows."""

from __future__ import annotations

import logging
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

import anyio
import anyio.lowlevel
import pytest
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from oas_mcp.hosting.oauth import Issuer, IssuerError, Verifier
from oas_mcp.hosting.oauth.issuer import KEYS_MAX_AGE, MAX_DOCUMENT

from oauth_issuer import RESOURCE, FakeIssuer, rsa_key, serving
from support import free_port
from test_oauth import ISSUER, Clock, issuer_for

pytestmark = pytest.mark.anyio

FLOOD = 64 * MAX_DOCUMENT
"""Bytes of a flooding JWKS: 64 MiB, all read before the fix."""
CHUNK = 64 * 1024
HANG = 20.0
"""Seconds after which a test that hangs fails (a guard; nothing here should come near it)."""


@dataclass
class HostileIssuer(FakeIssuer):
    """A FakeIssuer whose JWKS endpoint, once ``jwks_as`` says so, floods or trickles; ``sent`` counts the bytes it
    got to send that way."""

    jwks_as: Literal["keys", "flood", "trickle"] = "keys"
    sent: int = 0

    @property
    def app(self) -> Starlette:
        honest = super().app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or not scope["path"].endswith("/jwks") or self.jwks_as == "keys":
                return await honest(scope, receive, send)
            answer = StreamingResponse(self._flood() if self.jwks_as == "flood" else self._trickle())
            await answer(scope, receive, send)

        return Starlette(routes=[Mount("", app=app)])

    async def _flood(self) -> AsyncIterator[bytes]:
        yield b'{"keys": ['
        while self.sent < FLOOD:
            yield b" " * CHUNK
            self.sent += CHUNK
            await anyio.lowlevel.checkpoint()  # so that the server hears the client close the connection
        yield b"]}"

    async def _trickle(self) -> AsyncIterator[bytes]:
        yield b'{"keys": ['
        while True:
            await anyio.sleep(0.05)
            yield b" "
            self.sent += 1


def hostile() -> HostileIssuer:
    return HostileIssuer(f"http://127.0.0.1:{free_port()}")


async def eventually(condition: Callable[[], bool]) -> None:
    """Until ``condition`` holds: what the issuer's server thread counts, or a log line, offers no event."""
    while not condition():  # noqa: ASYNC110 - see above
        await anyio.sleep(0.01)


async def test_a_jwks_without_end_is_read_no_further_than_the_limit() -> None:
    issuer_at = hostile()
    issuer_at.jwks_as = "flood"
    with serving(issuer_at):
        issuer = Issuer(issuer_at.url)
        tracemalloc.start()
        try:
            with anyio.fail_after(HANG), pytest.raises(IssuerError) as caught:
                await issuer.discover()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        await issuer.aclose()

    assert str(caught.value) == f"{issuer_at.url}/jwks answered more than {MAX_DOCUMENT} bytes"
    assert peak < 4 * MAX_DOCUMENT  # what was read, and no copy of it; before, the 64 MiB (twice, for a moment)
    # The connection is closed at the limit; the rest of what the issuer sent is what loopback's buffers took.
    assert issuer_at.sent < FLOOD // 4


async def test_a_trickling_jwks_is_given_up_at_the_deadline_with_a_clear_error() -> None:
    issuer_at = hostile()
    issuer_at.jwks_as = "trickle"
    with serving(issuer_at):
        issuer = Issuer(issuer_at.url, deadline=0.5)
        with anyio.fail_after(HANG), pytest.raises(IssuerError) as caught:
            await issuer.discover()
        await issuer.aclose()

    assert str(caught.value) == f"{issuer_at.url}/jwks did not answer in full within 0.5 s"
    assert issuer_at.sent > 0  # it was answering, a byte at a time: no single read timed out


async def test_a_known_key_verifies_while_a_refresh_of_stale_keys_is_stalled(caplog: pytest.LogCaptureFixture) -> None:
    issuer_at, clock = hostile(), Clock()
    known = issuer_at.token()
    stranger = issuer_at.token(kid="made-up", key=rsa_key())
    answers: dict[str, object] = {}

    async def verify(name: str, token: str) -> None:
        answers[name] = await verifier.verify_token(token)

    with serving(issuer_at), caplog.at_level(logging.INFO, "oas_mcp.hosting.oauth"):
        issuer = Issuer(issuer_at.url, clock=clock, deadline=2 * HANG)  # the refresh stalls all test long
        verifier = Verifier(issuer, RESOURCE)
        async with anyio.create_task_group() as group:
            group.start_soon(issuer.run)
            with anyio.fail_after(HANG):
                await eventually(lambda: "signing keys" in caplog.text)  # discovered, as the log says
                issuer_at.jwks_as = "trickle"
                clock.now += KEYS_MAX_AGE  # the keys are stale: the next request fetches them again
                group.start_soon(verify, "stranger", stranger)
                await eventually(lambda: issuer_at.sent > 0)  # the refresh is under way, and stalled
                await verify("known", known)
            stalled = "stranger" not in answers
            group.cancel_scope.cancel()

    assert answers["known"] is not None
    assert stalled  # answered while the refresh was still stalled, not after it gave up


async def test_a_malformed_jwks_uri_leaves_the_known_keys_in_use(caplog: pytest.LogCaptureFixture) -> None:
    issuer_at, clock = FakeIssuer(ISSUER), Clock()
    issuer = issuer_for(issuer_at, clock)
    await issuer.discover()
    issuer.metadata = {**(issuer.metadata or {}), "jwks_uri": "http://[::1"}  # as a broken issuer may name it
    clock.now += KEYS_MAX_AGE

    with caplog.at_level(logging.WARNING, "oas_mcp.hosting.oauth"):
        accepted = await Verifier(issuer, RESOURCE).verify_token(issuer_at.token())

    assert accepted is not None
    assert caplog.messages == [
        "cannot fetch the OAuth issuer's keys again (cannot reach http://[::1: InvalidURL); keeping the 1 known"
    ]

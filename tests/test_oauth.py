"""oas-mcp as an OAuth resource server, against a small issuer made here (tests/oauth_issuer.py) with keys made by
cryptography: every validation rule on its own, the keys' discovery and refetch, introspection; then served over
HTTP as a real process: 401 and 403 answers, the protected-resource metadata, sessions bound to subjects, logs,
and an issuer that is down at start-up."""

from __future__ import annotations

import json
import logging
import math
import secrets
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, AsyncExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import h11
import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from mcp.server.auth.provider import AccessToken
from pydantic import SecretStr

from oas_mcp.hosting.oauth import Issuer, IssuerError, OAuthClient, Verifier
from oas_mcp.hosting.oauth.issuer import KEYS_MAX_AGE, REFETCH_COOLDOWN, discovery_urls
from oas_mcp.hosting.oauth.verifier import (
    ACTIVE_FOR,
    BUDGET_SPENT,
    INACTIVE_FOR,
    INTROSPECTION_BUDGET,
    INTROSPECTION_BUDGET_ALL,
    INTROSPECTION_REFILL,
    LEEWAY,
    MAX_TOKEN,
    sent_from,
)
from oas_mcp.redact import remembered
from oas_mcp.sandbox import DEMO2_API_KEY, DEMO2_ORGANISATIONS

from http_clients import INITIALIZE, PING, in_session, post_initialize, post_message, session, sessions_until_refused
from oauth_issuer import INTROSPECTOR, RESOURCE, FakeIssuer, public_jwk, public_pem, rsa_key, serving, unsigned
from support import Running, command, free_port, running, running_on, structured, wait_for

pytestmark = pytest.mark.anyio

ISSUER = "https://issuer.test/realms/team"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeIssuer:
    return FakeIssuer(ISSUER)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def issuer_for(fake: FakeIssuer, clock: Clock | None = None, **options: Any) -> Issuer:
    return Issuer(fake.url, transport=httpx2.ASGITransport(app=fake.app), clock=clock or Clock(), **options)


@pytest.fixture
async def verifier(fake: FakeIssuer, clock: Clock) -> Verifier:
    issuer = issuer_for(fake, clock)
    await issuer.discover()
    return Verifier(issuer, RESOURCE)


@dataclass(frozen=True)
class Ago:
    """A time ``seconds`` before the test runs (negative: after), not before it was collected: collection may
    come minutes earlier."""

    seconds: int


def at_test_time(claims: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    return {name: now - value.seconds if isinstance(value, Ago) else value for name, value in claims.items()}


async def refused(verifier: Verifier, token: str, caplog: pytest.LogCaptureFixture) -> str:
    """Why ``verifier`` refused ``token``, as its log line says; fails the test when it accepted it."""
    caplog.clear()
    with caplog.at_level(logging.INFO, "oas_mcp.hosting.oauth"):
        assert await verifier.verify_token(token) is None
    (line,) = [record.getMessage() for record in caplog.records]
    assert token not in line
    return line.removeprefix("refused a bearer token: ")


async def test_a_token_from_the_issuer_for_this_server_is_its_subjects(fake: FakeIssuer, verifier: Verifier) -> None:
    token = fake.token(scope="oas other")

    accepted = await verifier.verify_token(token)

    assert accepted is not None
    assert (accepted.subject, accepted.client_id, accepted.scopes) == ("alice", "claude", ["oas", "other"])
    assert accepted.claims is not None
    assert accepted.claims["iss"] == ISSUER
    assert accepted.resource == RESOURCE


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://issuer.test/realms/other"}, f"its iss is not {ISSUER}"),
        ({"iss": f"{ISSUER}/"}, f"its iss is not {ISSUER}"),  # exactly: a slash more is another issuer
        ({"aud": "https://other.example/mcp"}, f"its aud does not name {RESOURCE}"),
        ({"aud": ["https://other.example/mcp", "account"]}, f"its aud does not name {RESOURCE}"),
        ({"exp": Ago(LEEWAY + 60)}, "it has expired"),
        ({"nbf": Ago(-LEEWAY - 60)}, "it is not valid yet (nbf or iat in the future)"),
        ({"exp": None}, "it has no exp claim"),
        ({"aud": None}, "it has no aud claim"),
        ({"sub": None}, "it has no sub claim"),
    ],
)
async def test_a_token_with_a_wrong_claim_is_refused_saying_which(
    fake: FakeIssuer, verifier: Verifier, caplog: pytest.LogCaptureFixture, changes: dict[str, Any], reason: str
) -> None:
    assert await refused(verifier, fake.token(**at_test_time(changes)), caplog) == reason


async def test_exp_and_nbf_allow_a_small_clock_difference(fake: FakeIssuer, verifier: Verifier) -> None:
    now = int(time.time())

    late = await verifier.verify_token(fake.token(exp=now - LEEWAY // 2))
    early = await verifier.verify_token(fake.token(nbf=now + LEEWAY // 2))

    assert late is not None
    assert early is not None


async def test_the_audience_may_be_one_of_several(fake: FakeIssuer, verifier: Verifier) -> None:
    assert await verifier.verify_token(fake.token(aud=["https://other.example", RESOURCE])) is not None


async def test_alg_none_is_refused(fake: FakeIssuer, verifier: Verifier, caplog: pytest.LogCaptureFixture) -> None:
    token = unsigned({"alg": "none", "kid": "key-1"}, fake.claims())

    assert await refused(verifier, token, caplog) == (
        "its alg 'none' is not an asymmetric signature (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, "
        "ES512, EdDSA)"
    )


@pytest.mark.parametrize("secret", ["pem", "jwks"])
async def test_hs256_keyed_with_the_issuers_public_key_is_refused(
    fake: FakeIssuer, verifier: Verifier, caplog: pytest.LogCaptureFixture, secret: str
) -> None:
    """The classic algorithm-confusion forgery: anyone can read the public key, and a verifier that let the token
    pick HS256 would check the HMAC with it."""
    key = fake.keys["key-1"]
    public = public_pem(key) if secret == "pem" else json.dumps(public_jwk("key-1", key)).encode()
    token = unsigned({"alg": "HS256", "kid": "key-1", "typ": "JWT"}, fake.claims(), secret=public)

    assert (await refused(verifier, token, caplog)).startswith("its alg 'HS256' is not an asymmetric signature")


async def test_a_token_signed_by_another_key_under_a_known_key_id_is_refused(
    fake: FakeIssuer, verifier: Verifier, caplog: pytest.LogCaptureFixture
) -> None:
    token = fake.token(kid="key-1", key=rsa_key())

    assert await refused(verifier, token, caplog) == "its signature does not verify with the issuer's key"
    assert fake.jwks_fetches == 1  # a known key id: nothing to fetch again


async def test_an_algorithm_that_does_not_fit_the_key_is_refused(
    fake: FakeIssuer, verifier: Verifier, caplog: pytest.LogCaptureFixture
) -> None:
    token = fake.token(kid="key-1", key=ec.generate_private_key(ec.SECP256R1()), alg="ES256")

    assert await refused(verifier, token, caplog) == "the token's alg ES256 does not fit its key (kty RSA)"


async def test_an_elliptic_curve_key_works_too(fake: FakeIssuer, verifier: Verifier, clock: Clock) -> None:
    fake.keys["key-ec"] = ec.generate_private_key(ec.SECP256R1())

    accepted = await verifier.verify_token(fake.token(kid="key-ec", alg="ES256"))

    assert accepted is not None


async def test_an_unknown_key_id_causes_one_fetch_per_cool_down(
    fake: FakeIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    strangers = [fake.token(kid=f"made-up-{n}", key=rsa_key()) for n in range(3)]

    reasons = [await refused(verifier, token, caplog) for token in strangers]
    fetches_at_once = fake.jwks_fetches
    clock.now += REFETCH_COOLDOWN
    await refused(verifier, strangers[0], caplog)

    assert reasons[0] == "no signing key of the issuer has the token's key id 'made-up-0'"
    assert fetches_at_once == 2  # the first at discovery, one more for the three strangers
    assert fake.jwks_fetches == 3  # and one more once the cool-down has passed


async def test_after_a_key_rotation_new_tokens_are_accepted_without_a_restart(
    fake: FakeIssuer, verifier: Verifier, caplog: pytest.LogCaptureFixture
) -> None:
    old = fake.token()
    fake.rotate()

    new = await verifier.verify_token(fake.token())

    assert new is not None
    assert fake.jwks_fetches == 2
    assert await refused(verifier, old, caplog) == "no signing key of the issuer has the token's key id 'key-1'"


async def test_keys_are_fetched_again_once_stale_so_a_withdrawn_key_stops_working(
    fake: FakeIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    old = fake.token()
    fake.keys = {"key-2": rsa_key()}  # key-1 withdrawn, and no token names key-2 yet
    still = await verifier.verify_token(old)
    clock.now += KEYS_MAX_AGE

    assert still is not None
    assert await refused(verifier, old, caplog) == "no signing key of the issuer has the token's key id 'key-1'"


async def test_when_the_keys_cannot_be_fetched_again_the_known_ones_are_kept(
    fake: FakeIssuer, verifier: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    token = fake.token()
    fake.metadata_at = "nowhere"
    fake.keys = {}
    verifier.issuer.metadata = {**(verifier.issuer.metadata or {}), "jwks_uri": "https://issuer.test/gone"}
    clock.now += KEYS_MAX_AGE

    with caplog.at_level(logging.WARNING, "oas_mcp.hosting.oauth"):
        accepted = await verifier.verify_token(token)

    assert accepted is not None
    assert caplog.messages == [
        "cannot fetch the OAuth issuer's keys again (https://issuer.test/gone answered HTTP 404); keeping the 1 known"
    ]


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "oas read"}, ["oas", "read"]),
        ({"scope": None, "scp": "oas read"}, ["oas", "read"]),  # Entra ID
        ({"scope": None, "scp": ["oas", "read"]}, ["oas", "read"]),  # Okta
        ({"scope": None}, []),
    ],
)
async def test_scopes_are_read_from_scope_or_scp(
    fake: FakeIssuer, verifier: Verifier, claims: dict[str, Any], scopes: list[str]
) -> None:
    accepted = await verifier.verify_token(fake.token(**claims))

    assert accepted is not None
    assert accepted.scopes == scopes


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        (
            "https://login.example/realms/team",
            (
                "https://login.example/.well-known/oauth-authorization-server/realms/team",
                "https://login.example/realms/team/.well-known/openid-configuration",
            ),
        ),
        (
            "https://tenant.auth0.example/",
            (
                "https://tenant.auth0.example/.well-known/oauth-authorization-server",
                "https://tenant.auth0.example/.well-known/openid-configuration",
            ),
        ),
    ],
)
def test_discovery_tries_rfc_8414_then_openid_connect(issuer: str, expected: tuple[str, str]) -> None:
    assert discovery_urls(issuer) == expected


@pytest.mark.parametrize("published", ["rfc8414", "openid"])
async def test_the_issuer_is_discovered_by_either_document(fake: FakeIssuer, published: str) -> None:
    fake.metadata_at = published
    issuer = issuer_for(fake)

    await issuer.discover()

    assert issuer.metadata is not None
    assert issuer.metadata["jwks_uri"] == f"{ISSUER}/jwks"


async def test_metadata_naming_another_issuer_is_refused(fake: FakeIssuer) -> None:
    issuer = Issuer(f"{ISSUER}/", transport=httpx2.ASGITransport(app=fake.app))

    with pytest.raises(IssuerError) as caught:
        await issuer.discover()

    assert str(caught.value) == (
        f"the metadata at {ISSUER}/.well-known/openid-configuration is for issuer {ISSUER!r}, not '{ISSUER}/': "
        "OAS_OAUTH_ISSUER must be the issuer exactly as it names itself"
    )


async def test_until_the_issuer_is_reached_every_token_is_refused(
    fake: FakeIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = Verifier(issuer_for(fake), RESOURCE)

    assert await refused(verifier, fake.token(), caplog) == f"the issuer {ISSUER} has not been reached yet"


@pytest.fixture
async def introspecting(fake: FakeIssuer, clock: Clock) -> Verifier:
    issuer = issuer_for(fake, clock, client=OAuthClient(INTROSPECTOR[0], SecretStr(INTROSPECTOR[1])))
    await issuer.discover()
    return Verifier(issuer, RESOURCE, clock=clock)


async def test_an_opaque_token_is_introspected(fake: FakeIssuer, introspecting: Verifier) -> None:
    accepted = await introspecting.verify_token(fake.opaque_token(sub="bob", scope="oas"))

    assert accepted is not None
    assert (accepted.subject, accepted.scopes, fake.introspections) == ("bob", ["oas"], 1)
    assert accepted.claims is not None
    assert accepted.claims["iss"] == ISSUER


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"active": False}, "the issuer says it is not active"),
        ({"aud": "https://other.example/mcp"}, f"its aud does not name {RESOURCE}"),
        ({"iss": "https://elsewhere.example"}, f"its iss is not {ISSUER}"),
        ({"exp": Ago(LEEWAY + 60)}, "it has expired"),
        ({"sub": None, "client_id": None}, "it has neither a sub nor a client_id claim"),
        ({"exp": math.nan}, "its exp is not a number"),
        ({"exp": math.inf}, "its exp is not a number"),
        ({"exp": "tomorrow"}, "its exp is not a number"),
        ({"nbf": "yesterday"}, "its nbf is not a number"),
    ],
)
async def test_an_opaque_token_the_issuer_does_not_vouch_for_is_refused(
    fake: FakeIssuer,
    introspecting: Verifier,
    caplog: pytest.LogCaptureFixture,
    answer: dict[str, Any],
    reason: str,
) -> None:
    token = fake.opaque_token(**at_test_time(answer))

    assert await refused(introspecting, token, caplog) == reason


async def test_an_opaque_client_credentials_token_without_sub_is_its_clients(
    fake: FakeIssuer, introspecting: Verifier
) -> None:
    accepted = await introspecting.verify_token(fake.opaque_token(sub=None, client_id="pipeline"))

    assert accepted is not None
    assert (accepted.subject, accepted.client_id) == ("pipeline", "pipeline")


async def test_an_opaque_token_without_introspection_configured_is_refused(
    fake: FakeIssuer, verifier: Verifier, caplog: pytest.LogCaptureFixture
) -> None:
    assert await refused(verifier, fake.opaque_token(), caplog) == (
        "it is not a JWT, and introspection needs OAS_OAUTH_CLIENT_ID and OAS_OAUTH_CLIENT_SECRET"
    )
    assert fake.introspections == 0


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("x" * (MAX_TOKEN + 1), f"it is longer than {MAX_TOKEN} characters"),
        ("eyJ" + "x" * MAX_TOKEN + ".e30.sig", f"it is longer than {MAX_TOKEN} characters"),
        ("two words", "it has characters no bearer token has (RFC 6750)"),
        ("line\nbreak", "it has characters no bearer token has (RFC 6750)"),
        ("caf\u00e9-token", "it has characters no bearer token has (RFC 6750)"),
    ],
)
async def test_what_cannot_be_a_bearer_token_is_refused_before_anything_else(
    fake: FakeIssuer, introspecting: Verifier, caplog: pytest.LogCaptureFixture, token: str, reason: str
) -> None:
    assert await refused(introspecting, token, caplog) == reason
    assert fake.introspections == 0
    assert token not in remembered()


async def test_a_token_of_the_longest_length_is_still_introspected(fake: FakeIssuer, introspecting: Verifier) -> None:
    token = "t" * MAX_TOKEN
    fake.opaque[token] = {"active": True, **fake.claims()}

    assert await introspecting.verify_token(token) is not None


async def test_an_opaque_token_is_masked_in_logs_once_the_issuer_vouches_for_it_and_not_before(
    fake: FakeIssuer, introspecting: Verifier
) -> None:
    valid, made_up, other_audience = fake.opaque_token(), "made-up-token-0123456789", fake.opaque_token(aud="x")

    for token in (valid, made_up, other_audience):
        await introspecting.verify_token(token)

    assert (valid in remembered(), made_up in remembered(), other_audience in remembered()) == (True, False, False)


async def test_the_issuers_answers_are_kept_a_while(fake: FakeIssuer, introspecting: Verifier, clock: Clock) -> None:
    valid, made_up = fake.opaque_token(), "made-up-token-0123456789"

    accepted = [await introspecting.verify_token(valid) for _ in range(5)]
    refused = [await introspecting.verify_token(made_up) for _ in range(5)]
    counted = fake.introspections
    clock.now += INACTIVE_FOR
    await introspecting.verify_token(made_up)
    asked_again_after_inactive = fake.introspections - counted
    del fake.opaque[valid]  # revoked at the issuer: accepted still, until its answer is asked for again
    still = await introspecting.verify_token(valid)
    clock.now += ACTIVE_FOR
    revoked = await introspecting.verify_token(valid)

    assert None not in accepted
    assert refused == [None] * 5
    assert counted == 2
    assert asked_again_after_inactive == 1
    assert (still is not None, revoked) == (True, None)


async def test_an_active_answer_is_kept_no_longer_than_its_token_lasts(
    fake: FakeIssuer, introspecting: Verifier, clock: Clock
) -> None:
    token = fake.opaque_token(exp=int(time.time()) + 90)

    await introspecting.verify_token(token)
    clock.now += 90 + LEEWAY - 5
    await introspecting.verify_token(token)
    kept = fake.introspections
    clock.now += 10
    await introspecting.verify_token(token)

    assert (kept, fake.introspections) == (1, 2)


async def test_made_up_tokens_cost_the_issuer_a_few_requests_and_real_ones_none_of_that_budget(
    fake: FakeIssuer, introspecting: Verifier, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    known = fake.opaque_token()
    await introspecting.verify_token(known)
    real = [await introspecting.verify_token(fake.opaque_token()) for _ in range(3 * INTROSPECTION_BUDGET)]
    after_real = fake.introspections
    for _ in range(3 * INTROSPECTION_BUDGET):
        await introspecting.verify_token(secrets.token_urlsafe(24))
    made_up = fake.introspections - after_real
    why = await refused(introspecting, secrets.token_urlsafe(24), caplog)
    meanwhile = await introspecting.verify_token(known)
    clock.now += INTROSPECTION_REFILL
    await introspecting.verify_token(secrets.token_urlsafe(24))
    refilled = fake.introspections - after_real - made_up

    assert None not in real
    assert after_real == 1 + 3 * INTROSPECTION_BUDGET
    assert made_up == INTROSPECTION_BUDGET
    assert why == BUDGET_SPENT
    assert meanwhile is not None  # a token whose answer is kept is not held back
    assert refilled == 1


async def test_real_tokens_for_another_server_draw_on_the_budget_like_made_up_ones(
    fake: FakeIssuer, introspecting: Verifier, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone who can get tokens from the issuer for another resource (any client of theirs can) is no better off
    than someone who makes tokens up."""
    for _ in range(3 * INTROSPECTION_BUDGET):
        await introspecting.verify_token(fake.opaque_token(aud="https://other.example/mcp"))

    assert fake.introspections == INTROSPECTION_BUDGET
    assert await refused(introspecting, fake.opaque_token(aud="https://other.example/mcp"), caplog) == BUDGET_SPENT


async def test_a_token_accepted_before_is_asked_about_again_whatever_the_budget(
    fake: FakeIssuer, introspecting: Verifier, clock: Clock
) -> None:
    """A person's token was accepted; its answer is kept a while. When it is to be asked about again, strangers have
    just spent the budget with made-up tokens: the person is not locked out for it."""
    valid = fake.opaque_token()
    first = await introspecting.verify_token(valid)
    clock.now += ACTIVE_FOR
    for _ in range(INTROSPECTION_BUDGET):
        await introspecting.verify_token(secrets.token_urlsafe(24))
    asked = fake.introspections
    again = await introspecting.verify_token(valid)
    del fake.opaque[valid]  # revoked: once its answer is old, asked again and refused
    clock.now += ACTIVE_FOR
    revoked = await introspecting.verify_token(valid)

    assert first is not None
    assert again is not None
    assert fake.introspections == asked + 2
    assert revoked is None


async def test_made_up_tokens_from_many_addresses_cost_the_issuer_a_bounded_number_of_requests(
    fake: FakeIssuer, introspecting: Verifier, caplog: pytest.LogCaptureFixture
) -> None:
    """Each address has its own budget, so that one stranger locks no one else out; strangers at many addresses
    share one budget more, so that the issuer is asked a bounded number of times all the same."""
    senders = [f"203.0.113.{number}" for number in range(3 * INTROSPECTION_BUDGET_ALL // INTROSPECTION_BUDGET)]
    for address in senders:
        with sent_from(address):
            for _ in range(INTROSPECTION_BUDGET):
                await introspecting.verify_token(secrets.token_urlsafe(24))
    with sent_from("198.51.100.20"):
        why = await refused(introspecting, secrets.token_urlsafe(24), caplog)

    assert fake.introspections == INTROSPECTION_BUDGET_ALL
    assert why == BUDGET_SPENT


async def test_ipv4_clients_of_a_dual_stack_socket_each_have_their_own_budget(
    fake: FakeIssuer, introspecting: Verifier
) -> None:
    """Bound to ``::``, the server sees IPv4 clients as IPv4-mapped IPv6 addresses (``::ffff:203.0.113.7``): each is
    its IPv4 address, not one /64 that holds every IPv4 client."""
    with sent_from("::ffff:203.0.113.7"):
        for _ in range(INTROSPECTION_BUDGET):
            await introspecting.verify_token(secrets.token_urlsafe(24))
    with sent_from("::ffff:198.51.100.20"):
        other = await introspecting.verify_token(fake.opaque_token())

    assert other is not None


async def test_requests_at_once_make_one_introspection_per_token_and_a_few_at_a_time(
    fake: FakeIssuer, introspecting: Verifier
) -> None:
    fake.introspection_delay = 0.05
    same, distinct = fake.opaque_token(), [fake.opaque_token() for _ in range(3 * INTROSPECTION_BUDGET)]
    accepted: list[AccessToken | None] = []

    async def verify(token: str) -> None:
        accepted.append(await introspecting.verify_token(token))

    async with anyio.create_task_group() as group:
        for token in [same] * 50 + distinct:
            group.start_soon(verify, token)

    assert None not in accepted
    assert fake.introspections == 1 + len(distinct)
    assert fake.most_introspecting == INTROSPECTION_BUDGET


# --- Served over HTTP, as a real process, with the issuer on a loopback port --------------------------------------


HTTP = ("--sandbox", "--transport", "http")


@contextmanager
def oauth_served(*args: str, **env: str) -> Iterator[tuple[FakeIssuer, Running]]:
    """oas-mcp over HTTP with OAuth on (and ``args`` and ``env`` besides), its issuer up on a loopback port."""
    fake = FakeIssuer(f"http://127.0.0.1:{free_port()}")
    port = free_port()
    env = {"OAS_OAUTH_ISSUER": fake.url, "OAS_PUBLIC_URL": f"http://127.0.0.1:{port}/mcp", **env}
    with serving(fake), running_on(port, *HTTP, *args, **env) as server:
        wait_for(server, "signing keys")
        yield fake, server


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeIssuer, Running]]:
    """oas-mcp with OAuth on, requiring scope oas, its issuer up; the issuer's tokens name oas-mcp's URL."""
    with oauth_served(OAS_OAUTH_SCOPES="oas") as (fake, server):
        yield fake, server


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(fake: FakeIssuer, server: Running, **changes: Any) -> str:
    return fake.token(aud=server.mcp, **changes)


@pytest.mark.parametrize("case", ["missing", "expired", "other audience"])
def test_without_a_valid_token_the_answer_is_401_naming_the_resource_metadata(
    served: tuple[FakeIssuer, Running], case: str
) -> None:
    fake, server = served
    sent = {
        "missing": {},
        "expired": bearer(token_for(fake, server, exp=int(time.time()) - 3600)),
        "other audience": bearer(fake.token(aud="https://other.example/mcp")),
    }[case]

    response = post_initialize(server.mcp, **sent)

    assert response.status_code == 401
    metadata = f"{server.url}/.well-known/oauth-protected-resource/mcp"
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="Authentication required", resource_metadata="{metadata}"'
    )


def test_a_token_without_the_scope_gets_403_insufficient_scope(served: tuple[FakeIssuer, Running]) -> None:
    fake, server = served

    response = post_initialize(server.mcp, **bearer(token_for(fake, server, scope="profile")))

    assert response.status_code == 403
    assert response.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert response.json() == {"error": "insufficient_scope", "error_description": "Required scope: oas"}


def test_the_protected_resource_metadata_names_the_resource_and_the_issuer(
    served: tuple[FakeIssuer, Running],
) -> None:
    fake, server = served

    response = httpx2.get(f"{server.url}/.well-known/oauth-protected-resource/mcp")

    assert response.status_code == 200
    assert response.json() == {
        "resource": server.mcp,
        "authorization_servers": [fake.url],
        "scopes_supported": ["oas"],
        "bearer_methods_supported": ["header"],
    }


async def test_the_tools_work_with_a_token_and_the_log_names_its_subject(served: tuple[FakeIssuer, Running]) -> None:
    fake, server = served
    token = token_for(fake, server, sub="carol@example.com")

    async with session(server.mcp, token=token, mode="legacy") as client:
        hello = structured(await client.call_tool("hello", {}))
        listed = structured(await client.call_tool("list_organisations", {"limit": 2}))

    assert hello["username"] == "demo"
    assert listed["returned"] == 2
    log = server.output()
    assert "oas_mcp.client [sub carol@example.com]: listed 2 organisations" in log
    assert token not in log


async def test_one_subjects_session_is_not_anothers(served: tuple[FakeIssuer, Running]) -> None:
    fake, server = served
    alice, mallory = token_for(fake, server, sub="alice"), token_for(fake, server, sub="mallory")
    opened = post_initialize(server.mcp, **bearer(alice))
    session_id = opened.headers["mcp-session-id"]
    ping = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"})

    stolen = post_message(server.mcp, ping, **bearer(mallory), **in_session(session_id))
    own = post_message(server.mcp, ping, **bearer(alice), **in_session(session_id))

    assert opened.status_code == 200
    assert stolen.status_code == 404
    assert own.status_code == 200


async def test_one_person_cannot_take_every_session_and_others_still_get_in() -> None:
    """Alice, signed in, opens sessions in a loop (from any number of OAuth clients: anyone may register one at
    many issuers). She gets her share (before, all the server's sessions, and everyone else got 503), is told
    what to do, and bob still gets in."""
    with oauth_served(OAS_MAX_SESSIONS="6", OAS_MAX_SESSIONS_PER_PRINCIPAL="3") as (fake, server):
        async with AsyncExitStack() as held:
            alices, refusal = await sessions_until_refused(server.mcp, held, 6, token=token_for(fake, server))
            other_client = post_initialize(server.mcp, **bearer(token_for(fake, server, client_id="another-client")))
            bobs, _ = await sessions_until_refused(server.mcp, held, 1, token=token_for(fake, server, sub="bob"))

    assert (alices, bobs) == (3, 1)
    assert refusal.startswith("Too many open sessions: you have 3 open, the most one user may have at once.")
    assert other_client.status_code == 429
    assert other_client.headers["content-type"] == "application/json"
    assert other_client.json()["error"]["message"] == refusal


def test_an_issuer_down_at_start_up_is_said_in_one_line_and_tried_again() -> None:
    fake = FakeIssuer(f"http://127.0.0.1:{free_port()}")
    port = free_port()
    env = {"OAS_OAUTH_ISSUER": fake.url, "OAS_PUBLIC_URL": f"http://127.0.0.1:{port}/mcp"}
    with running_on(port, *HTTP, **env) as server:
        wait_for(server, "cannot use the OAuth issuer")
        token = token_for(fake, server)
        health = httpx2.get(f"{server.url}/healthz")
        before = post_initialize(server.mcp, **bearer(token))
        with serving(fake):
            wait_for(server, "reached at last")
            after = post_initialize(server.mcp, **bearer(token))
        log = server.output()

    assert (health.status_code, before.status_code, after.status_code) == (200, 401, 200)
    (warning,) = [line for line in log.splitlines() if "WARNING" in line]
    assert warning.endswith(
        f"oas_mcp.hosting.oauth: cannot use the OAuth issuer {fake.url} (cannot reach {fake.url}/.well-known/"
        f"oauth-authorization-server: ConnectError; cannot reach {fake.url}/.well-known/openid-configuration: "
        "ConnectError); serving anyway, refusing tokens until it answers, and retrying"
    )
    assert f"OAuth issuer {fake.url} reached at last: 1 signing keys" in log


async def test_per_request_credentials_still_use_each_requests_key_with_oauth() -> None:
    with oauth_served("--per-request-credentials") as (fake, server):
        token = token_for(fake, server, sub="dave")
        async with session(server.mcp, token=token, api_key=DEMO2_API_KEY, mode="legacy") as client:
            listed = structured(await client.call_tool("list_organisations", {}))
        without = post_initialize(server.mcp, **bearer(token))
        opened = post_initialize(server.mcp, **bearer(token), **{"X-Api-Key": DEMO2_API_KEY})
        ping = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"})
        other_key = post_message(
            server.mcp, ping, **bearer(token), **in_session(opened.headers["mcp-session-id"]), **{"X-Api-Key": "x" * 41}
        )

    assert {org["name"] for org in listed["organisations"]} == {name for name, _, _ in DEMO2_ORGANISATIONS}
    assert without.status_code == 200  # a session may open; its tool calls need the key
    assert other_key.status_code == 404


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            (),
            {"OAS_OAUTH_ISSUER": ISSUER, "OAS_PUBLIC_URL": RESOURCE, "OAS_MCP_TOKEN": "test-client-token-0123456789"},
            "OAS_OAUTH_ISSUER and a client token (OAS_MCP_TOKEN or OAS_MCP_TOKEN_FILE) are two ways to authenticate "
            "clients; set one of them",
        ),
        (
            ("--insecure-no-auth",),
            {"OAS_OAUTH_ISSUER": ISSUER, "OAS_PUBLIC_URL": RESOURCE},
            "--insecure-no-auth contradicts OAS_OAUTH_ISSUER; drop one of them",
        ),
        (
            (),
            {"OAS_OAUTH_ISSUER": ISSUER},
            "OAS_OAUTH_ISSUER needs OAS_PUBLIC_URL, the URL clients reach the MCP endpoint at "
            "(e.g. https://mcp.example.com/mcp): tokens must name it in their aud",
        ),
        (
            (),
            {"OAS_PUBLIC_URL": RESOURCE},
            "OAS_PUBLIC_URL is only used with OAuth: set OAS_OAUTH_ISSUER too, or drop it",
        ),
        (
            (),
            {"OAS_OAUTH_ISSUER": ISSUER, "OAS_PUBLIC_URL": RESOURCE, "OAS_OAUTH_CLIENT_ID": "oas-mcp"},
            "introspection needs both OAS_OAUTH_CLIENT_ID and OAS_OAUTH_CLIENT_SECRET; set both",
        ),
        (
            (),
            {"OAS_OAUTH_ISSUER": "http://login.example.com/realms/team", "OAS_PUBLIC_URL": RESOURCE},
            "invalid setting OAS_OAUTH_ISSUER: must be https:// (plain http:// only on loopback, for tests)",
        ),
        (
            (),
            {"OAS_OAUTH_ISSUER": ISSUER, "OAS_PUBLIC_URL": RESOURCE, "OAS_OAUTH_SCOPES": "oas,read write"},
            "invalid setting OAS_OAUTH_SCOPES: 'read write' is not a scope such as mcp:tools (no spaces, quotes or "
            "backslashes)",
        ),
    ],
)
def test_incomplete_or_contradictory_oauth_settings_refuse_to_start_with_one_line(
    args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    result = command(*HTTP, *args, **env)

    assert (result.returncode, result.stderr) == (2, f"oas-mcp: {expected}\n")


def test_on_a_public_address_the_public_urls_host_is_an_allowed_host() -> None:
    fake = FakeIssuer(f"http://127.0.0.1:{free_port()}")
    env = {"OAS_OAUTH_ISSUER": fake.url, "OAS_PUBLIC_URL": "https://mcp.example.com/mcp"}
    token = bearer(fake.token(aud="https://mcp.example.com/mcp"))

    with serving(fake), running(*HTTP, "--host", "0.0.0.0", **env) as server:
        wait_for(server, "signing keys")
        allowed = post_initialize(server.mcp, Host="mcp.example.com", **token)
        other = post_initialize(server.mcp, Host="evil.example", **token)

    assert allowed.status_code == 200
    assert other.status_code == 421


# --- Opaque tokens from strangers: what a flood of made-up ones costs ---------------------------------------------


def introspecting_server(**env: str) -> AbstractContextManager[tuple[FakeIssuer, Running]]:
    """oas-mcp with OAuth and introspection on (scope oas required, and ``env``), its issuer up on a loopback port."""
    client_id, secret = INTROSPECTOR
    return oauth_served(OAS_OAUTH_SCOPES="oas", OAS_OAUTH_CLIENT_ID=client_id, OAS_OAUTH_CLIENT_SECRET=secret, **env)


@pytest.mark.slow  # a server process and a flood of tokens: .ci/run runs it after the README's command
async def test_made_up_opaque_tokens_reach_the_issuer_a_few_times_and_a_valid_one_once() -> None:
    """A client's valid opaque token used for 50 requests of its session, then 100 made-up tokens sent 20 at a
    time, then the valid one again: the issuer (on a loopback port) counts the introspections oas-mcp makes."""
    with introspecting_server() as (fake, server):
        async with httpx2.AsyncClient(timeout=60) as http:

            async def post(token: str, message: str = INITIALIZE, **headers: str) -> httpx2.Response:
                """An MCP message POSTed with ``token``."""
                headers |= {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
                return await http.post(server.mcp, content=message, headers={**headers, **bearer(token)})

            valid = fake.opaque_token(aud=server.mcp)
            opened = await post(valid)
            in_it = in_session(opened.headers["mcp-session-id"])
            uses = [opened.status_code] + [(await post(valid, PING, **in_it)).status_code for _ in range(49)]
            after_valid = fake.introspections
            made_up: list[int] = []
            at_once = anyio.CapacityLimiter(20)

            async def made_up_one() -> None:
                async with at_once:
                    made_up.append((await post(secrets.token_urlsafe(24))).status_code)

            async with anyio.create_task_group() as group:
                for _ in range(100):
                    group.start_soon(made_up_one)
            after_made_up = fake.introspections - after_valid
            still = (await post(valid, PING, **in_it)).status_code

    assert set(uses) == {200}
    assert made_up == [401] * 100
    assert (after_valid, still) == (1, 200)  # and a flood of made-up ones does not lock it out
    assert after_made_up <= 10


@pytest.mark.slow  # a server process and a flood of tokens: .ci/run runs it after the README's command
async def test_made_up_tokens_from_one_address_lock_out_no_one_elses_new_token() -> None:
    """A stranger sends made-up opaque tokens, one every few seconds: enough to keep the issuer from being asked
    for anyone. Behind a balancer (OAS_TRUSTED_PROXIES), a person from another address signs in with a new token,
    and gets in at once; the stranger's next made-up token still reaches no issuer."""
    with introspecting_server(OAS_TRUSTED_PROXIES="127.0.0.1") as (fake, server):
        async with httpx2.AsyncClient(timeout=60) as http:

            async def post(token: str, sender: str) -> int:
                """The status of an MCP initialize request with ``token``, from ``sender`` as the balancer says."""
                headers = {
                    "Content-Type": "application/json",
                    "Accept": "application/json, text/event-stream",
                    "X-Forwarded-For": sender,
                    **bearer(token),
                }
                return (await http.post(server.mcp, content=INITIALIZE, headers=headers)).status_code

            made_up = [await post(secrets.token_urlsafe(24), "203.0.113.7") for _ in range(2 * INTROSPECTION_BUDGET)]
            asked = fake.introspections
            new = await post(fake.opaque_token(aud=server.mcp), "198.51.100.20")
            more = await post(secrets.token_urlsafe(24), "203.0.113.7")

    assert made_up == [401] * 2 * INTROSPECTION_BUDGET
    assert asked == INTROSPECTION_BUDGET
    assert (new, more) == (200, 401)
    assert fake.introspections == asked + 1


def resident_memory(pid: int) -> int:
    """How much memory process ``pid`` holds (its RSS), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def huge_tokens(count: int) -> list[str]:
    """Made-up opaque tokens of 15 KB each: about the most h11 takes in a header (16 KB in all)."""
    return [secrets.token_urlsafe(15 * 1024 * 3 // 4) for _ in range(count)]


class Wire:
    """One keep-alive HTTP/1.1 connection to a server on a loopback ``port``, spoken with h11 (as uvicorn does): how
    long a request takes is the server's doing, not a client library's (httpx2 takes ~5 ms to send a 15 KB header)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.http = h11.Connection(h11.CLIENT)

    def close(self) -> None:
        self.socket.close()

    def initialize(self, token: str) -> h11.Response:
        """POST an MCP initialize request with ``token`` to /mcp; the response (its body read and dropped)."""
        headers = {"Host": f"127.0.0.1:{self.port}", "Content-Length": str(len(INITIALIZE)), **bearer(token)}
        request = h11.Request(method="POST", target="/mcp", headers=list(headers.items()))
        sent = [self.http.send(event) for event in (request, h11.Data(data=INITIALIZE.encode()), h11.EndOfMessage())]
        self.socket.sendall(b"".join(part or b"" for part in sent))
        response = None
        while not isinstance(event := self.http.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                self.http.receive_data(self.socket.recv(65536))
            elif isinstance(event, h11.Response):
                response = event
        self.http.start_next_cycle()
        assert response is not None
        return response


@contextmanager
def health_checks(url: str) -> Iterator[list[tuple[int, float]]]:
    """A load balancer checking ``url``/healthz every 20 ms until the block ends: the status and seconds of each."""
    checks: list[tuple[int, float]] = []
    done = threading.Event()

    def check() -> None:
        with httpx2.Client(timeout=30) as http:
            while not done.is_set():
                started = time.perf_counter()
                status = http.get(f"{url}/healthz").status_code
                checks.append((status, time.perf_counter() - started))
                done.wait(0.02)

    checker = threading.Thread(target=check)
    checker.start()
    try:
        yield checks
    finally:
        done.set()
        checker.join()


@pytest.mark.slow  # CPU for 300 tokens of 15 KB: .ci/run runs it after the README's test command
def test_a_flood_of_huge_made_up_opaque_tokens_costs_little_and_health_checks_still_answer() -> None:
    """Someone with no token at all sends 300 distinct random 15 KB opaque tokens, one after another, while a load
    balancer checks /healthz: each is refused quickly, the server's memory hardly grows, and the checks answer."""
    took: list[float] = []  # seconds to refuse each
    with introspecting_server() as (_, server), closing(Wire(server.port)) as wire:
        for token in huge_tokens(5):  # the server's first requests load code and fill buffers: not the flood's cost
            wire.initialize(token)
        before = resident_memory(server.process.pid)
        give_up = time.monotonic() + 60
        with health_checks(server.url) as checks:
            for token in huge_tokens(300):
                started = time.perf_counter()
                response = wire.initialize(token)
                took.append(time.perf_counter() - started)
                assert response.status_code == 401
                assert b"resource_metadata=" in dict(response.headers)[b"www-authenticate"]
                if time.monotonic() > give_up:
                    break
        grown = resident_memory(server.process.pid) - before

    assert len(took) == 300, f"{len(took)} refusals in a minute"
    assert grown < 20 * 2**20, f"the server grew by {grown / 2**20:.0f} MB"
    assert statistics.median(took) < 0.010, f"a refusal took {statistics.median(took) * 1000:.1f} ms (median)"
    assert checks, "no health check was answered during the flood"
    assert {status for status, _ in checks} == {200}
    assert max(seconds for _, seconds in checks) < 1.0, f"a health check took {max(checks)[1]:.2f} s"

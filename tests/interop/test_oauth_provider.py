"""oas-mcp as an OAuth resource server against a real authorization server: node-oidc-provider (npm
``oidc-provider``, OpenID Certified) on Node 22, configured with resource indicators so that it issues RS256 JWT
access tokens for oas-mcp's URL (tests/interop/oauth_provider.mjs).

``.ci/run`` installs it beside the other npm tools and sets ``INTEROP_BIN``; without that variable these tests are
skipped, and with it a missing tool fails them.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from http_clients import post_initialize
from oauth_issuer import rsa_key, unsigned
from support import Running, free_port, running_on, structured

pytestmark = pytest.mark.anyio

PROVIDER = Path(__file__).with_name("oauth_provider.mjs")
PIPELINE = ("pipeline", "pipeline-secret-0123456789")
OPAQUE_PIPELINE = ("opaque-pipeline", "opaque-secret-0123456789")
INTROSPECTOR = ("oas-mcp", "introspection-secret-0123456789")
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never served: the test reads the code from the redirect
CALLS: dict[str, dict[str, Any]] = {
    "hello": {},
    "login": {},
    "list_organisations": {"limit": 3},
    "create_organisation": {"name": "OAuth Ltd", "base_currency": "EUR", "currencies": ["GBP"]},
    "activate_organisation": {"organisation_id": 2},
}


class Provider:
    """oidc-provider on a loopback port, as issuer ``url``; each start makes a new signing key. ``args`` follow the
    port and the node_modules folder on its command line (see oauth_provider.mjs)."""

    def __init__(self, node_modules: Path, port: int, *args: str) -> None:
        self.command = [str(node_modules / ".bin" / "node"), str(PROVIDER), str(port), str(node_modules), *args]
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("listening at "):
                return
        raise AssertionError(f"oidc-provider exited with {self.process.wait()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)


@contextmanager
def provider(node_modules: Path, port: int, *args: str) -> Iterator[Provider]:
    started = Provider(node_modules, port, *args)
    try:
        started.start()
        yield started
    finally:
        started.stop()


@dataclass
class Deployment:
    """oidc-provider, and oas-mcp trusting it (scope oas required, introspection configured)."""

    provider: Provider
    server: Running

    @property
    def issuer(self) -> str:
        return self.provider.url

    @property
    def resource(self) -> str:
        return self.server.mcp


@contextmanager
def deployment(node_modules: Path) -> Iterator[Deployment]:
    port = free_port()
    with provider(node_modules, free_port()) as issuer:
        env = {
            "OAS_OAUTH_ISSUER": issuer.url,
            "OAS_PUBLIC_URL": f"http://127.0.0.1:{port}/mcp",
            "OAS_OAUTH_SCOPES": "oas",
            "OAS_OAUTH_CLIENT_ID": INTROSPECTOR[0],
            "OAS_OAUTH_CLIENT_SECRET": INTROSPECTOR[1],
        }
        with running_on(port, "--sandbox", "--transport", "http", **env) as server:
            wait_for(server, "signing keys")
            yield Deployment(issuer, server)


def wait_for(server: Running, text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in server.output():
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{server.output()}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def deployed(node_modules: Path) -> Iterator[Deployment]:
    with deployment(node_modules) as deployed:
        yield deployed


def client_credentials(
    issuer: str, resource: str, client: tuple[str, str] = PIPELINE, scope: str | None = "oas"
) -> str:
    """An access token for ``resource`` from ``issuer``, by the client_credentials grant."""
    form = {"grant_type": "client_credentials", "resource": resource, **({"scope": scope} if scope else {})}
    response = httpx2.post(f"{issuer}/token", data=form, auth=client)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Memory:
    """The SDK client's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Browser:
    """A user at the provider's login and consent pages: follows redirects, fills each form, and keeps the
    authorization code the provider finally redirects to the client with."""

    def __init__(self, login: str) -> None:
        self.login = login
        self.result: AuthorizationCodeResult | None = None
        self.pages: list[str] = []

    async def open(self, url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as http:
            response = await http.get(url)
            for _ in range(12):
                if response.is_redirect:
                    location = urljoin(str(response.url), response.headers["location"])
                    if location.startswith(REDIRECT_URI):
                        query = {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
                        self.result = AuthorizationCodeResult.model_validate(query)
                        return
                    response = await http.get(location)
                    continue
                assert response.status_code == 200, response.text
                prompt = 'name="prompt" value="'
                kind = response.text.split(prompt, 1)[1].split('"', 1)[0]
                action = response.text.split('action="', 1)[1].split('"', 1)[0]
                self.pages.append(kind)
                form = {"prompt": kind, **({"login": self.login} if kind == "login" else {})}
                response = await http.post(urljoin(str(response.url), action), data=form)
        raise AssertionError(f"no redirect to the client after pages {self.pages}")

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


async def call_every_tool(url: str, auth: httpx2.Auth) -> dict[str, dict[str, Any]]:
    async with (
        httpx2.AsyncClient(auth=auth, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        return {name: structured(await client.call_tool(name, arguments)) for name, arguments in CALLS.items()}


async def test_the_sdk_client_discovers_registers_signs_in_with_pkce_and_calls_every_tool(
    deployed: Deployment,
) -> None:
    browser, storage = Browser("erin"), Memory()
    auth = OAuthClientProvider(
        deployed.resource,
        OAuthClientMetadata(redirect_uris=[REDIRECT_URI], client_name="oas-mcp tests"),
        storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )

    results = await call_every_tool(deployed.resource, auth)

    assert browser.pages == ["login", "consent"]
    assert storage.client is not None  # registered dynamically
    assert storage.tokens is not None
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert (claims["sub"], claims["aud"], claims["iss"]) == ("erin", deployed.resource, deployed.issuer)
    assert results["hello"]["username"] == "demo"
    assert results["list_organisations"]["returned"] == 3
    assert results["create_organisation"]["currencies"] == ["EUR", "GBP"]
    assert results["activate_organisation"]["organisation_id"] == 2
    assert "oas_mcp.client [sub erin]: listed 3 organisations" in deployed.server.output()


async def test_client_credentials_works_for_pipelines(deployed: Deployment) -> None:
    auth = ClientCredentialsOAuthProvider(deployed.resource, Memory(), *PIPELINE, scope="oas", issuer=deployed.issuer)

    results = await call_every_tool(deployed.resource, auth)

    assert results["hello"]["username"] == "demo"


def test_an_opaque_token_is_introspected_at_the_provider(deployed: Deployment) -> None:
    token = client_credentials(deployed.issuer, deployed.resource, OPAQUE_PIPELINE)

    response = post_initialize(deployed.resource, **bearer(token))

    assert token.count(".") == 0
    assert response.status_code == 200


def forged(token: str, how: str, issuer: str) -> str:
    """The provider's ``token`` re-signed as an attacker would: with no signature, with HS256 keyed by the
    provider's public key, or with the attacker's own key under the provider's key id."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    if how == "alg none":
        return unsigned({**header, "alg": "none"}, claims)
    if how == "HS256 keyed with the public key":
        public = jwt.algorithms.RSAAlgorithm.from_jwk(httpx2.get(f"{issuer}/jwks").json()["keys"][0])
        assert isinstance(public, rsa.RSAPublicKey)
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return unsigned({**header, "alg": "HS256"}, claims, secret=pem)
    return jwt.encode(claims, rsa_key(), algorithm="RS256", headers={"kid": header["kid"], "typ": "at+jwt"})


@pytest.mark.parametrize("how", ["alg none", "HS256 keyed with the public key", "an unknown key under a known kid"])
def test_a_forged_token_is_refused(deployed: Deployment, how: str) -> None:
    token = forged(client_credentials(deployed.issuer, deployed.resource), how, deployed.issuer)

    response = post_initialize(deployed.resource, **bearer(token))

    assert response.status_code == 401
    assert "resource_metadata=" in response.headers["www-authenticate"]


def test_a_token_for_another_audience_is_refused(deployed: Deployment) -> None:
    token = client_credentials(deployed.issuer, "http://127.0.0.1:9/other")

    assert post_initialize(deployed.resource, **bearer(token)).status_code == 401


def test_an_expired_token_is_refused(deployed: Deployment) -> None:
    httpx2.post(f"{deployed.issuer}/test/clock", params={"offset": -3600})  # issued an hour ago, for 10 minutes
    try:
        token = client_credentials(deployed.issuer, deployed.resource)
    finally:
        httpx2.post(f"{deployed.issuer}/test/clock", params={"offset": 0})

    assert jwt.decode(token, options={"verify_signature": False})["exp"] < time.time() - 600
    assert post_initialize(deployed.resource, **bearer(token)).status_code == 401


def test_another_issuers_token_is_refused(deployed: Deployment, node_modules: Path) -> None:
    with provider(node_modules, free_port()) as other:
        token = client_credentials(other.url, deployed.resource)

    assert post_initialize(deployed.resource, **bearer(token)).status_code == 401


def test_a_token_without_the_scope_gets_403(deployed: Deployment) -> None:
    token = client_credentials(deployed.issuer, deployed.resource, scope=None)

    response = post_initialize(deployed.resource, **bearer(token))

    assert "scope" not in jwt.decode(token, options={"verify_signature": False})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_after_a_key_rotation_new_tokens_are_accepted_without_a_restart(node_modules: Path) -> None:
    with deployment(node_modules) as deployed:  # its own: no other test's unknown key id has used the cool-down
        before = client_credentials(deployed.issuer, deployed.resource)
        accepted_before = post_initialize(deployed.resource, **bearer(before)).status_code
        deployed.provider.stop()
        deployed.provider.start()  # the same issuer, with a new signing key
        after = client_credentials(deployed.issuer, deployed.resource)
        accepted_after = post_initialize(deployed.resource, **bearer(after)).status_code

    kids = {jwt.get_unverified_header(token)["kid"] for token in (before, after)}
    assert len(kids) == 2
    assert (accepted_before, accepted_after) == (200, 200)

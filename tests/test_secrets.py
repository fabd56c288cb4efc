"""Secret canaries: known secret values go in; none of them, nor any JWT, comes out anywhere the user sees."""

from __future__ import annotations

import json
import logging
import re
import secrets
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult

from oas_mcp.cli.options import make_client
from oas_mcp.client import AuthenticationError, Credentials
from oas_mcp.observability.logs import configure
from oas_mcp.redact import MASK, remembered, scrub
from oas_mcp.sandbox import Fault, Sandbox
from oas_mcp.server.credentials import FROM_HEADER, Clients
from oas_mcp.server.errors import describe
from oas_mcp.settings import Settings

from support import client_for, server_for

pytestmark = pytest.mark.anyio

KEY = "Canary00.KeyKeyKeyKeyKeyKeyKeyKeyKeyKey000"
PASSWORD = "canary-password-7f3a9c"
WRONG_KEY = "Canary99.WrongWrongWrongWrongWrongWrong99"
WRONG_PASSWORD = "canary-wrong-password-1b2d"
CANARIES = (KEY, PASSWORD, WRONG_KEY, WRONG_PASSWORD)
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
CREDENTIALS = {"api_key": KEY, "username": "canary", "email": "canary@example.test", "password": PASSWORD}


@contextmanager
def debug_logging() -> Iterator[None]:
    """oas-mcp's own logging at DEBUG (httpx2 and the SDK included), to the (captured) stderr of the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx2", "httpcore2", "mcp", "uvicorn.access")}
    configure("DEBUG")
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, saved in levels.items():
            logging.getLogger(name).setLevel(saved)


def canary_sandbox() -> Sandbox:
    sandbox = Sandbox(auth="both")
    user = sandbox.store.add_user("canary", "canary@example.test", PASSWORD, KEY)
    sandbox.store.add_organisation(user, "Canary Org", "USD", ["USD"])
    return sandbox


async def every_call(client: Client) -> list[CallToolResult]:
    new = {"name": "Canary Two", "base_currency": "EUR", "currencies": ["EUR"]}
    return [
        await client.call_tool("hello", {}),
        await client.call_tool("login", {}),
        await client.call_tool("list_organisations", {}),
        await client.call_tool("create_organisation", new),
        await client.call_tool("create_organisation", {**new, "base_currency": "??"}),
        await client.call_tool("activate_organisation", {"organisation_id": 6}),
        await client.call_tool("activate_organisation", {"organisation_id": 999}),
    ]


async def test_no_secret_reaches_a_result_an_error_or_a_log(capsys: pytest.CaptureFixture[str]) -> None:
    with debug_logging():
        outputs = await run_everything()
    outputs.append(capsys.readouterr().err)
    everything = "\n".join(outputs)

    assert "HTTP Request: GET" in everything  # httpx2's own request log was captured
    assert "Sign-in failed" in everything  # the failing paths ran
    assert "signed_in" in everything  # the session resource was read
    for canary in CANARIES:
        assert canary not in everything
    assert JWT.search(everything) is None


async def resource_text(client: Client, uri: str) -> str:
    """A resource's contents, or the error reading it gave."""
    try:
        return json.dumps((await client.read_resource(uri)).model_dump(mode="json"))
    except MCPError as error:
        return str(error)


async def run_everything() -> list[str]:
    """Every tool, on good and bad credentials and through faults that echo secrets; all that came out."""
    outputs: list[str] = []
    sandbox = canary_sandbox()
    for credentials in (
        CREDENTIALS,
        {**CREDENTIALS, "password": WRONG_PASSWORD},
        {**CREDENTIALS, "api_key": WRONG_KEY, "password": ""},
    ):
        async with Client(server_for(sandbox, **credentials, log_level="DEBUG")) as client:
            results = await every_call(client)
            sandbox.inject(
                Fault(match="GET /helloworld", status=500, body=json.dumps({"detail": f"bad key {KEY} {PASSWORD}"})),
                Fault(match="GET /api/organisations/*", body=f"<html>{KEY}</html>", content_type="text/html"),
                Fault(match="POST /api/organisations/", drop="after"),
            )
            results += await every_call(client)
            sandbox.faults.clear()
            outputs += [await resource_text(client, uri) for uri in ("oas://session", "oas://organisations")]
        outputs += [json.dumps(result.model_dump(mode="json")) for result in results]

    assert sandbox.store.logins > 0
    settings = Settings.load(**CREDENTIALS)
    return [*outputs, repr(settings), str(settings), repr(make_client(settings))]


def test_per_user_keys_stay_masked_without_the_mask_list_growing_with_each() -> None:
    shared = make_client(Settings.load(**CREDENTIALS))
    keys = [f"User{n:04d}.{'k' * 28}{n:04d}" for n in range(300)]
    for key in keys:
        shared.with_credentials(Credentials.of(api_key=key))

    assert scrub(f"X {keys[0]} and {keys[-1]}") == f"X {MASK} and {MASK}"
    assert scrub("User0000.short") == "User0000.short"
    assert len(remembered()) < 100


def test_masking_the_keys_of_many_users_costs_no_memory_beyond_the_keys_kept() -> None:
    """With per-request credentials, anyone who may call sends keys of their choosing, each of up to 512 characters:
    each new one is masked by name from then on. That must not build (and cache) ever more patterns of them."""
    shared = make_client(Settings.load(**CREDENTIALS))
    keys = [secrets.token_urlsafe(384) for _ in range(200)]  # 512 characters each
    tracemalloc.start()
    try:
        for key in keys:
            shared.with_credentials(Credentials.of(api_key=key))
        scrub(keys[-1])
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert held < 2**20, f"{held / 2**20:.1f} MB held"
    assert scrub(f"X {keys[-1]} Y") == f"X {MASK} Y"


async def test_a_users_key_of_any_shape_is_masked_while_its_call_runs_however_many_users_came_since(
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = "my-own-key_of-another-shape:7Qx9"  # not shaped like the guide's keys: only knowing it can mask it
    echo = json.dumps({"detail": f"Invalid key {key}."})
    sandbox = Sandbox()
    sandbox.inject(Fault("GET /helloworld", status=503, body=echo), Fault("GET /helloworld", status=401, body=echo))
    with debug_logging():
        async with client_for(sandbox) as shared:
            clients = Clients(shared, per_request=True)
            mine = clients.for_request({"x-api-key": key})
            for n in range(200):  # users who came since, each with a key
                clients.for_request({"x-api-key": f"another-users-key-{n:04d}"})
            with pytest.raises(AuthenticationError) as caught:
                await mine.hello()  # a 503 (retried, logged), then a 401
    shown = describe(caught.value, FROM_HEADER)
    logged = capsys.readouterr().err

    assert shown.startswith(f"The OAS API rejected the API key (HTTP 401: Invalid key {MASK}); check {FROM_HEADER}.")
    assert f"HTTP 503: Invalid key {MASK}" in logged
    assert key not in shown + logged

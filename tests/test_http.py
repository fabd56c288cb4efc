"""oas-mcp over Streamable HTTP, as real processes on loopback ports, through the SDK's HTTP client:
authentication, DNS-rebinding protection, /healthz, per-request credentials, stateless replicas, and the
sandbox served over HTTP.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import pytest
from mcp import MCPError
from mcp_types import LoggingMessageNotificationParams, ResourceTemplateReference

from oas_mcp import __version__
from oas_mcp.sandbox import (
    DEMO2_API_KEY,
    DEMO2_ORGANISATIONS,
    DEMO_API_KEY,
    DEMO_EMAIL,
    DEMO_ORGANISATIONS,
    DEMO_PASSWORD,
    DEMO_USERNAME,
)

from http_clients import PING, TOKEN, in_session, post_initialize, post_message, session, sessions_until_refused
from support import Running, command, error_text, running, sandbox_api, structured, wait_for

pytestmark = pytest.mark.anyio

HTTP = ("--transport", "http")
DEMO_NAMES = {name for name, _, _ in DEMO_ORGANISATIONS}
DEMO2_NAMES = {name for name, _, _ in DEMO2_ORGANISATIONS}
TOO_EASY = (
    "is too easy to guess: a token needs 8 different characters or more, and no pattern such as aaaa, abcabc or 1234"
)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UNKNOWN_SESSION = '{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Session not found"}}'


@pytest.fixture(scope="module")
def sandboxed() -> Any:
    """oas-mcp on its in-process sandbox, over HTTP, requiring the token; one extra Host and Origin allowed."""
    extra = ("--allowed-host", "mcp.example.test", "--allowed-origin", "https://app.example.test")
    with running("--sandbox", *HTTP, *extra, OAS_MCP_TOKEN=TOKEN) as server:
        yield server


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_tools_work_over_http_with_the_token(sandboxed: Running, mode: str) -> None:
    async with session(sandboxed.mcp, mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        hello = structured(await client.call_tool("hello", {}))
        listing = structured(await client.call_tool("list_organisations", {}))

    assert names == {"hello", "login", "list_organisations", "create_organisation", "activate_organisation"}
    assert hello == {"message": "Hello world @demo", "username": "demo", "checked": "api_key"}
    assert {org["name"] for org in listing["organisations"]} == DEMO_NAMES


@pytest.mark.parametrize("token", [None, "a-wrong-token-of-enough-length", TOKEN[:-1], f"{TOKEN}x"])
def test_without_the_right_token_the_answer_is_401_with_www_authenticate(sandboxed: Running, token: str | None) -> None:
    sent = {"Authorization": f"Bearer {token}"} if token else {}

    response = post_initialize(sandboxed.mcp, **sent)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert TOKEN not in response.text


async def test_the_sdk_client_without_the_token_gets_no_session(sandboxed: Running) -> None:
    with pytest.RaisesGroup(pytest.RaisesGroup(MCPError)):
        async with session(sandboxed.mcp, token=None, mode="legacy") as client:
            await client.call_tool("hello", {})


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({}, 200),
        ({"Origin": "http://127.0.0.1:9"}, 200),
        ({"Origin": "https://app.example.test"}, 200),
        ({"Host": "mcp.example.test"}, 200),
        ({"Host": "mcp.example.test:8443"}, 200),  # a name given without a port matches any port
        ({"Host": "LOCALHOST:8000"}, 200),  # host names are case-insensitive
        ({"Host": "MCP.Example.test"}, 200),
        ({"Host": "mcp.example.test."}, 200),  # the fully qualified name, with its root dot
        ({"Host": "mcp.example.test.:8443"}, 200),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "http://127.0.0.1.evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Host": "evil.example"}, 421),
        ({"Host": "evil.example:8000"}, 421),
        ({"Host": "mcp.example.test.evil.example"}, 421),
    ],
)
def test_host_and_origin_are_checked_against_the_allowlist(
    sandboxed: Running, extra: dict[str, str], status: int
) -> None:
    response = post_initialize(sandboxed.mcp, Authorization=f"Bearer {TOKEN}", **extra)

    assert response.status_code == status, response.text


@pytest.mark.parametrize(("host", "status"), [("evil.example", 421), ("mcp.example.test", 200)])
def test_mcp_with_a_trailing_slash_is_served_not_redirected(sandboxed: Running, host: str, status: int) -> None:
    response = post_initialize(f"{sandboxed.mcp}/", Authorization=f"Bearer {TOKEN}", Host=host)

    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert ("mcp-session-id" in response.headers) == (status == 200)


def test_healthz_answers_without_the_token_and_tells_no_secret(sandboxed: Running) -> None:
    response = httpx2.get(f"{sandboxed.url}/healthz", headers={"Host": "10.0.0.7:8000"}, timeout=60.0)

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}
    assert TOKEN not in response.text
    assert DEMO_API_KEY not in response.text


@pytest.mark.slow  # a server for each: .ci/run runs them after the README's command
@pytest.mark.parametrize(
    ("trusted", "client"), [(None, "127.0.0.1"), ("127.0.0.1", "203.0.113.7"), ("10.0.0.0/8", "127.0.0.1")]
)
def test_x_forwarded_for_names_the_client_only_when_a_trusted_proxy_sent_it(trusted: str | None, client: str) -> None:
    proxies = {"OAS_TRUSTED_PROXIES": trusted} if trusted else {}
    with running("--sandbox", *HTTP, OAS_LOG_LEVEL="DEBUG", **proxies) as server:
        headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        assert httpx2.get(f"{server.url}/healthz", headers=headers, timeout=60.0).status_code == 200
        wait_for(server, '"GET /healthz HTTP/1.1" 200')
        [line] = [line for line in server.output().splitlines() if "GET /healthz" in line]

    assert line.split("uvicorn.access: ")[1].startswith(f"{client}:")  # who the access log says asked


async def test_the_token_from_a_file_works_and_is_never_logged(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(f"{TOKEN}\n")
    with running("--sandbox", *HTTP, "--log-level", "DEBUG", OAS_MCP_TOKEN_FILE=str(tmp_path / "token")) as server:
        async with session(server.mcp) as client:
            hello = structured(await client.call_tool("hello", {}))
        refused = post_initialize(server.mcp, Authorization="Bearer not-the-token-at-all")
        log = server.output()

    assert hello["username"] == "demo"
    assert refused.status_code == 401
    assert "bearer token required" in log
    assert TOKEN not in log


# -- sessions ------------------------------------------------------------------------------------------------------


def test_past_max_sessions_a_new_session_gets_503_with_retry_after_and_open_ones_keep_working() -> None:
    # Everyone shares the one token, so it is one principal: only OAS_MAX_SESSIONS limits it.
    env = {"OAS_MCP_TOKEN": TOKEN, "OAS_MAX_SESSIONS": "2", "OAS_MAX_SESSIONS_PER_PRINCIPAL": "1"}
    with running("--sandbox", *HTTP, **env) as server:
        first, second, refused = (post_initialize(server.mcp, **AUTH) for _ in range(3))
        served = post_message(server.mcp, PING, **AUTH, **in_session(first.headers["mcp-session-id"]))
        ended = httpx2.delete(server.mcp, headers=AUTH | in_session(second.headers["mcp-session-id"]), timeout=60.0)
        after_one_ended = post_initialize(server.mcp, **AUTH)

    assert (first.status_code, second.status_code) == (200, 200)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "10"
    assert refused.json()["error"]["message"] == "Too many open sessions"
    assert (served.status_code, ended.status_code, after_one_ended.status_code) == (200, 200, 200)
    assert '"result":{}' in served.text


async def test_with_per_request_credentials_each_key_gets_its_share_of_sessions_and_is_told_when_to_retry() -> None:
    env = {"OAS_MCP_TOKEN": TOKEN, "OAS_MAX_SESSIONS": "4", "OAS_MAX_SESSIONS_PER_PRINCIPAL": "2"}
    with running("--sandbox", *HTTP, "--per-request-credentials", **env) as server:
        demo = AUTH | {"X-Api-Key": DEMO_API_KEY}
        idle = [post_initialize(server.mcp, **demo) for _ in range(2)]
        refused = post_initialize(server.mcp, **demo)
        async with contextlib.AsyncExitStack() as held:
            others, _ = await sessions_until_refused(server.mcp, held, 2, api_key=DEMO2_API_KEY)
        ended = httpx2.delete(server.mcp, headers=demo | in_session(idle[0].headers["mcp-session-id"]), timeout=60.0)
        after_one_ended = post_initialize(server.mcp, **demo)

    assert [answer.status_code for answer in idle] == [200, 200]
    assert (refused.status_code, refused.headers["content-type"]) == (429, "application/json")
    wait = int(refused.headers["retry-after"])
    assert 1 <= wait <= 600  # when the least recently used session idles out (OAS_SESSION_IDLE_TIMEOUT)
    assert refused.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32600,
            "message": "Too many open sessions: you have 2 open, the most one user may have at once. Close those "
            "you no longer use (quit idle clients; a client ends its session with an HTTP DELETE), or retry in "
            f"{wait} s, when your least recently used one idles out.",
        },
    }
    assert others == 2
    assert (ended.status_code, after_one_ended.status_code) == (200, 200)


def test_an_idle_session_ends_and_its_id_then_answers_as_unknown() -> None:
    with running("--sandbox", *HTTP, OAS_SESSION_IDLE_TIMEOUT="1") as server:
        session_id = post_initialize(server.mcp).headers["mcp-session-id"]
        for _ in range(15):  # each request restarts the idle countdown: wait it out before each
            time.sleep(1.2)
            answer = post_message(server.mcp, PING, **in_session(session_id))
            if answer.status_code != 200:
                break

    assert (answer.status_code, answer.text) == (404, UNKNOWN_SESSION)


# -- refusing to start ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ("--host", "0.0.0.0"),
            {},
            "oas-mcp: refusing to serve MCP on 0.0.0.0 without authenticating clients: anyone who reaches the port",
        ),
        (
            ("--host", "0.0.0.0"),
            {"OAS_MCP_TOKEN": TOKEN},
            "oas-mcp: serving MCP on 0.0.0.0 needs the host names clients reach it by (DNS-rebinding protection)",
        ),
        (
            ("--host", "0.0.0.0", "--insecure-no-auth"),
            {},
            "oas-mcp: serving MCP on 0.0.0.0 needs the host names clients reach it by",
        ),
        (
            ("--host", "::", "--allowed-host", "mcp.example.test"),
            {},
            "oas-mcp: refusing to serve MCP on :: without authenticating clients",
        ),
        (("--insecure-no-auth",), {"OAS_MCP_TOKEN": TOKEN}, "oas-mcp: --insecure-no-auth contradicts the client token"),
        (
            (),
            {"OAS_MCP_TOKEN_FILE": "/nonexistent/token"},
            "oas-mcp: cannot read /nonexistent/token (OAS_MCP_TOKEN_FILE)",
        ),
        (
            (),
            {"OAS_MCP_TOKEN_FILE": "/nonexistent/token", "OAS_MCP_TOKEN": TOKEN},
            "oas-mcp: set OAS_MCP_TOKEN or OAS_MCP_TOKEN_FILE, not both",
        ),
        ((), {"OAS_MCP_TOKEN": "short"}, "oas-mcp: invalid setting OAS_MCP_TOKEN: must be at least 16 characters"),
        ((), {"OAS_MCP_TOKEN": "aaaaaaaaaaaaaaaa"}, f"oas-mcp: invalid setting OAS_MCP_TOKEN: {TOO_EASY}; make one"),
        (("--allowed-host", "https://x.test"), {}, "oas-mcp: invalid setting --allowed-host: 'https://x.test' is not"),
    ],
)
def test_an_unsafe_http_setup_refuses_to_start_with_one_line_and_exit_code_2(
    args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    result = command("--sandbox", *HTTP, *args, **env)

    assert result.returncode == 2
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1
    assert TOKEN not in result.stderr


@pytest.mark.parametrize(
    ("token", "expected"),
    [("short", "must be at least 16 characters"), ("aaaaaaaaaaaaaaaa", TOO_EASY), ("1234567890123456", TOO_EASY)],
)
def test_a_weak_token_file_is_refused_with_how_to_make_a_good_one(tmp_path: Path, token: str, expected: str) -> None:
    (tmp_path / "token").write_text(f"{token}\n")
    (tmp_path / "token").chmod(0o600)  # else a warning says that others can read it

    result = command("--sandbox", *HTTP, OAS_MCP_TOKEN_FILE=str(tmp_path / "token"))

    assert result.returncode == 2
    assert result.stderr == (
        f"oas-mcp: invalid setting OAS_MCP_TOKEN_FILE: the value in {tmp_path / 'token'} {expected}; "
        "make one with python3 -c 'import secrets; print(secrets.token_urlsafe(32))'\n"
    )
    assert token not in result.stderr


def test_a_non_loopback_bind_with_token_and_allowlist_gets_as_far_as_binding() -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface here: the checks pass, then the bind fails, and nothing listens.
    result = command(
        "--sandbox", *HTTP, "--host", "192.0.2.1", "--allowed-host", "mcp.example.test", OAS_MCP_TOKEN=TOKEN
    )

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "oas-mcp: cannot listen on 192.0.2.1 port 8000: Cannot assign requested address; "
        "no interface here has that address; check --host"
    )


def test_a_taken_port_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = command("--sandbox", *HTTP, "--port", port)

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"oas-mcp: cannot listen on 127.0.0.1 port {port}: Address already in use; "
        "pick another --port, or stop what uses it"
    )


def test_per_request_credentials_need_http() -> None:
    result = command("--sandbox", "--per-request-credentials")

    assert result.returncode == 2
    assert result.stderr == "oas-mcp: per-request credentials need --transport http: stdio requests carry no headers\n"


# -- per-request credentials ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def per_request() -> Any:
    """oas-mcp with per-request credentials, on its in-process sandbox (users demo and demo2), logging DEBUG."""
    with running(
        "--sandbox", *HTTP, "--per-request-credentials", "--log-level", "DEBUG", OAS_MCP_TOKEN=TOKEN
    ) as server:
        yield server


async def test_two_users_at_once_each_see_and_change_only_their_own_organisations(per_request: Running) -> None:
    seen: dict[str, list[set[str]]] = {"demo": [], "demo2": []}
    refused: dict[str, list[str]] = {"demo": [], "demo2": []}
    created: dict[str, list[int]] = {"demo": [], "demo2": []}
    first_ids = {"demo": 1, "demo2": 6}

    async def user(name: str, key: str, other: str) -> None:
        async with session(per_request.mcp, api_key=key) as client:
            for round_ in range(4):
                greeting = structured(await client.call_tool("hello", {}))
                assert greeting["username"] == name
                arguments = {"name": f"{name} round {round_}", "base_currency": "EUR", "currencies": ["EUR"]}
                new = structured(await client.call_tool("create_organisation", arguments))
                created[name].append(new["id"])
                listing = structured(await client.call_tool("list_organisations", {"limit": 1000}))
                seen[name].append({org["name"] for org in listing["organisations"]})
                activated = structured(await client.call_tool("activate_organisation", {"organisation_id": new["id"]}))
                assert activated["organisation_id"] == new["id"]
                theirs = first_ids[other] if not created[other] else created[other][-1]
                text = error_text(await client.call_tool("activate_organisation", {"organisation_id": theirs}))
                refused[name].append(text)
                await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as group:
        group.start_soon(user, "demo", DEMO_API_KEY, "demo2")
        group.start_soon(user, "demo2", DEMO2_API_KEY, "demo")

    for name, own in (("demo", DEMO_NAMES), ("demo2", DEMO2_NAMES)):
        assert seen[name][-1] == own | {f"{name} round {n}" for n in range(4)}
        assert all(names <= seen[name][-1] for names in seen[name])
        assert all(text.endswith("not found; call list_organisations for valid ids.") for text in refused[name])
    assert not set(created["demo"]) & set(created["demo2"])


async def test_the_key_is_read_on_every_request_not_once_per_connection(per_request: Running) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}", "X-Api-Key": DEMO_API_KEY}, timeout=60.0)
    async with http, session(per_request.mcp, http=http) as client:  # the 2026 protocol: no session to bind
        first = structured(await client.call_tool("hello", {}))
        http.headers["X-Api-Key"] = DEMO2_API_KEY
        second = structured(await client.call_tool("hello", {}))
        del http.headers["X-Api-Key"]
        third = error_text(await client.call_tool("hello", {}))

    assert (first["username"], second["username"]) == ("demo", "demo2")
    assert third.startswith("This server uses each user's own OAS API key")


@pytest.fixture(scope="module")
def per_request_without_token() -> Any:
    """oas-mcp with per-request credentials and no client token (on loopback, or behind a proxy that checks)."""
    with running("--sandbox", *HTTP, "--per-request-credentials") as server:
        yield server


@pytest.mark.parametrize("server", ["per_request", "per_request_without_token"])
@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_a_session_belongs_to_the_key_that_opened_it(request: pytest.FixtureRequest, server: str, method: str) -> None:
    url = request.getfixturevalue(server).mcp
    alice, bob = AUTH | {"X-Api-Key": DEMO_API_KEY}, AUTH | {"X-Api-Key": DEMO2_API_KEY}
    session_id = post_initialize(url, **alice).headers["mcp-session-id"]

    def send(session: str, **headers: str) -> httpx2.Response:
        sent = headers | in_session(session) | {"Content-Type": "application/json", "Accept": "application/json"}
        return httpx2.request(method, url, content=PING if method == "POST" else None, headers=sent, timeout=60.0)

    by_bob = send(session_id, **bob)
    unknown = send(uuid.uuid4().hex, **bob)
    by_alice = post_message(url, PING, **alice, **in_session(session_id))

    assert (by_bob.status_code, by_bob.text) == (unknown.status_code, unknown.text) == (404, UNKNOWN_SESSION)
    assert by_alice.status_code == 200
    assert '"result":{}' in by_alice.text


def test_a_key_without_the_client_token_is_still_refused(per_request: Running) -> None:
    response = post_initialize(per_request.mcp, **{"X-Api-Key": DEMO_API_KEY})

    assert response.status_code == 401


async def test_a_client_that_changes_its_key_mid_session_is_told_the_session_is_gone(per_request: Running) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}", "X-Api-Key": DEMO_API_KEY}, timeout=60.0)
    async with http, session(per_request.mcp, http=http, mode="legacy") as client:
        first = structured(await client.call_tool("hello", {}))
        http.headers["X-Api-Key"] = DEMO2_API_KEY
        with pytest.raises(MCPError, match="Session not found"):
            await client.call_tool("hello", {})

    assert first["username"] == "demo"


async def test_organisation_ids_complete_from_the_account_of_the_requests_key(per_request: Running) -> None:
    template = ResourceTemplateReference(uri="oas://organisations/{organisation_id}")
    offered: dict[str, list[str]] = {}
    for name, key in (("demo", DEMO_API_KEY), ("demo2", DEMO2_API_KEY)):
        async with session(per_request.mcp, api_key=key) as client:
            completed = await client.complete(template, {"name": "organisation_id", "value": "wonka"})
            offered[name] = completed.completion.values

    assert offered == {"demo": [], "demo2": ["6"]}


async def test_log_notifications_arrive_over_http_before_the_result(per_request: Running) -> None:
    seen: list[str] = []

    async def pane(params: LoggingMessageNotificationParams) -> None:
        seen.append(f"{params.level}: {params.data}")

    async with session(per_request.mcp, api_key=DEMO2_API_KEY, mode="legacy", logging_callback=pane) as client:
        structured(await client.call_tool("list_organisations", {"limit": 1}))
        arrived = list(seen)

    assert arrived[-2].startswith("info: listed 1 organisation (of ")
    assert arrived[-1] == "info: listing stopped at its limit of 1 organisation; more may match"


async def test_without_the_header_calls_are_refused_and_login_is_not_offered(per_request: Running) -> None:
    async with session(per_request.mcp) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        text = error_text(await client.call_tool("list_organisations", {}))

    assert "login" not in names
    assert text == (
        "This server uses each user's own OAS API key: configure your MCP client to send it in the X-Api-Key "
        "header, then call again."
    )


async def test_a_wrong_key_names_the_header_not_the_setting(per_request: Running) -> None:
    async with session(per_request.mcp, api_key="Wrong000.keykeykeykeykeykeykeykeykeykeykey") as client:
        text = error_text(await client.call_tool("hello", {}))

    assert text.startswith("The OAS API rejected the API key (HTTP 401")
    assert text.endswith("check the X-Api-Key header your MCP client sends.")
    assert "OAS_API_KEY" not in text
    assert "Wrong000" not in text


async def test_hello_checks_the_requests_key(per_request: Running) -> None:
    async with session(per_request.mcp, api_key=DEMO2_API_KEY, mode="legacy") as client:
        greeting = structured(await client.call_tool("hello", {}))

    assert greeting == {"message": "Hello world @demo2", "username": "demo2", "checked": "api_key"}


async def test_resources_read_with_the_requests_key_too(per_request: Running) -> None:
    async with session(per_request.mcp, api_key=DEMO2_API_KEY) as client:
        contents = (await client.read_resource("oas://organisations")).contents
        session_info = (await client.read_resource("oas://session")).contents
    async with session(per_request.mcp) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("oas://organisations")

    listing = json.loads(getattr(contents[0], "text", ""))
    assert {org["name"] for org in listing["organisations"]} >= DEMO2_NAMES
    assert not {org["name"] for org in listing["organisations"]} & DEMO_NAMES
    assert json.loads(getattr(session_info[0], "text", ""))["credentials"]["password"] is False
    assert DEMO2_API_KEY not in getattr(session_info[0], "text", "")
    assert "X-Api-Key header" in str(caught.value)


async def test_per_request_keys_never_reach_the_log(per_request: Running) -> None:
    async with session(per_request.mcp, api_key=DEMO2_API_KEY) as client:
        structured(await client.call_tool("list_organisations", {}))
    log = per_request.output()

    assert "listed " in log  # the log did record the calls
    assert DEMO_API_KEY not in log
    assert DEMO2_API_KEY not in log
    assert TOKEN not in log


# -- stateless replicas (marked slow: four processes; .ci/run runs them after the README's test command) -------------


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer in the client: the n-th request of each kind (JSON-RPC method, or GET, DELETE) goes to
    replica n mod len(ports), so consecutive tool calls alternate; ``log`` says who served what.
    """

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.log: list[tuple[int, str]] = []
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.method == "POST" and request.content else {}
        kind = str(body.get("method")) if isinstance(body, dict) and "method" in body else request.method
        port = self.ports[sum(seen == kind for _, seen in self.log) % len(self.ports)]
        self.log.append((port, kind))
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture(scope="module")
def upstream() -> Any:
    """One sandbox API over HTTP, the state every replica shares."""
    with sandbox_api() as url:
        yield url


def replica(upstream: str, *flags: str) -> Any:
    env = {"OAS_BASE_URL": upstream, "OAS_API_KEY": DEMO_API_KEY, "OAS_MCP_TOKEN": TOKEN}
    return running(*HTTP, *flags, **env)


@pytest.fixture(scope="module")
def stateless_replicas(upstream: str) -> Any:
    """Two stateless replicas on the shared API, for both transport modes (each test names its own organisation)."""
    with replica(upstream, "--stateless") as first, replica(upstream, "--stateless") as second:
        yield first, second


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stateless_replicas_serve_alternate_calls_of_one_client(
    stateless_replicas: tuple[Running, Running], mode: str
) -> None:
    first, second = stateless_replicas
    balancer = RoundRobin([first.port, second.port])
    async with session(first.mcp, transport=balancer, mode=mode) as client:
        arguments = {"name": f"Replicated {mode}", "base_currency": "USD", "currencies": ["USD"]}
        created = structured(await client.call_tool("create_organisation", arguments))
        found = structured(await client.call_tool("list_organisations", {"name_contains": f"replicated {mode}"}))
        activated = structured(await client.call_tool("activate_organisation", {"organisation_id": created["id"]}))
        hello = structured(await client.call_tool("hello", {}))

    calls = [port for port, method in balancer.log if method == "tools/call"]
    assert len(calls) == 4
    assert all(a != b for a, b in itertools.pairwise(calls)), balancer.log  # consecutive calls alternate
    assert [org["id"] for org in found["organisations"]] == [created["id"]]
    assert activated["organisation_id"] == created["id"]
    assert hello["username"] == "demo"


@pytest.mark.slow
async def test_without_stateless_mode_a_session_does_not_survive_a_replica_switch(upstream: str) -> None:
    with replica(upstream) as first, replica(upstream) as second:
        balancer = RoundRobin([first.port, second.port])
        async with session(first.mcp, transport=balancer, mode="legacy") as client:
            structured(await client.call_tool("hello", {}))  # served by the replica that holds the session
            with pytest.raises(MCPError, match="Session not found"):
                await client.call_tool("hello", {})

    assert [port for port, method in balancer.log if method == "tools/call"] == [first.port, second.port]


# -- the sandbox over HTTP -----------------------------------------------------------------------------------------


def test_oas_mcp_sandbox_prints_its_credentials_and_answers_the_guides_curl_examples() -> None:
    with running("sandbox") as api, httpx2.Client(base_url=api.url, timeout=60.0) as curl:
        banner = api.stdout.read_text()
        key = {"X-Api-Key": DEMO_API_KEY}
        hello = curl.get("/helloworld", headers=key)
        login = curl.post(
            "/api/auth/login/", json={"username": DEMO_USERNAME, "email": DEMO_EMAIL, "password": DEMO_PASSWORD}
        )
        created = curl.post(
            "/api/organisations/",
            headers=key,
            json={"name": "Acme Corp", "base_currency": "USD", "currencies": ["USD"]},
        )
        bearer = {"Authorization": f"Bearer {login.json()['access']}"}
        first_page = curl.get("/api/organisations/", headers=bearer)
        second_page = curl.get(first_page.json()["next"], headers=key)
        missing = curl.post("/api/organisations/42/make_active/", headers=key)
        activated = curl.post(f"/api/organisations/{created.json()['id']}/make_active/", headers=key)
        no_key = curl.get("/helloworld")
        preflight = curl.options(
            "/api/organisations/",
            headers={
                "Origin": "https://hoppscotch.io",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-api-key, content-type",
            },
        )

    for secret in (DEMO_API_KEY, DEMO2_API_KEY, DEMO_EMAIL, DEMO_PASSWORD):
        assert secret in banner
    assert f'curl {api.url}/helloworld -H "X-Api-Key: {DEMO_API_KEY}"' in banner
    assert (hello.status_code, hello.text) == (200, "Hello world @demo")
    assert login.status_code == 200
    assert login.json()["user"]["username"] == DEMO_USERNAME
    assert (created.status_code, created.json()["id"]) == (201, 8)
    assert first_page.json()["count"] == 6
    assert first_page.json()["next"] == f"{api.url}/api/organisations/?page=2"
    assert [org["id"] for org in second_page.json()["results"]] == [3, 4]
    assert (missing.status_code, missing.json()) == (404, {"detail": "Organization not found."})
    assert activated.json() == {"message": "Organization Acme Corp is now the active organization."}
    assert no_key.status_code == 401
    assert preflight.status_code == 200  # browser tools may call it
    assert preflight.headers["access-control-allow-origin"] == "*"

"""oas-mcp replicas behind a real load balancer: HAProxy (Debian's package) with the configuration shipped in
deploy/haproxy.cfg, all on loopback ports. Skipped, saying why, only where the haproxy binary is missing; .ci/run
installs it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from http_clients import PING, in_session, post_initialize, post_message
from support import Running, free_port, running, structured, wait_for

CONFIG = Path(__file__).parents[2] / "deploy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or next((path for path in ("/usr/sbin/haproxy",) if Path(path).exists()), None)
SESSIONS = 200
KILL_AFTER = 50  # sessions done when a replica is killed

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not os.environ.get("INTEROP_BIN"), reason="an interop test: .ci/run sets INTEROP_BIN"),
]


@pytest.fixture(autouse=True)
def _haproxy_is_installed() -> None:
    if HAPROXY is None:
        pytest.fail("haproxy is not installed: apt-get install haproxy (.ci/run does)")


@contextmanager
def replicas(*args: str) -> Iterator[list[Running]]:
    """Three oas-mcp replicas over HTTP on loopback, each on its own in-process sandbox."""
    with ExitStack() as stack:
        yield [stack.enter_context(running("--sandbox", "--transport", "http", *args)) for _ in range(3)]


@contextmanager
def balancer(servers: list[Running] | list[int]) -> Iterator[str]:
    """HAProxy with deploy/haproxy.cfg in front of ``servers`` (or of these loopback ports); yields its MCP URL
    once it answers."""
    port = free_port()
    ports = [server if isinstance(server, int) else server.port for server in servers]
    env = {"OAS_LB_BIND": f"127.0.0.1:{port}"} | {
        f"OAS_REPLICA_{number}": f"127.0.0.1:{replica}" for number, replica in enumerate(ports, 1)
    }
    assert HAPROXY is not None
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(CONFIG)], env={**os.environ, **env}, stdout=output, stderr=output
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    output.seek(0)
                    assert process.poll() is None, f"haproxy exited: {output.read().decode()}"
                    assert time.monotonic() < deadline, "haproxy did not listen in time"
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.terminate()
            process.wait(timeout=15)


class _Dropping(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        while request := self.rfile.readline():
            headers = {}
            while (line := self.rfile.readline()).strip():
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = self.rfile.read(int(headers.get("content-length", 0)))
            if not request.startswith(b"GET /healthz "):
                assert isinstance(self.server, Dropper)
                self.server.received.append(body)
                return  # closed without an answer
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


class Dropper(socketserver.ThreadingTCPServer):
    """A replica that passes its health checks but dies on every MCP request: it reads it, then closes the
    connection without an answer, as a replica killed mid-request does. ``received`` has the bodies it took."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Dropping)
        self.received: list[bytes] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@contextmanager
def dropping() -> Iterator[Dropper]:
    with Dropper() as dropper:
        thread = threading.Thread(target=dropper.serve_forever, daemon=True)
        thread.start()
        yield dropper
        dropper.shutdown()


def tool_call(name: str, arguments: Mapping[str, object]) -> str:
    """A raw JSON-RPC ``tools/call``, as a stateless client POSTs it."""
    params = {"name": name, "arguments": arguments}
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})


def served_by(response: httpx2.Response) -> str:
    """The replica (r1, r2 or r3) HAProxy sent a request to, as its X-Served-By header says."""
    return response.headers["x-served-by"]


def describe(exc: BaseException) -> str:
    """An error as a client saw it, from inside the task groups that wrap it."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def listings(server: Running) -> int:
    """How many list_organisations calls a replica served, as its log says."""
    return server.output().count("listed ")


async def test_stateless_replicas_carry_200_sessions_while_one_is_killed_with_no_failed_call() -> None:
    errors: list[str] = []
    done = 0

    with replicas("--stateless") as servers, balancer(servers) as url:
        victim = servers[1]

        async def one() -> None:
            nonlocal done
            try:
                async with Client(url, mode="legacy") as client:
                    hello = structured(await client.call_tool("hello", {}))
                    listed = structured(await client.call_tool("list_organisations", {"limit": 2}))
                assert (hello["username"], listed["returned"]) == ("demo", 2)
            except Exception as exc:  # counted, and shown below
                errors.append(describe(exc))
            done += 1
            if done == KILL_AFTER:
                victim.process.kill()

        async with anyio.create_task_group() as group:
            for _ in range(SESSIONS):
                group.start_soon(one)
        served = [listings(server) for server in servers]

    assert errors == []
    assert victim.process.returncode == -9
    assert sum(served) == SESSIONS
    assert all(count > 0 for count in served)  # the victim served some before it died, the others the rest


def test_a_session_sticks_to_its_replica_and_once_it_dies_gets_404_and_a_new_one_works() -> None:
    with replicas() as servers, balancer(servers) as url:
        opened = [post_initialize(url) for _ in range(6)]
        sessions = [(response.headers["mcp-session-id"], served_by(response)) for response in opened]
        pinged = [[post_message(url, PING, **in_session(sid)) for _ in range(3)] for sid, _ in sessions]
        victim = sessions[0][1]
        servers[int(victim[1:]) - 1].process.kill()
        after = [(post_message(url, PING, **in_session(sid)).status_code, replica) for sid, replica in sessions]
        again = post_initialize(url)
        in_new = post_message(url, PING, **in_session(again.headers["mcp-session-id"]))

    assert {replica for _, replica in sessions} == {"r1", "r2", "r3"}
    for (_, replica), responses in zip(sessions, pinged, strict=True):
        assert [(r.status_code, served_by(r)) for r in responses] == [(200, replica)] * 3
    assert after == [(404 if replica == victim else 200, replica) for _, replica in sessions]
    assert (again.status_code, in_new.status_code) == (200, 200)
    assert served_by(again) != victim


async def test_what_an_sdk_client_sees_when_its_sessions_replica_dies() -> None:
    replicas_seen: list[str] = []
    seen = "no error"

    async def record(response: httpx2.Response) -> None:
        replicas_seen.append(response.headers.get("x-served-by", f"{response.request.method} {response.status_code}"))

    with replicas() as servers, balancer(servers) as url:
        async with httpx2.AsyncClient(event_hooks={"response": [record]}, timeout=30) as http:
            try:
                async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                    structured(await client.call_tool("hello", {}))
                    servers[int(replicas_seen[0][1:]) - 1].process.kill()
                    await client.call_tool("hello", {})
            except Exception as exc:  # what the client's caller gets
                seen = describe(exc)
        async with Client(url, mode="legacy") as fresh:
            hello = structured(await fresh.call_tool("hello", {}))

    assert seen == "MCPError: Session not found", replicas_seen
    assert hello["username"] == "demo"


def create(draft: Mapping[str, object], spelling: str) -> tuple[str | bytes, dict[str, str]]:
    """A raw ``tools/call`` of create_organisation for ``draft``, and its headers: with its name spelled out,
    JSON-escaped (``create\\u005forganisation``, the same name to the server), past HAProxy's 16 KB buffer (after a
    padding), or in UTF-16 (which the SDK reads in the protocol version without sessions, as json.loads does)."""
    if spelling == "escaped":
        return tool_call("create_organisation", draft).replace("create_organisation", "create\\u005forganisation"), {}
    if spelling == "past the buffer":
        params = {"_meta": {"padding": "x" * 20_000}, "arguments": draft, "name": "create_organisation"}
        return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}), {}
    if spelling == "UTF-16":
        version = "2026-07-28"
        meta = {"io.modelcontextprotocol/protocolVersion": version, "io.modelcontextprotocol/clientCapabilities": {}}
        params = {"name": "create_organisation", "arguments": draft, "_meta": meta}
        message = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
        headers = {"MCP-Protocol-Version": version, "Mcp-Method": "tools/call", "Mcp-Name": "create_organisation"}
        return message.encode("utf-16-le"), headers
    return tool_call("create_organisation", draft), {}


def test_a_request_a_dying_replica_took_is_sent_again_unless_it_may_create_an_organisation() -> None:
    spellings = ("plain", "escaped", "past the buffer", "UTF-16")
    drafts = {
        f"Retry {spelling} {n}": spelling for spelling in spellings for n in range(6)
    }  # in blocks: the replica that dies takes every spelling

    with running("--sandbox", "--transport", "http", "--stateless") as real, dropping() as dropper:
        with balancer([dropper.port, real.port, real.port]) as url:
            hellos = [post_message(url, tool_call("hello", {})).status_code for _ in range(6)]
            answers = {}
            for name, how in drafts.items():
                body, headers = create({"name": name, "base_currency": "EUR", "currencies": ["EUR"]}, how)
                answers[name] = post_message(url, body, **headers)
        listing = post_message(real.mcp, tool_call("list_organisations", {"name_contains": "Retry"})).json()

    calls = [json.loads(body)["params"] for body in dropper.received]
    took = {call["arguments"]["name"] for call in calls if call["name"] == "create_organisation"}
    made = {organisation["name"] for organisation in listing["result"]["structuredContent"]["organisations"]}
    assert hellos == [200] * 6  # each one the dropper took went on to the real replica
    assert len(calls) > len(took)
    assert {drafts[name] for name in took} == set(spellings)
    assert {name: answers[name].status_code for name in took} == dict.fromkeys(took, 502)  # never sent again
    assert all(not answer.json()["result"]["isError"] for answer in answers.values() if answer.status_code == 200)
    assert made == {name for name, answer in answers.items() if answer.status_code == 200}


def test_a_replica_sees_the_client_address_the_balancer_saw_never_the_one_a_client_claims() -> None:
    claimed = {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7", "X-Forwarded-Proto": "https"}
    env = {"OAS_LOG_LEVEL": "DEBUG", "OAS_TRUSTED_PROXIES": "127.0.0.1"}  # the balancer's address, as replicas see it

    with running("--sandbox", "--transport", "http", "--stateless", **env) as replica:
        with balancer([replica.port] * 3) as url:
            # The client on another loopback address than the balancer's, so each can be told in the log.
            with httpx2.Client(transport=httpx2.HTTPTransport(local_address="127.0.0.2"), timeout=60) as http:
                answer = http.post(
                    url,
                    content=tool_call("hello", {}),
                    headers={"Content-Type": "application/json", "Accept": "application/json", **claimed},
                )
            wait_for(replica, '"POST /mcp HTTP/1.1" 200')
        [line] = [line for line in replica.output().splitlines() if "POST /mcp" in line]

    assert answer.status_code == 200
    assert line.split("uvicorn.access: ")[1].startswith("127.0.0.2:")

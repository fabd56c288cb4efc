"""Soak: bytes of server memory (RSS) per tool call over many calls, oas-mcp vs a bare MCPServer, in each mode.

Both servers get the same calls in the same run, in alternating chunks: ``hello`` and ``list_organisations``
(the sandbox's 5 demo organisations, pages of 2: three upstream pages) by turns. After a warm-up (2,000 calls;
in per-request mode, until the per-key client cache is full), the servers' RSS is sampled every chunk of calls,
and the least-squares slope is the growth per call: what a process that serves for weeks would gain, whatever
its level. Goal: <= 50 bytes per call for oas-mcp in every mode.

Modes:
  stdio-sandbox   oas-mcp --sandbox on stdio (the sandbox in the process)
  stdio-http      oas-mcp on stdio against the sandbox served over HTTP by another process (its RSS is shown too)
  http            --transport http, a new MCP session for every 10 calls, closed after them
  http-stateless  the same, --stateless (the 2026-07-28 protocol, no sessions)
  per-request     --transport http --per-request-credentials, every session with another user's key (3 x the
                  per-key client cache's capacity, so the cache turns over)

    .venv/bin/python bench/soak.py [--calls 10000] [--mode MODE]...      (calls measured after the warm-up)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import anyio
import http_load
import httpx2
from benchkit import OAS_MCP, bare_server, machine, sandbox_process, server_env, structured, user_key
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from oas_mcp.server.credentials import CACHED_CLIENTS

CHUNK = 200
SESSION_CALLS = 10
KEYS = 3 * CACHED_CLIENTS
GOAL = 50.0
WARM_UP = 2000
MODES = ("stdio-sandbox", "stdio-http", "http", "http-stateless", "per-request")
Calls = Callable[[int, int], Awaitable[None]]
"""Makes calls ``first`` to ``first + count - 1``."""


def rss(pid: int) -> int:
    """The resident set size of process ``pid``, in bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise SystemExit(f"process {pid} has no VmRSS")


def child_pid(marker: str) -> int:
    """The process id of this process's child whose command line contains ``marker``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and marker in command:
            return int(entry.name)
    raise SystemExit(f"no child process runs {marker}")


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares bytes per call through (calls, rss) points."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


@dataclass
class Side:
    """One server under soak: how to make calls, and its RSS after each chunk."""

    name: str
    pid: int
    calls: Calls
    samples: list[tuple[int, int]] = field(default_factory=list)

    def per_call(self) -> float:
        return slope(self.samples)

    def growth(self) -> float:
        return (self.samples[-1][1] - self.samples[0][1]) / 2**20


async def call_one(client: Client, number: int) -> None:
    """Call number ``number``: hello and list_organisations by turns; a failure stops the run."""
    name = "hello" if number % 2 == 0 else "list_organisations"
    structured(await client.call_tool(name, {}))


def stdio_side(name: str, parameters: StdioServerParameters, marker: str) -> AbstractAsyncContextManager[Side]:
    """A server on stdio: one MCP session for the whole run."""

    @asynccontextmanager
    async def side() -> AsyncIterator[Side]:
        async with Client(parameters, mode="legacy") as client:

            async def calls(first: int, count: int) -> None:
                for number in range(first, first + count):
                    await call_one(client, number)

            yield Side(name, child_pid(marker), calls)

    return side()


def http_side(name: str, url: str, pid: int, *, mode: str, per_request: bool) -> AbstractAsyncContextManager[Side]:
    """A server over HTTP: a new session for every SESSION_CALLS calls (with per-request credentials, with the
    next user's key), closed after them."""

    @asynccontextmanager
    async def side() -> AsyncIterator[Side]:
        async def calls(first: int, count: int) -> None:
            for start in range(first, first + count, SESSION_CALLS):
                key = user_key(start // SESSION_CALLS % KEYS + 1) if per_request else None
                async with (
                    httpx2.AsyncClient(headers={"X-Api-Key": key} if key else {}, timeout=60.0) as http,
                    Client(streamable_http_client(url, http_client=http), mode=mode) as client,
                ):
                    for number in range(start, start + SESSION_CALLS):
                        await call_one(client, number)

        yield Side(name, pid, calls)

    return side()


async def soak(
    sides: list[AbstractAsyncContextManager[Side]], warm_up: int, calls: int, upstream: int | None
) -> list[Side]:
    """``warm_up + calls`` calls to each side, alternating chunks; RSS after each chunk past the warm-up (and the
    upstream sandbox's)."""
    async with sides[0] as ours, sides[1] as bare:
        sandbox = Side("sandbox process", upstream, ours.calls) if upstream else None
        for done in range(0, warm_up + calls, CHUNK):
            measured = [ours, bare, *([sandbox] if sandbox else [])] if done >= warm_up else []
            for side in (ours, bare):
                await side.calls(done, CHUNK)
            for side in measured:
                side.samples.append((done + CHUNK, rss(side.pid)))
        return [ours, bare, *([sandbox] if sandbox else [])]


@contextmanager
def servers(mode: str, stack: ExitStack) -> Iterator[tuple[list[AbstractAsyncContextManager[Side]], int | None]]:
    """The two sides of ``mode`` (oas-mcp first), and the upstream sandbox process's id when there is one."""
    bare_stdio = StdioServerParameters(command=sys.executable, args=[__file__, "--serve-bare", "stdio"])
    if mode == "stdio-sandbox":
        ours = StdioServerParameters(command=OAS_MCP, args=["--sandbox"], env=server_env("http://unused.invalid"))
        yield [stdio_side("oas-mcp", ours, "oas-mcp --sandbox"), stdio_side("bare", bare_stdio, "--serve-bare")], None
        return
    users = KEYS if mode == "per-request" else 0
    api, sandbox_pid = stack.enter_context(sandbox_process(organisations=5, page_size=2, users=users))
    if mode == "stdio-http":
        ours = StdioServerParameters(command=OAS_MCP, env=server_env(api))
        yield [stdio_side("oas-mcp", ours, OAS_MCP), stdio_side("bare", bare_stdio, "--serve-bare")], sandbox_pid
        return
    flags = {"http": [], "http-stateless": ["--stateless"], "per-request": ["--per-request-credentials"]}[mode]
    env = server_env(api, OAS_TRANSPORT="http")
    if mode == "per-request":
        env.pop("OAS_API_KEY")
    ours_url, ours_pid = stack.enter_context(
        http_load.started(lambda port: [OAS_MCP, *flags, "--port", str(port)], env)
    )
    bare_flags = ["stateless"] if mode == "http-stateless" else []
    bare_url, bare_pid = stack.enter_context(
        http_load.started(lambda port: [sys.executable, __file__, "--serve-bare", "http", str(port), *bare_flags])
    )
    client_mode = "auto" if mode == "http-stateless" else "legacy"
    per_request = mode == "per-request"
    yield (
        [
            http_side("oas-mcp", ours_url, ours_pid, mode=client_mode, per_request=per_request),
            http_side("bare", bare_url, bare_pid, mode=client_mode, per_request=per_request),
        ],
        sandbox_pid,
    )


def report(mode: str, warm_up: int, measured: list[Side]) -> None:
    ours, bare = measured[0], measured[1]
    line = [f"{mode:<15} after {warm_up:>5} calls"]
    for side in measured:
        line.append(f"{side.name} {side.per_call():7.1f} B/call ({side.growth():+.2f} MiB)")
    verdict = "met" if ours.per_call() <= GOAL else "NOT met"
    print(" | ".join(line), f"| difference {ours.per_call() - bare.per_call():+.1f} B/call", end="")
    print(f" | goal <= {GOAL:g} B/call: {verdict}", flush=True)


def serve_bare(transport: str, rest: list[str]) -> None:
    if transport == "stdio":
        bare_server().run()
    else:
        http_load.serve_bare(int(rest[0]), stateless="stateless" in rest)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="calls to each server in each mode")
    parser.add_argument("--mode", action="append", choices=MODES, help="a mode to run (repeatable; default: all)")
    parser.add_argument("--serve-bare", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare[0], args.serve_bare[1:])
        return
    calls = -(-args.calls // CHUNK) * CHUNK
    print(f"{date.today()}, {machine()}: RSS slope over {calls} calls per server per mode, after a warm-up")
    for mode in args.mode or MODES:
        # Per-request: the per-key client cache fills first (a client for each of its first CACHED_CLIENTS keys).
        warm_up = WARM_UP + (CACHED_CLIENTS * SESSION_CALLS if mode == "per-request" else 0)
        warm_up = -(-warm_up // CHUNK) * CHUNK
        with ExitStack() as stack, servers(mode, stack) as (sides, upstream):
            report(mode, warm_up, anyio.run(soak, sides, warm_up, calls, upstream))


if __name__ == "__main__":
    main()

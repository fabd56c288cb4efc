"""Load over HTTP: 200 MCP sessions at once, each calling ``hello`` and ``list_organisations``, then closing.

oas-mcp serves Streamable HTTP on loopback, on the sandbox served by another process (5 organisations, pages
of 2, so a listing reads 3 pages). A bare MCP SDK server with the same two tools answering constants gets the
same load. The two alternate for a few rounds; the script prints each one's median round (sessions per second,
p50 and p99 session latency, errors, and the server process's CPU time per session) and their ratios.

    .venv/bin/python bench/http_load.py [--sessions 200] [--rounds 5] [--mode legacy|auto] [--stateless]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import anyio
from benchkit import OAS_MCP, bare_server, machine, sandbox_server, server_env
from mcp import Client


def serve_bare(port: int, stateless: bool) -> None:
    """The baseline: an MCPServer whose two tools answer constants, served over HTTP by the SDK itself."""
    bare_server().run("streamable-http", host="127.0.0.1", port=port, stateless_http=stateless, json_response=stateless)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def started(command: Callable[[int], list[str]], env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """Start a server on a free port; yield its MCP URL and process id once it accepts connections."""
    port = free_port()
    process = subprocess.Popen(command(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{command(port)} did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    seconds: float
    latencies: list[float]
    errors: list[str]
    server_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cpu_ms(self) -> float:
        """Server CPU time per session, in milliseconds."""
        return self.server_cpu / max(1, len(self.latencies)) * 1000

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies) or [0.0]
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


async def load(url: str, sessions: int, mode: Any) -> Round:
    latencies: list[float] = []
    errors: list[str] = []

    async def one() -> None:
        began = time.perf_counter()
        try:
            async with Client(url, mode=mode) as client:
                for name in ("hello", "list_organisations"):
                    result = await client.call_tool(name, {})
                    if result.is_error:
                        errors.append(f"{name}: {result.content}")
        except Exception as exc:  # a failed session is counted, not fatal
            errors.append(f"{type(exc).__name__}: {exc}")
            return
        latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(sessions):
            group.start_soon(one)
    return Round(time.perf_counter() - began, latencies, errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=("legacy", "auto"), default="legacy", help="MCP client mode")
    parser.add_argument("--stateless", action="store_true", help="both servers in stateless mode")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.stateless)
        return

    stateless = ["--stateless"] if args.stateless else []
    results: dict[str, list[Round]] = {"oas-mcp": [], "bare MCP SDK": []}
    with sandbox_server(organisations=5, page_size=2) as api:
        env = server_env(api, OAS_TRANSPORT="http")
        with (
            started(lambda port: [OAS_MCP, *stateless, "--port", str(port)], env) as oas,
            started(lambda port: [sys.executable, __file__, *stateless, "--serve-bare", str(port)]) as bare,
        ):
            servers = {"oas-mcp": oas, "bare MCP SDK": bare}
            for url, _ in servers.values():  # warm up: imports, connection pools
                anyio.run(load, url, 10, args.mode)
            for _ in range(args.rounds):
                for name, (url, pid) in servers.items():
                    before = cpu_seconds(pid)
                    measured = anyio.run(load, url, args.sessions, args.mode)
                    measured.server_cpu = cpu_seconds(pid) - before
                    results[name].append(measured)

    print(
        f"{date.today()}, {machine()}: {args.sessions} concurrent MCP sessions, each hello + list_organisations; "
        f"client mode {args.mode}, {'stateless' if args.stateless else 'streaming'} servers; "
        f"median of {args.rounds} rounds"
    )
    print(f"{'server':<14} {'sessions/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'server CPU ms/session':>22}")
    medians = {name: sorted(rounds, key=lambda r: r.rate)[len(rounds) // 2] for name, rounds in results.items()}
    for name, r in medians.items():
        errors = sum(len(x.errors) for x in results[name])
        cpu = f"{r.cpu_ms:.1f}"
        print(f"{name:<14} {r.rate:>10.1f} {r.percentile(50):>8.0f} {r.percentile(99):>8.0f} {errors:>7} {cpu:>22}")
        for error in sorted({e for x in results[name] for e in x.errors})[:5]:
            print(f"  {name} error: {error[:200]}")
    ours, base = medians["oas-mcp"], medians["bare MCP SDK"]
    print(
        f"oas-mcp / bare MCP SDK server: sessions per second {ours.rate / base.rate:.2f}x, "
        f"p50 {ours.percentile(50) / base.percentile(50):.2f}x, p99 {ours.percentile(99) / base.percentile(99):.2f}x, "
        f"server CPU per session {ours.cpu_ms / base.cpu_ms:.2f}x; errors: goal 0"
    )


if __name__ == "__main__":
    main()

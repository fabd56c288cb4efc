"""Start-up: spawn -> ``initialize`` response over stdio, oas-mcp vs a bare MCPServer with one tool (same venv).

Each turn spawns the command, writes an ``initialize`` request to its stdin and waits for the response line;
the two commands alternate, and the medians are compared. oas-mcp runs as Claude Desktop runs it: the ``oas-mcp``
console script with an API key in the environment (it sends no request to the API before a tool is called).
Goal: <= 1.10x.

    python bench/startup.py [--pairs 11] [--sandbox]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from benchkit import HERE, OAS_MCP, machine, median_ms, ratio_line, server_env

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
}


def spawn_to_initialize(command: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning ``command`` to reading its answer to ``initialize``."""
    started = time.perf_counter()
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
        process.stdin.flush()
        answer = process.stdout.readline()
        elapsed = time.perf_counter() - started
        process.stdin.close()
        process.wait(timeout=30)
    if b'"serverInfo"' not in answer:
        raise SystemExit(f"{command[0]} did not answer initialize: {answer[:200]!r}")
    return elapsed


def main(pairs: int, sandbox: bool) -> None:
    env = server_env("https://oas.example.invalid")
    ours_command = [OAS_MCP, *(["--sandbox"] if sandbox else [])]
    bare_command = [sys.executable, str(HERE / "bare_server.py")]
    ours: list[float] = []
    bare: list[float] = []
    for pair in range(pairs):
        first_ours = pair % 2 == 0
        for is_ours in (first_ours, not first_ours):
            if is_ours:
                ours.append(spawn_to_initialize(ours_command, env))
            else:
                bare.append(spawn_to_initialize(bare_command, env))
    print(f"spawn -> initialize over stdio, median of {pairs} pairs, alternating; {machine()}")
    mode = "oas-mcp --sandbox" if sandbox else "oas-mcp"
    against = "a bare MCPServer with one tool, same venv"
    print(ratio_line(f"startup ({mode})", median_ms(ours), median_ms(bare), unit="ms", against=against, goal="1.10"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument("--sandbox", action="store_true", help="measure oas-mcp --sandbox instead")
    arguments = parser.parse_args()
    main(arguments.pairs, arguments.sandbox)

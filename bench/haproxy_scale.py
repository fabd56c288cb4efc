"""Scale-out: MCP sessions per second through HAProxy (deploy/haproxy.cfg) with 3 stateless oas-mcp replicas,
against the same with 1 replica (all three server lines pointing at it).

Each session is ``hello`` + ``list_organisations`` (200 at once by default, as bench/http_load.py sends them). Each
replica runs on its own in-process sandbox, so the figure is oas-mcp's, not a shared API's. The two setups run
side by side and alternate for a few rounds; the script prints each one's median round and their ratio. On a
machine with 2 cores, the load generator and the replicas share them: read the ratio with that in mind.

    .venv/bin/python bench/haproxy_scale.py [--sessions 200] [--rounds 3] [--mode legacy|auto]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path

import anyio
from benchkit import OAS_MCP, machine, ratio_line
from http_load import Round, free_port, load, started

CONFIG = Path(__file__).parent.parent / "deploy" / "haproxy.cfg"


@contextmanager
def balanced(replicas: int) -> Iterator[str]:
    """``replicas`` stateless oas-mcp processes behind HAProxy; yields HAProxy's MCP URL."""
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    command = [OAS_MCP, "--sandbox", "--transport", "http", "--stateless", "--log-level", "WARNING"]
    with ExitStack() as stack:
        urls = [stack.enter_context(started(lambda port: [*command, "--port", str(port)]))[0] for _ in range(replicas)]
        addresses = [url.removeprefix("http://").removesuffix("/mcp") for url in urls]
        port = free_port()
        env = {"OAS_LB_BIND": f"127.0.0.1:{port}"} | {
            f"OAS_REPLICA_{n}": addresses[(n - 1) % replicas] for n in (1, 2, 3)
        }
        process = subprocess.Popen(
            [haproxy, "-db", "-f", str(CONFIG)], env={**os.environ, **env}, stdout=subprocess.DEVNULL
        )
        stack.callback(process.wait, 15)
        stack.callback(process.terminate)
        time.sleep(1.0)  # haproxy binds at once; its first health checks pass within its 1 s interval
        yield f"http://127.0.0.1:{port}/mcp"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", choices=("legacy", "auto"), default="legacy", help="MCP client mode")
    args = parser.parse_args()

    results: dict[int, list[Round]] = {3: [], 1: []}
    with balanced(3) as three, balanced(1) as one:
        setups = {3: three, 1: one}
        for url in setups.values():  # warm up: imports, connection pools
            anyio.run(load, url, 20, args.mode)
        for _ in range(args.rounds):
            for replicas, url in setups.items():
                results[replicas].append(anyio.run(load, url, args.sessions, args.mode))

    print(
        f"{date.today()}, {machine()}: {args.sessions} concurrent MCP sessions through HAProxy, each hello + "
        f"list_organisations; stateless replicas, client mode {args.mode}; median of {args.rounds} rounds"
    )
    medians = {n: sorted(rounds, key=lambda r: r.rate)[len(rounds) // 2] for n, rounds in results.items()}
    for replicas, r in medians.items():
        errors = sum(len(x.errors) for x in results[replicas])
        print(
            f"{replicas} replica(s): {r.rate:.1f} sessions/s, p50 {r.percentile(50):.0f} ms, "
            f"p99 {r.percentile(99):.0f} ms, errors {errors}"
        )
    print(
        ratio_line("sessions per second", medians[3].rate, medians[1].rate, unit="/s", against="1 replica", goal=None)
    )


if __name__ == "__main__":
    main()

"""Serve the sandbox over HTTP on loopback for the benchmarks.

    sandbox_http.py ORGANISATIONS PAGE_SIZE LATENCY [USERS]


USERS more users (no organisations) have the keys ``benchkit.user_key(1..USERS)``.

Prints the port it listens on, then serves until terminated.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from benchkit import user_key

from oas_mcp.sandbox import Sandbox, demo_store


def main(organisations: str, page_size: str, page_latency: str, users: str = "0") -> None:
    store = demo_store(organisations=int(organisations))
    for number in range(1, int(users) + 1):
        store.add_user(f"user{number}", f"user{number}@sandbox.oas.invalid", "-", user_key(number))
    sandbox = Sandbox(store, page_size=int(page_size), page_latency=float(page_latency))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP: asyncio sets NODELAY
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(listener.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn.Config(sandbox, log_level="warning", access_log=False, lifespan="off"))
    server.run(sockets=[listener])


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Real oas-mcp processes on loopback ports for the transport tests, and MCP clients that reach them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from support import PYTHON

BASE_ENV = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
TOKEN = "test-client-token-0123456789"
START_UP_LIMIT = 60.0  # seconds a process may take to listen on a loaded machine before the test gives up
_ANNOUNCED = re.compile(r" at (http://[^\s/]+)")


@dataclass
class Running:
    """A started process: ``url`` is its origin (``http://127.0.0.1:PORT``); its stdout and stderr go to files."""

    process: subprocess.Popen[bytes]
    url: str
    stdout: Path
    stderr: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def mcp(self) -> str:
        return f"{self.url}/mcp"

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m oas_mcp ARGS`` to the end (for commands that exit, or should)."""
    return subprocess.run(
        [PYTHON, "-m", "oas_mcp", *args],
        env={**BASE_ENV, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextmanager
def running(*args: str, **env: str) -> Iterator[Running]:
    """``python -m oas_mcp ARGS`` (with ``--port 0``) until it announces its URL; stopped on exit."""
    with tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [PYTHON, "-m", "oas_mcp", *args, "--port", "0"],
                env={**BASE_ENV, **env},
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        try:
            yield Running(process, _wait_for_url(process, out, err), out, err)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_url(process: subprocess.Popen[bytes], *outputs: Path) -> str:
    deadline = time.monotonic() + START_UP_LIMIT
    while time.monotonic() < deadline:
        text = "".join(path.read_text() for path in outputs)
        if found := _ANNOUNCED.search(text):
            return found.group(1)
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}: {text}")
        time.sleep(0.05)
    raise AssertionError("the server announced no URL in time")


def headers(*, token: str | None = TOKEN, api_key: str | None = None) -> dict[str, str]:
    """The HTTP headers of an MCP client: the bearer token, and the user's own OAS API key."""
    sent = {"Authorization": f"Bearer {token}"} if token else {}
    return sent | ({"X-Api-Key": api_key} if api_key else {})


@asynccontextmanager
async def session(
    url: str,
    *,
    token: str | None = TOKEN,
    api_key: str | None = None,
    mode: Any = "auto",
    transport: httpx2.AsyncBaseTransport | None = None,
    http: httpx2.AsyncClient | None = None,
) -> AsyncIterator[Client]:
    """An MCP client session with ``url`` over the SDK's Streamable HTTP transport (on ``http`` when given)."""
    async with AsyncExitStack() as stack:
        if http is None:
            http = httpx2.AsyncClient(headers=headers(token=token, api_key=api_key), transport=transport, timeout=60.0)
            await stack.enter_async_context(http)
        yield await stack.enter_async_context(Client(streamable_http_client(url, http_client=http), mode=mode))


INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
)


def post_initialize(url: str, **headers: str) -> httpx2.Response:
    """One raw MCP ``initialize`` POST, to see the HTTP status a client would get."""
    sent = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers}
    return httpx2.post(url, content=INITIALIZE, headers=sent, timeout=60.0)

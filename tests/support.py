"""Helpers shared by the tests: settings, clients and servers wired to a sandbox, and result readers."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from mcp_types import CallToolResult
from starlette.types import ASGIApp

from oas_mcp import __version__
from oas_mcp.cli.main import main
from oas_mcp.cli.options import make_client
from oas_mcp.client import OASClient
from oas_mcp.sandbox import DEMO_API_KEY, DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, SANDBOX_URL, Sandbox
from oas_mcp.server import build_server
from oas_mcp.server.server import Server
from oas_mcp.settings import Settings

PYTHON = sys.executable
ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
DOCS = {path: (ROOT / path).read_text() for path in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md", "bench/README.md")}
DOCS |= {str(path.relative_to(ROOT)): path.read_text() for path in sorted((ROOT / "docs").glob("*.md"))}
"""Every Markdown page of the documentation, by its path in the repository."""
BASE_ENV = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
DEMO: dict[str, Any] = {
    "api_key": DEMO_API_KEY,
    "username": DEMO_USERNAME,
    "email": DEMO_EMAIL,
    "password": DEMO_PASSWORD,
}
NO_CREDENTIALS: dict[str, Any] = dict.fromkeys(DEMO, "")


def settings_for(**values: Any) -> Settings:
    """Settings pointing at the sandbox with the demo credentials, unless ``values`` say otherwise."""
    return Settings.load(**{"base_url": SANDBOX_URL, **DEMO, **values})


def client_for(sandbox: Sandbox, **values: Any) -> OASClient:
    return make_client(settings_for(**values), sandbox.transport())


def server_for(sandbox: Sandbox, **values: Any) -> Server:
    settings = settings_for(**values)
    return build_server(settings, lambda: make_client(settings, sandbox.transport()))


def login_answer(exp: object) -> str:
    """A login answer for the demo user, its access token a JWT (signed with a key the sandbox does not know, which
    the client does not check) that expires at ``exp``."""
    access = jwt.encode(
        {"token_type": "access", "exp": exp}, "a key only this test knows, 32+ bytes", algorithm="HS256"
    )
    return json.dumps(
        {"access": access, "refresh": access, "user": {"id": 1, "username": DEMO_USERNAME, "email": DEMO_EMAIL}}
    )


def text_of(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def error_text(result: CallToolResult) -> str:
    """The text of a tool error; fails the test when the call succeeded."""
    assert result.is_error, f"expected a tool error, got {result.structured_content}"
    return text_of(result)


def structured(result: CallToolResult) -> dict[str, Any]:
    """The structured result of a successful call; fails the test with the error text otherwise."""
    assert not result.is_error, text_of(result)
    content = result.structured_content
    assert isinstance(content, dict)
    return content


def block_after(marker: str, text: str = README) -> str:
    """The fenced code block that follows ``marker`` in ``text`` (the README, unless given)."""
    rest = text[text.index(marker) :]
    start = rest.index("```")
    body = rest[rest.index("\n", start) + 1 :]
    return body[: body.index("```")]


def run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m oas_mcp ARGS`` in a clean environment plus ``env``, as a user would run it."""
    return subprocess.run(
        [PYTHON, "-m", "oas_mcp", *args],
        env={**BASE_ENV, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def command(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``oas-mcp ARGS`` as :func:`run` has it, but in this process: the command line's ``main`` with the same
    environment (and no other), standard input and arguments; what it printed and its exit code. Logging starts
    unconfigured, as in a new process (a warning before the command configures it goes to stderr), and is put back
    after. For the commands that end by themselves; :func:`run` starts a real process, for what only one shows (the
    interpreter's exit, signals, what start-up loads). A command still running after a minute fails the test."""
    out, err = io.StringIO(), io.StringIO()
    saved_environment = dict(os.environ)
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    saved_logging = [
        (logger, logger.handlers[:], logger.level) for logger in loggers if isinstance(logger, logging.Logger)
    ]
    os.environ.clear()
    os.environ.update({**BASE_ENV, **env})
    logging.getLogger().handlers[:] = []
    logging.getLogger().setLevel(logging.WARNING)
    stdin_before = sys.stdin
    timed = threading.current_thread() is threading.main_thread()  # else from a test's worker thread: no alarm
    previous = signal.signal(signal.SIGALRM, _ran_too_long) if timed else None
    if timed:
        signal.setitimer(signal.ITIMER_REAL, START_UP_LIMIT)
    try:
        sys.stdin = io.StringIO(stdin or "")
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit:  # argparse: --help, --version, a bad flag
                code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        sys.stdin = stdin_before
        os.environ.clear()
        os.environ.update(saved_environment)
        for logger, handlers, level in saved_logging:
            logger.handlers[:] = handlers
            logger.setLevel(level)
    return subprocess.CompletedProcess(["oas-mcp", *args], code, out.getvalue(), err.getvalue())


def _ran_too_long(signum: int, frame: object) -> None:
    raise AssertionError(f"the command still ran after {START_UP_LIMIT:g} s")


def stopped_by_signal(stop: signal.Signals, *messages: dict[str, Any], **env: str) -> tuple[int, float, str]:
    """``python -m oas_mcp --sandbox`` on stdio, with ``env``, is sent ``messages`` (JSON-RPC), and ``stop`` once it
    answered the last request, while it waits on stdin, which stays open: its exit code, the seconds it took to
    exit, and what it wrote on stderr."""
    process = subprocess.Popen(
        [PYTHON, "-m", "oas_mcp", "--sandbox"],
        env={**BASE_ENV, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    last = [message["id"] for message in messages if "id" in message][-1]
    try:
        process.stdin.write("".join(f"{json.dumps(message)}\n" for message in messages).encode())
        process.stdin.flush()
        while json.loads(process.stdout.readline()).get("id") != last:
            pass
        process.send_signal(stop)
        stopped = time.monotonic()
        code = process.wait(timeout=30)
        return code, time.monotonic() - stopped, process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            stream.close()


def readme_command(marker: str) -> str:
    """The command line the README shows under ``<!-- MARKER`` (``test-command``, ``build-command``): CI and the
    tests run these exactly as written."""
    return README[README.index(f"<!-- {marker}") :].split("```sh\n", 1)[1].split("\n", 1)[0]


def released(path: str) -> dict[str, Any]:
    """The repository's ``path`` (bundle/manifest.json, server.json) as .ci/build writes it into the packages: with
    the package version, which only oas_mcp/__init__.py holds."""
    stamp = [PYTHON, str(ROOT / ".ci" / "stamp.py"), __version__, str(ROOT / path)]
    document: dict[str, Any] = json.loads(subprocess.run(stamp, capture_output=True, text=True, check=True).stdout)
    return document


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@contextmanager
def running(*args: str, **env: str) -> Iterator[Running]:
    """``python -m oas_mcp ARGS --port 0`` until it announces its URL (so no port race); stopped on exit."""
    with running_on(0, *args, **env) as server:
        yield server


@contextmanager
def running_on(port: int, *args: str, **env: str) -> Iterator[Running]:
    """``python -m oas_mcp ARGS --port PORT``, for a server that must know its URL before it starts."""
    with tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [PYTHON, "-m", "oas_mcp", *args, "--port", str(port)],
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


def wait_for(server: Running, text: str) -> None:
    """Until ``text`` is in the server's log (failing after a minute, on a loaded machine)."""
    deadline = time.monotonic() + START_UP_LIMIT
    while text not in server.output():
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{server.output()}"
        time.sleep(0.05)


@contextmanager
def serving_on(app: ASGIApp, port: int = 0) -> Iterator[str]:
    """``app`` over HTTP on a loopback port (a free one unless ``port``), served by uvicorn in a thread of this
    process until the block ends; yields its origin."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY then
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def sandbox_api() -> Iterator[str]:
    """The sandbox API (as ``oas-mcp sandbox`` serves it) over HTTP, in this process; yields its URL."""
    with serving_on(Sandbox()) as url:
        yield url


@contextmanager
def http_server(*args: str) -> Iterator[str]:
    """``oas-mcp --sandbox --transport http`` on a free loopback port; yields its MCP URL, stops it after."""
    with running("--sandbox", "--transport", "http", *args) as server:
        yield server.mcp

"""Fixtures: a sandbox per test, an MCP client on it, an environment without OAS_* variables, a PostgreSQL server,
and the npm tools."""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpcore2
import pytest
from hypothesis import settings
from mcp import Client

from oas_mcp.sandbox import Sandbox

from oauth_issuer import rewind_rsa_keys
from pg_server import Postgres, started
from support import server_for


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (pyproject's addopts): one worker more than the CPUs this process may use. Much of the suite waits
    rather than computes (on the servers and processes it starts, on timeouts and retries), and the extra worker
    fills those waits. PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cpus + 1


settings.register_profile("thorough", max_examples=250)
"""What ``--hypothesis-profile thorough`` (``.ci/run``, after the README's test command) gives each property test:
2.5 times the default."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_oas_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the OAS_* settings they set themselves."""
    for name in list(os.environ):
        if name.upper().startswith("OAS_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True, scope="session")
def _one_tls_context_for_the_tests_clients() -> Iterator[None]:
    """The HTTP clients the tests make, and the SDK makes for them, share a TLS context, as oas-mcp's own do
    (oas_mcp.tls): making one reads every CA certificate (30 ms of CPU), for clients that speak plain HTTP to
    loopback."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpcore2, "default_ssl_context", functools.cache(httpcore2.default_ssl_context))
        yield


@pytest.fixture(autouse=True)
def _rsa_keys_made_before() -> None:
    """A test's issuers' keys: unlike each other's, though made for an earlier test (see oauth_issuer.rsa_key)."""
    rewind_rsa_keys()


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.fixture
async def mcp(sandbox: Sandbox) -> AsyncIterator[Client]:
    """An MCP client session with oas-mcp on the demo sandbox."""
    async with Client(server_for(sandbox)) as client:
        yield client


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server, started once per test worker (see pg_server)."""
    with started() as server:
        yield server


NODE_TOOLS = ("node", "mcp-inspector", "conformance", "mcpb")


@pytest.fixture(scope="module")
def node_bin() -> Path:
    """The bin folder of the npm tools tests/interop drives. ``.ci/node-tools`` installs them, pinned, and ``.ci/run``
    sets ``INTEROP_BIN`` to it. Without that variable the tests using them are skipped; with it, a missing tool
    fails them."""
    folder = os.environ.get("INTEROP_BIN")
    if not folder:
        pytest.skip("INTEROP_BIN is not set: .ci/run installs the npm tools and sets it")
    missing = [tool for tool in NODE_TOOLS if not (Path(folder) / tool).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing from INTEROP_BIN={folder}; .ci/node-tools installs them")
    return Path(folder)


@pytest.fixture(scope="module")
def node_modules(node_bin: Path) -> Path:
    """The node_modules folder of those tools, where ``.ci/node-tools`` installs node-oidc-provider too (a real OAuth
    authorization server: tests/interop/oauth_provider.mjs)."""
    modules = node_bin.parent
    if not (modules / "oidc-provider" / "package.json").exists():
        pytest.fail(f"oidc-provider missing from {modules}; .ci/node-tools installs it")
    return modules

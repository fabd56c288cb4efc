"""Fixtures: a sandbox per test, an MCP client on it, an environment without OAS_* variables, a PostgreSQL server,
and the npm tools."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client

from oas_mcp.sandbox import Sandbox

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


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_oas_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the OAS_* settings they set themselves."""
    for name in list(os.environ):
        if name.upper().startswith("OAS_"):
            monkeypatch.delenv(name)


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

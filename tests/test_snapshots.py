"""What the model sees of the tools, kept in the repo so that it never changes unnoticed.

``tests/snapshots/tools.json`` holds ``tools/list`` as a real MCP client receives it (each tool's name, title,
description, input and output schemas and annotations), in every mode that changes it. An edit, a new tool or an SDK
upgrade that changes any of it fails here, with the difference. After a deliberate change, refresh it with
:data:`REFRESH`, read the diff, and commit it with the change.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from mcp import Client

from oas_mcp.accounts.store import connect_store
from oas_mcp.sandbox import Sandbox
from oas_mcp.tools import build_server
from oas_mcp.tools.linked import LinkedAccounts
from oas_mcp.wiring import make_client

from support import settings_for

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parent.parent
SNAPSHOT = ROOT / "tests" / "snapshots" / "tools.json"
REFRESH = "UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_snapshots.py"
UPDATING = os.environ.get("UPDATE_SNAPSHOTS") == "1"
# Each mode that changes what tools/list shows, and its settings. Linked accounts add unlink_account.
MODES: dict[str, dict[str, Any]] = {
    "default": {},
    "read_only": {"read_only": True},
    "per_request_credentials": {"per_request_credentials": True},
    "linked_accounts": {},
}


async def listed(mode: str, folder: Path) -> list[dict[str, Any]]:
    """``tools/list`` of oas-mcp in ``mode``, each tool as JSON, as an in-memory MCP client receives it; ``folder``
    holds the linked accounts' store."""
    settings = settings_for(**MODES[mode])
    linked = None
    if mode == "linked_accounts":
        keys = folder / "keys"
        keys.write_bytes(Fernet.generate_key())
        store = connect_store(settings_for(accounts_key_file=keys, accounts_path=folder / "accounts.sqlite3"))
        linked = LinkedAccounts(store, lambda token: f"https://mcp.example.com/link/{token}")
    sandbox = Sandbox()
    server = build_server(settings, lambda: make_client(settings, sandbox.transport()), linked=linked)
    try:
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
    finally:
        if linked is not None:
            linked.store.close()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


def dumped(snapshot: object) -> str:
    return json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n"


async def test_what_tools_list_shows_in_each_mode_is_the_committed_snapshot(tmp_path: Path) -> None:
    now = {mode: await listed(mode, tmp_path) for mode in MODES}

    if UPDATING:
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(dumped(now))
    committed = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
    if committed != now:
        fail("tools/list differs from tests/snapshots/tools.json (what the model sees)", dumped(committed), dumped(now))


def test_linked_accounts_add_unlink_account_and_read_only_drops_the_writers() -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    names = {mode: [tool["name"] for tool in tools] for mode, tools in snapshot.items()}

    assert set(names) == set(MODES)
    assert set(names["linked_accounts"]) == {*names["default"], "unlink_account"}
    assert set(names["default"]) - set(names["read_only"]) == {"create_organisation", "activate_organisation"}
    assert set(names["default"]) - set(names["per_request_credentials"]) == {"login"}


def fail(what: str, committed: str, now: str) -> None:
    """Fail the test with the difference between what is committed and what the code makes now, and the fix."""
    diff = difflib.unified_diff(committed.splitlines(), now.splitlines(), "committed", "made now", lineterm="")
    pytest.fail(
        f"{what}:\n" + "\n".join(diff) + f"\n\nIf the change is meant, refresh with\n    {REFRESH}\n"
        "then read the diff and commit it with the change.",
        pytrace=False,
    )

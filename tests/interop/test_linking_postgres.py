"""Linked accounts on PostgreSQL with two replicas: two oas-mcp processes sharing one database (Debian's
``postgresql``, started by the test as its own user in a temp folder, see tests/pg_server.py), as behind a load
balancer. A link made on one is used on the other's page, the first tells its client, the second acts as the account
and unlinks it, and the first then asks to link again.

It starts three servers, so it runs with the interop stage of ``.ci/run`` (which sets ``INTEROP_BIN``); the README's
test command runs the same flow on SQLite, with the second replica in-process (tests/test_linking.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oas_mcp.sandbox import DEMO_API_KEY

from oauth_issuer import FakeIssuer, serving
from pg_server import Postgres, fresh_schema
from support import free_port, running_on, wait_for
from test_linking import HTTP, Linking, environment, replicas_share_links_accounts_and_completions

pytestmark = pytest.mark.anyio


async def test_two_replicas_sharing_postgresql_share_links_accounts_and_completions(
    postgres: Postgres, tmp_path: Path
) -> None:
    if not os.environ.get("INTEROP_BIN"):
        pytest.skip("runs with the interop tests: .ci/run sets INTEROP_BIN")
    fake = FakeIssuer(f"http://127.0.0.1:{free_port()}")
    public, other = free_port(), free_port()
    env = environment(fake, public, tmp_path)
    del env["OAS_ACCOUNTS_PATH"]
    env["OAS_DATABASE_URL"] = fresh_schema(postgres)
    with serving(fake), running_on(public, *HTTP, **env) as one, running_on(other, *HTTP, **env) as two:
        for replica in (one, two):
            wait_for(replica, "signing keys")
        await replicas_share_links_accounts_and_completions(Linking(fake, one, env), Linking(fake, two, env))
        logs = one.output() + two.output()

    assert "signing keys" in logs
    assert postgres.password not in logs
    assert DEMO_API_KEY not in logs

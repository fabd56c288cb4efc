"""A process that serves for weeks keeps the same size: nothing it holds grows with every request.

bench/soak.py measures the bytes of memory per call in each mode; these tests pin down the bounds it relies on.
"""

from __future__ import annotations

import httpx2
import pytest

from oas_mcp.sandbox import DEMO_API_KEY, SANDBOX_URL, Sandbox
from oas_mcp.sandbox._app import KEPT_REQUESTS

pytestmark = pytest.mark.anyio


async def test_the_sandbox_keeps_only_its_latest_requests_by_default() -> None:
    sandbox = Sandbox()
    sent = KEPT_REQUESTS + 10

    async with httpx2.AsyncClient(transport=sandbox.transport(), base_url=SANDBOX_URL) as http:
        for number in range(sent):
            response = await http.get(f"/helloworld?n={number}", headers={"X-Api-Key": DEMO_API_KEY})
            assert response.status_code == 200

    assert sandbox.served == sent
    assert len(sandbox.requests) == KEPT_REQUESTS
    assert sandbox.requests[0] == ("GET", f"{SANDBOX_URL}/helloworld?n=10")
    assert sandbox.requests[-1] == ("GET", f"{SANDBOX_URL}/helloworld?n={sent - 1}")

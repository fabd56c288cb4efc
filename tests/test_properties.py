"""Property-based: whatever arguments a model sends, every call ends as a result or a clean tool error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio.from_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from oas_mcp.sandbox import Sandbox

from support import server_for, text_of

EXAMPLES_PER_PARAMETER = settings().max_examples
"""Argument sets per parameter a tool has: hypothesis's 100 in the README's test command, so a tool with four
parameters gets 400; 250 (1,000) with ``--hypothesis-profile thorough``, as ``.ci/run`` runs this file again."""
EXAMPLES_WITHOUT_PARAMETERS = EXAMPLES_PER_PARAMETER // 5  # only the unexpected arguments vary
ANYTHING = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50)
    | st.text(min_size=300, max_size=20_000),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
CURRENCY = st.sampled_from(["USD", "eur", "GBP", "us", "XYZ", "€€€", "", "USDD"]) | st.text(max_size=5)
PARAMETERS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "hello": {},
    "login": {},
    "list_organisations": {
        "limit": st.integers(min_value=-5, max_value=10_005) | ANYTHING,
        "name_contains": st.text(max_size=300) | ANYTHING,
        "currency": CURRENCY | ANYTHING,
    },
    "create_organisation": {
        "name": st.text(max_size=300) | ANYTHING,
        "base_currency": CURRENCY | ANYTHING,
        "currencies": st.lists(CURRENCY, max_size=4) | ANYTHING,
        "image": st.sampled_from(["https://x.test/a.png", "ftp://x", "not a url"]) | ANYTHING,
    },
    "activate_organisation": {"organisation_id": st.integers(min_value=-(2**65), max_value=2**65) | ANYTHING},
}


def arguments(tool: str) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of the tool's parameters (so some are missing), plus sometimes a parameter it does not have."""
    fields = PARAMETERS[tool]
    chosen = st.fixed_dictionaries({}, optional=fields) if fields else st.just({})
    extra = st.dictionaries(st.sampled_from(["password", "api_key", "unexpected"]), ANYTHING, max_size=1)
    return st.tuples(chosen, extra).map(lambda both: {**both[1], **both[0]})


@pytest.fixture(scope="module")
def session() -> Iterator[tuple[anyio.from_thread.BlockingPortal, Client, Sandbox]]:
    """One MCP client session on a sandbox, driven from synchronous hypothesis tests through a portal."""
    sandbox = Sandbox(page_size=100)
    with anyio.from_thread.start_blocking_portal() as portal:
        client = Client(server_for(sandbox, max_retries=0))
        with portal.wrap_async_context_manager(client):
            yield portal, client, sandbox


@pytest.mark.parametrize("tool", list(PARAMETERS))
def test_any_arguments_end_as_a_result_or_a_clean_tool_error(
    tool: str, session: tuple[anyio.from_thread.BlockingPortal, Client, Sandbox]
) -> None:
    portal, client, sandbox = session

    examples = EXAMPLES_PER_PARAMETER * len(PARAMETERS[tool]) or EXAMPLES_WITHOUT_PARAMETERS

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(arguments(tool))
    def call(args: dict[str, Any]) -> None:
        sent_before = sandbox.served
        result = portal.call(client.call_tool, tool, args)  # a protocol error would raise here
        text = text_of(result)
        if result.is_error:
            assert 0 < len(text) < 500
            assert "Traceback" not in text
            assert not text.startswith("Error executing tool")
            if text.startswith("Invalid arguments"):
                assert sandbox.served == sent_before, "invalid input reached the API"
        else:
            assert result.structured_content is not None

    call()

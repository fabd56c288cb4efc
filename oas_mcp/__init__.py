"""oas-mcp: an MCP server that gives AI assistants typed, safe access to the OAS API."""

__version__ = "0.1.0"

DEFAULT_BASE_URL = "https://oas-beta.ottomate.me"
"""The OAS API's address, unless configured otherwise."""

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
"""The largest API response body read: a page of 100 organisations is about 30 KB."""

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Histogram buckets for durations (of requests and of tool calls), in seconds: a loopback answer to a call budget."""

DEFAULT_PAGE_CONCURRENCY = 12
"""The most pages of a list fetched at once, at first: the client halves it each time the API says it is overloaded
(429, 503)."""


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural unless it is one: "1 organisation", "3 pages"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"

"""Page-number pagination as the guide describes it: ``{"count", "next", "previous", "results"}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2

from oas_mcp.client._responses import read_json, unexpected_shape


@dataclass(frozen=True)
class Page:
    count: int | None
    results: list[Any]
    next: str | None


def read_page(response: httpx2.Response) -> Page:
    """A page from a paginated body; a bare JSON list is read as the one and only page."""
    data = read_json(response)
    if isinstance(data, list):
        return Page(len(data), data, None)
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        count = data.get("count")
        link = data.get("next")
        return Page(
            count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None,
            data["results"],
            link if isinstance(link, str) and link.strip() else None,
        )
    raise unexpected_shape(response, "a page of results (count, next, results)")


def rebase(link: str, current: httpx2.URL, base_path: str) -> str:
    """The path and query of a ``next`` link, relative to the configured base URL.

    The link's scheme and host are dropped, so the next request goes to the configured origin
    whatever host the API wrote (a proxy misconfiguration must not send credentials elsewhere).
    Relative links are resolved against the current page. When the API runs under a path
    prefix (``base_path``) the prefix is kept whether or not the API's link included it.
    """
    parts = urlsplit(urljoin(str(current), link.strip()))
    path = parts.path or "/"
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :] or "/"
    return f"{path}?{parts.query}" if parts.query else path

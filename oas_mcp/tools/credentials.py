"""Whose OAS account a tool call uses: the server's configured credentials, or the caller's own API key.

With per-request credentials on, each call must carry the user's key in its ``X-Api-Key`` header, and its
upstream calls use a client made for that key alone (its own sign-in and active organisation, on the shared
connection pool). A call without the header is refused rather than served with the server's credentials:
falling back would hand the operator's account to every user who forgets the header.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING

from mcp.server.mcpserver.exceptions import ToolError

if TYPE_CHECKING:
    from oas_mcp.client import OASClient  # loaded with the first tool call, not at start-up

API_KEY_HEADER = "X-Api-Key"
FROM_HEADER = f"the {API_KEY_HEADER} header your MCP client sends"
MAX_KEY_LENGTH = 512
CACHED_CLIENTS = 1024
"""Per-request clients kept at most, the most recently used."""
MISSING_KEY = (
    f"This server uses each user's own OAS API key: configure your MCP client to send it in the "
    f"{API_KEY_HEADER} header, then call again."
)
MALFORMED_KEY = (
    f"The {API_KEY_HEADER} header is not an API key (expected up to {MAX_KEY_LENGTH} visible ASCII "
    "characters, such as the 41-character key from the welcome email); correct it in your MCP client."
)


class Clients:
    """Picks the OAS client for a call. Per-request clients are cached by a hash of their key, least
    recently used first out beyond ``capacity``; the key itself is never a cache key or a log line.
    """

    def __init__(self, shared: OASClient, *, per_request: bool, capacity: int = CACHED_CLIENTS) -> None:
        self.shared = shared
        self.per_request = per_request
        self.capacity = capacity
        self._cache: OrderedDict[bytes, OASClient] = OrderedDict()

    def __len__(self) -> int:
        return len(self._cache)

    def for_request(self, headers: Mapping[str, str] | None) -> OASClient:
        """The client for a call with these HTTP headers (None off HTTP). Raises ToolError without a key."""
        if not self.per_request:
            return self.shared
        key = (headers or {}).get(API_KEY_HEADER.lower(), "").strip()
        if not key:
            raise ToolError(MISSING_KEY)
        if len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()) or " " in key:
            raise ToolError(MALFORMED_KEY)
        digest = key_digest(key)
        client = self._cache.get(digest)
        if client is not None:
            self._cache.move_to_end(digest)
            return client
        from oas_mcp.client import Credentials

        client = self._cache[digest] = self.shared.with_credentials(Credentials.of(api_key=key))
        if len(self._cache) > self.capacity:
            self._cache.popitem(last=False)  # it shares the pool: nothing to close
        return client


def key_digest(key: str) -> bytes:
    """What identifies a user's API key without holding it: its SHA-256."""
    return hashlib.sha256(key.encode()).digest()

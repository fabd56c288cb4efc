"""Whose OAS account a tool call uses: the server's configured credentials, the caller's own API key, or the
account the caller linked (see :mod:`oas_mcp.accounts.mcp`).

With per-request credentials on, each call must carry the user's key in its ``X-Api-Key`` header, and its
upstream calls use a client made for that key alone (its own sign-in and active organisation, on the shared
connection pool). A call without the header is refused rather than served with the server's credentials:
falling back would hand the operator's account to every user who forgets the header.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from mcp.server.mcpserver.exceptions import ToolError

from oas_mcp.client import Credentials, OASClient
from oas_mcp.settings import MAX_KEY_LENGTH, key_problem

if TYPE_CHECKING:
    from oas_mcp.accounts import LinkedAccount, Subject

API_KEY_HEADER = "X-Api-Key"
FROM_HEADER = f"the {API_KEY_HEADER} header your MCP client sends"
CACHED_CLIENTS = 1024
"""Per-request clients kept at most, the most recently used."""
MISSING_KEY = (
    f"This server uses each user's own OAS API key: configure your MCP client to send it in the "
    f"{API_KEY_HEADER} header, then call again."
)
LINKED_KEY = "the API key you linked (to link another: call unlink_account, then any tool)"
LINKED_WITHOUT_LOGIN = (
    "login needs the username, email and password of your OAS account, and you linked its API key alone: to give "
    "them, call unlink_account, then any tool, and fill them in on the link page."
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

    def sent_key(self, headers: Mapping[str, str] | None) -> bool:
        """Whether a call with these HTTP headers brings its own key (per-request credentials on, and the header
        sent): then it is used, whatever else would be."""
        return self.per_request and bool(_header_key(headers))

    def for_request(self, headers: Mapping[str, str] | None) -> OASClient:
        """The client for a call with these HTTP headers (None off HTTP). Raises ToolError without a key."""
        if not self.per_request:
            return self.shared
        key = _header_key(headers)
        if not key:
            raise ToolError(MISSING_KEY)
        if key_problem(key):
            raise ToolError(MALFORMED_KEY)

        return self._cached(key_digest(key), lambda: Credentials.of(api_key=key))

    def for_account(self, subject: Subject, account: LinkedAccount) -> OASClient:
        """The client for the account ``subject`` linked: cached by a hash of whose it is and of all its
        credentials, so that linking another account (or the same with another key) gets a new client."""
        return self._cached(
            _account_digest(subject, account),
            lambda: Credentials.of(account.api_key, account.username, account.email, account.password),
        )

    def forget_account(self, subject: Subject, account: LinkedAccount) -> None:
        """Drop the cached client of the account ``subject`` linked (it was unlinked), if there is one."""
        self._cache.pop(_account_digest(subject, account), None)

    def _cached(self, digest: bytes, credentials: Callable[[], Credentials]) -> OASClient:
        """The cached client for ``digest``, else a new one made for ``credentials()`` on the shared pool."""
        client = self._cache.get(digest)
        if client is not None:
            self._cache.move_to_end(digest)
            return client
        client = self._cache[digest] = self.shared.with_credentials(credentials())
        if len(self._cache) > self.capacity:
            self._cache.popitem(last=False)  # it shares the pool: nothing to close
        return client


def _account_digest(subject: Subject, account: LinkedAccount) -> bytes:
    """What identifies a linked account's client: a hash of whose it is and of all its credentials."""
    identity = [
        subject.issuer,
        subject.sub,
        account.api_key.get_secret_value(),
        account.username,
        account.email,
        account.password.get_secret_value() if account.password else None,
    ]
    return key_digest(json.dumps(identity))


def _header_key(headers: Mapping[str, str] | None) -> str:
    return (headers or {}).get(API_KEY_HEADER.lower(), "").strip()


def key_digest(key: str) -> bytes:
    """What identifies a user's API key without holding it: its SHA-256."""
    return hashlib.sha256(key.encode()).digest()

"""Linked OAS accounts: the OAS credentials each person signed in through OAuth linked, by subject.

Kept in SQLite (one replica) or PostgreSQL (``OAS_DATABASE_URL``, any number), encrypted with the Fernet keys of
``OAS_ACCOUNTS_KEY_FILE``, with an audit log of every link and unlink. This package knows nothing of MCP or HTTP.
"""

from oas_mcp.accounts.store import (
    LINK_TTL,
    AccountsError,
    AccountStore,
    AuditEvent,
    Link,
    LinkedAccount,
    LinkRefused,
    Subject,
    connect_store,
    default_path,
    open_store,
)

__all__ = [
    "LINK_TTL",
    "AccountStore",
    "AccountsError",
    "AuditEvent",
    "Link",
    "LinkRefused",
    "LinkedAccount",
    "Subject",
    "connect_store",
    "default_path",
    "open_store",
]

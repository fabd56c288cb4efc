"""The linked accounts: each OAuth subject's OAS credentials, encrypted at rest, and the audit log of links."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, TypeVar

import anyio.to_thread
from cryptography.fernet import InvalidToken, MultiFernet
from pydantic import BaseModel, ConfigDict, SecretStr

from oas_mcp.accounts.databases import Database, PostgreSQL, Session, SQLite, first_line, migrate, now
from oas_mcp.accounts.keys import read_keys
from oas_mcp.settings import Settings, SettingsError, env_name

T = TypeVar("T")


@dataclass(frozen=True)
class Subject:
    """Who signed in: an OAuth token's issuer (``iss``) and subject (``sub``) at that issuer."""

    issuer: str
    sub: str

    def __str__(self) -> str:
        return f"{self.sub!r} at {self.issuer}"


class LinkedAccount(BaseModel):
    """The OAS account a subject linked: the credentials oas-mcp uses on their behalf."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    oas_username: str
    """Whom the API key belongs to, as the API said when it was linked ("Hello world @username")."""
    api_key: SecretStr
    username: str | None = None
    email: str | None = None
    password: SecretStr | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit log: who linked or unlinked which OAS account, and when."""

    at: datetime
    event: Literal["link", "unlink"]
    subject: Subject
    oas_username: str


class AccountsError(Exception):
    """The accounts database failed, or holds an account these keys cannot open; the message is one line."""


class AccountStore:
    """Linked accounts by subject. Every operation is one transaction, safe to run from many tasks and replicas."""

    def __init__(self, database: Database, keys: MultiFernet, key_file: str) -> None:
        self._database = database
        self._keys = keys
        self._key_file = key_file

    async def link(self, subject: Subject, account: LinkedAccount) -> None:
        """Link ``account`` to ``subject`` (replacing any account linked before), and log it. Raises AccountsError."""
        secrets = self._keys.encrypt(_seal(subject, account)).decode()

        def link(session: Session) -> None:
            session.run(
                "INSERT INTO oas_mcp_accounts (issuer, sub, oas_username, secrets, linked_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (issuer, sub) DO UPDATE SET oas_username = excluded.oas_username, "
                "secrets = excluded.secrets, linked_at = excluded.linked_at",
                (subject.issuer, subject.sub, account.oas_username, secrets, now()),
            )
            _audit(session, "link", subject, account.oas_username)

        await self._run(link)

    async def get(self, subject: Subject) -> LinkedAccount | None:
        """The account ``subject`` linked, or None. Raises AccountsError, also when no key opens it."""
        rows = await self._run(
            lambda session: session.run(
                "SELECT oas_username, secrets FROM oas_mcp_accounts WHERE issuer = ? AND sub = ?",
                (subject.issuer, subject.sub),
            )
        )
        if not rows:
            return None
        [(oas_username, secrets)] = rows
        return _unseal(subject, oas_username, self._decrypt(subject, secrets))

    async def unlink(self, subject: Subject) -> bool:
        """Delete the account ``subject`` linked (the row itself, no flag), and log it; False when there was none.
        Raises AccountsError."""

        def unlink(session: Session) -> bool:
            rows = session.run(
                "DELETE FROM oas_mcp_accounts WHERE issuer = ? AND sub = ? RETURNING oas_username",
                (subject.issuer, subject.sub),
            )
            for (oas_username,) in rows:
                _audit(session, "unlink", subject, oas_username)
            return bool(rows)

        return await self._run(unlink)

    async def events(self, subject: Subject | None = None) -> list[AuditEvent]:
        """The audit log, oldest first: all of it, or ``subject``'s. Raises AccountsError."""
        where, parameters = ("WHERE issuer = ? AND sub = ? ", (subject.issuer, subject.sub)) if subject else ("", ())
        rows = await self._run(
            lambda session: session.run(
                f"SELECT at, event, issuer, sub, oas_username FROM oas_mcp_account_events {where}ORDER BY id",
                parameters,
            )
        )
        return [
            AuditEvent(datetime.fromisoformat(at), event, Subject(iss, sub), name) for at, event, iss, sub, name in rows
        ]

    async def rotate(self) -> int:
        """Encrypt every account again with the first key; how many. Raises AccountsError (and changes nothing)
        when an account opens with no key."""

        def rotate(session: Session) -> int:
            rows = session.run("SELECT issuer, sub, secrets FROM oas_mcp_accounts")
            for issuer, sub, secrets in rows:
                try:
                    rotated = self._keys.rotate(secrets.encode()).decode()
                except InvalidToken:
                    raise self._unreadable(Subject(issuer, sub)) from None
                session.run(  # unless a link replaced it meanwhile
                    "UPDATE oas_mcp_accounts SET secrets = ? WHERE issuer = ? AND sub = ? AND secrets = ?",
                    (rotated, issuer, sub, secrets),
                )
            return len(rows)

        return await self._run(rotate)

    async def _run(self, work: Callable[[Session], T]) -> T:
        """``work`` in one transaction, in a worker thread; raises AccountsError when the database fails."""

        def transact() -> T:
            with self._database.transaction() as session:
                return work(session)

        try:
            return await anyio.to_thread.run_sync(transact)
        except self._database.errors as exc:
            raise AccountsError(f"the accounts database {self._database.where} failed: {first_line(exc)}") from None

    def _decrypt(self, subject: Subject, secrets: str) -> bytes:
        try:
            return self._keys.decrypt(secrets.encode())
        except InvalidToken:
            raise self._unreadable(subject) from None

    def _unreadable(self, subject: Subject) -> AccountsError:
        return AccountsError(
            f"the account linked by {subject} cannot be decrypted with any key in {self._key_file}: "
            "put back the key it was encrypted with"
        )


def _seal(subject: Subject, account: LinkedAccount) -> bytes:
    """What is encrypted: the credentials, and whose they are, so that a row copied to another subject is refused."""
    secret = {
        "issuer": subject.issuer,
        "sub": subject.sub,
        "api_key": account.api_key.get_secret_value(),
        "username": account.username,
        "email": account.email,
        "password": account.password.get_secret_value() if account.password else None,
    }
    return json.dumps(secret).encode()


def _unseal(subject: Subject, oas_username: str, plaintext: bytes) -> LinkedAccount:
    secret = json.loads(plaintext)
    if (secret.pop("issuer"), secret.pop("sub")) != (subject.issuer, subject.sub):
        raise AccountsError(f"the account stored for {subject} was linked by someone else: the database was altered")
    return LinkedAccount(oas_username=oas_username, **secret)


def _audit(session: Session, event: Literal["link", "unlink"], subject: Subject, oas_username: str) -> None:
    session.run(
        "INSERT INTO oas_mcp_account_events (at, event, issuer, sub, oas_username) VALUES (?, ?, ?, ?, ?)",
        (now(), event, subject.issuer, subject.sub, oas_username),
    )


def default_path() -> Path:
    """Where the SQLite file goes by default: ``oas-mcp/accounts.sqlite3`` in the user data directory
    (``$XDG_DATA_HOME``, else ``~/.local/share``)."""
    data_home = os.environ.get("XDG_DATA_HOME", "")
    base = Path(data_home) if Path(data_home).is_absolute() else Path.home() / ".local" / "share"
    return base / "oas-mcp" / "accounts.sqlite3"


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[AccountStore]:
    """The store the settings name, its schema migrated; closed when the block ends.

    Raises SettingsError when the key file is missing or bad, both a database URL and a path are set, or the
    database cannot be opened (or was migrated by a newer oas-mcp).
    """

    def setting(name: str) -> str:
        origin = settings.origin(name)
        return env_name(name) if origin == "default" else origin

    keys = read_keys(settings.accounts_key_file, setting("accounts_key_file"))
    if settings.database_url is not None and settings.accounts_path is not None:
        raise SettingsError(f"set {setting('database_url')} or {setting('accounts_path')}, not both")
    database = await anyio.to_thread.run_sync(_connect, settings, setting)
    try:
        await anyio.to_thread.run_sync(migrate, database)
        yield AccountStore(database, keys, str(settings.accounts_key_file))
    finally:
        await anyio.to_thread.run_sync(database.close)


def _connect(settings: Settings, setting: Callable[[str], str]) -> Database:
    """The database the settings name: PostgreSQL at the URL, else the SQLite file. Raises SettingsError."""
    if settings.database_url is not None:
        return PostgreSQL(settings.database_url.get_secret_value(), setting("database_url"))
    return SQLite(settings.accounts_path or default_path(), setting("accounts_path"))

"""The linked accounts: each OAuth subject's OAS credentials, encrypted at rest, the audit log of links, and the
single-use links that let a subject link an account."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable, Collection
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
from oas_mcp.settings import Settings, check_combination, env_name

T = TypeVar("T")
MAX_PARAMETERS = 500  # most values one statement binds (SQLite allows 999 at least)


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


LINK_TTL = 600
"""Seconds a link may be used after it is made."""
LINKS_KEPT = LINK_TTL
"""Seconds a link's row is kept after it expires (so that using it says it expired, or was used), then deleted."""
PENDING_PER_SUBJECT = 20
"""Most links one subject may have at once; making another deletes the oldest."""
MAX_FAILED_CHECKS = 5
"""Most times the credentials given for one link may be refused; then the link no longer works. A check under way
counts until the API answered (so that checks sent at once cannot pass the limit)."""
MAX_SUBJECT_CHECKS = 10
"""Most checks of credentials one subject's links may make without linking an account within :data:`CHECKS_WINDOW`
(refused, under way, or unanswered by a failing API); then the subject's checks are paused until the window ends."""
CHECKS_WINDOW = 3600
"""Seconds of the window :data:`MAX_SUBJECT_CHECKS` counts in; it starts with the subject's first check in it."""
Refusal = Literal["unknown", "used", "expired", "someone else", "tried too often", "checked too often"]


class LinkRefused(Exception):
    """A link cannot be used: ``reason`` says why (unknown, used, expired, made for someone else, given up after
    :data:`MAX_FAILED_CHECKS` refused credentials, or its subject's checks paused after :data:`MAX_SUBJECT_CHECKS`)."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(f"the link is {reason}" if reason != "someone else" else "the link is for someone else")
        self.reason: Refusal = reason


@dataclass(frozen=True)
class Link:
    """A link offered to ``subject``: its ``token`` (what the URL holds; only its hash is stored), and the id of the
    elicitation its use completes."""

    token: str
    subject: Subject
    elicitation_id: str


@dataclass(frozen=True)
class Attempt:
    """A check of the credentials given for a link, counted before the API is asked (see
    :meth:`AccountStore.reserve_check`): how many the link counts now, and how many its subject does in the window,
    this one included."""

    on_link: int
    by_subject: int


class AccountStore:
    """Linked accounts by subject. Every operation is one transaction, safe to run from many tasks and replicas."""

    def __init__(self, database: Database, keys: MultiFernet, key_file: str) -> None:
        self._database = database
        self._keys = keys
        self._key_file = key_file

    @property
    def keys(self) -> MultiFernet:
        """The keys of the key file: what else needs encrypting with them (the link page's cookie) uses them too."""
        return self._keys

    async def link(self, subject: Subject, account: LinkedAccount) -> None:
        """Link ``account`` to ``subject`` (replacing any account linked before), and log it. Raises AccountsError."""
        sealed = self._seal(subject, account)
        await self._run(lambda session: _store(session, subject, account.oas_username, sealed))

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
        [(oas_username, sealed)] = rows
        return _unseal(subject, oas_username, self._decrypt(subject, sealed))

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
            for issuer, sub, sealed in rows:
                try:
                    rotated = self._keys.rotate(sealed.encode()).decode()
                except InvalidToken:
                    raise self._unreadable(Subject(issuer, sub)) from None
                session.run(  # unless a link replaced it meanwhile
                    "UPDATE oas_mcp_accounts SET secrets = ? WHERE issuer = ? AND sub = ? AND secrets = ?",
                    (rotated, issuer, sub, sealed),
                )
            return len(rows)

        return await self._run(rotate)

    async def start_link(self, subject: Subject) -> Link:
        """A new link for ``subject``, usable once within :data:`LINK_TTL` seconds. Deletes the links that expired
        long ago, ``subject``'s oldest beyond :data:`PENDING_PER_SUBJECT`, and the counts of checks whose window
        ended. Raises AccountsError."""
        link = Link(secrets.token_urlsafe(32), subject, secrets.token_urlsafe(16))

        def start(session: Session) -> None:
            session.run("DELETE FROM oas_mcp_links WHERE expires_at < ?", (now(-LINKS_KEPT),))
            session.run(
                "INSERT INTO oas_mcp_links (digest, issuer, sub, elicitation_id, expires_at) VALUES (?, ?, ?, ?, ?)",
                (_digest(link.token), subject.issuer, subject.sub, link.elicitation_id, now(LINK_TTL)),
            )
            session.run(
                "DELETE FROM oas_mcp_links WHERE issuer = ? AND sub = ? AND id NOT IN (SELECT id FROM oas_mcp_links "
                "WHERE issuer = ? AND sub = ? ORDER BY id DESC LIMIT ?)",
                (subject.issuer, subject.sub, subject.issuer, subject.sub, PENDING_PER_SUBJECT),
            )
            # Last: every transaction that writes both tables writes links first, so none waits for another in turn.
            session.run("DELETE FROM oas_mcp_checks WHERE started_at < ?", (now(-CHECKS_WINDOW),))

        await self._run(start)
        return link

    async def open_link(self, token: str) -> Link:
        """The link ``token`` names, when it may still be used. Raises LinkRefused (unknown, used, expired, or given
        up), or AccountsError."""
        return await self._run(lambda session: _usable(session, token))

    async def complete_link(self, token: str, subject: Subject, account: LinkedAccount) -> Link:
        """Use the link ``token`` names to link ``account`` to ``subject``, in one transaction: the link is used up
        and the account stored (and logged) together, or neither; the check of ``account`` that
        :meth:`reserve_check` counted no longer counts. Raises LinkRefused (unknown, used (also by a replica
        completing it at the same moment), expired, given up, or made for another subject: then nothing changes),
        or AccountsError."""
        sealed = self._seal(subject, account)

        def complete(session: Session) -> Link:
            _release(session, token)
            session.run(
                "UPDATE oas_mcp_checks SET failures = failures - 1 WHERE issuer = ? AND sub = ? AND failures > 0",
                (subject.issuer, subject.sub),
            )
            link = _usable(session, token)
            if link.subject != subject:
                raise LinkRefused("someone else")
            # Only one transaction marks it used: another replica's, having read it unused too, finds no row here.
            claimed = session.run(
                "UPDATE oas_mcp_links SET used_at = ? WHERE digest = ? AND used_at IS NULL RETURNING id",
                (now(), _digest(token)),
            )
            if not claimed:
                raise LinkRefused("used")
            _store(session, subject, account.oas_username, sealed)
            return link

        return await self._run(complete)

    async def reserve_check(self, token: str, subject: Subject) -> Attempt:
        """Count a check of the credentials ``subject`` gives for the link ``token`` names as refused, before the
        API is asked: for the link, and for ``subject`` within :data:`CHECKS_WINDOW`. Each count is taken in one
        statement that refuses past its limit, so checks sent at once (from any replica) cannot pass either. Once
        the API answered, :meth:`complete_link` or :meth:`release_check` take back what should not count.

        Raises LinkRefused: "tried too often" once the link counts :data:`MAX_FAILED_CHECKS`, "checked too often"
        once ``subject`` counts :data:`MAX_SUBJECT_CHECKS` (then nothing was counted); or as :meth:`open_link` and
        "someone else". Raises AccountsError."""

        def reserve(session: Session) -> Attempt:
            link = _usable(session, token)
            if link.subject != subject:
                raise LinkRefused("someone else")
            on_link = session.run(
                "UPDATE oas_mcp_links SET failures = failures + 1 WHERE digest = ? AND used_at IS NULL "
                "AND failures < ? RETURNING failures",
                (_digest(token), MAX_FAILED_CHECKS),
            )
            if not on_link:  # other checks counted meanwhile
                raise LinkRefused("tried too often")
            ended = now(-CHECKS_WINDOW)  # a window that started before this has ended: the next check starts one
            by_subject = session.run(
                "INSERT INTO oas_mcp_checks (issuer, sub, started_at, failures) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (issuer, sub) DO UPDATE SET "
                "started_at = CASE WHEN oas_mcp_checks.started_at <= ? THEN excluded.started_at "
                "ELSE oas_mcp_checks.started_at END, "
                "failures = CASE WHEN oas_mcp_checks.started_at <= ? THEN 1 ELSE oas_mcp_checks.failures + 1 END "
                "WHERE oas_mcp_checks.started_at <= ? OR oas_mcp_checks.failures < ? RETURNING failures",
                (subject.issuer, subject.sub, now(), ended, ended, ended, MAX_SUBJECT_CHECKS),
            )
            if not by_subject:  # raising rolls back the link's count too
                raise LinkRefused("checked too often")
            return Attempt(on_link[0][0], by_subject[0][0])

        return await self._run(reserve)

    async def release_check(self, token: str) -> None:
        """The API could not judge the credentials of a check :meth:`reserve_check` counted for the link ``token``
        names: it no longer counts for the link (it still does for its subject: a failing API does not make checks
        free). Raises AccountsError."""
        await self._run(lambda session: _release(session, token))

    async def completed_links(self, elicitation_ids: Collection[str]) -> set[str]:
        """Which of ``elicitation_ids`` belong to links used by now (:meth:`complete_link`). Raises AccountsError."""
        wanted = list(elicitation_ids)
        chunks = [wanted[start : start + MAX_PARAMETERS] for start in range(0, len(wanted), MAX_PARAMETERS)]

        def used(session: Session) -> set[str]:
            found = set()
            for chunk in chunks:
                marks = ", ".join("?" * len(chunk))
                found |= {
                    elicitation_id
                    for (elicitation_id,) in session.run(
                        "SELECT elicitation_id FROM oas_mcp_links "
                        f"WHERE used_at IS NOT NULL AND elicitation_id IN ({marks})",
                        chunk,
                    )
                }
            return found

        return await self._run(used) if chunks else set()

    def close(self) -> None:
        """Close the database (its connections); it blocks."""
        self._database.close()

    async def _run(self, work: Callable[[Session], T]) -> T:
        """``work`` in one transaction, in a worker thread; raises AccountsError when the database fails."""

        def transact() -> T:
            with self._database.transaction() as session:
                return work(session)

        try:
            return await anyio.to_thread.run_sync(transact)
        except self._database.errors as exc:
            raise AccountsError(f"the accounts database {self._database.where} failed: {first_line(exc)}") from None

    def _seal(self, subject: Subject, account: LinkedAccount) -> str:
        return self._keys.encrypt(_seal(subject, account)).decode()

    def _decrypt(self, subject: Subject, sealed: str) -> bytes:
        try:
            return self._keys.decrypt(sealed.encode())
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


def _store(session: Session, subject: Subject, oas_username: str, sealed: str) -> None:
    """Link the account (``sealed``: its secrets, encrypted) to ``subject``, replacing any account linked before;
    log it."""
    session.run(
        "INSERT INTO oas_mcp_accounts (issuer, sub, oas_username, secrets, linked_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (issuer, sub) DO UPDATE SET oas_username = excluded.oas_username, "
        "secrets = excluded.secrets, linked_at = excluded.linked_at",
        (subject.issuer, subject.sub, oas_username, sealed, now()),
    )
    _audit(session, "link", subject, oas_username)


def _digest(token: str) -> str:
    """What is stored of a link's token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def _release(session: Session, token: str) -> None:
    """The link ``token`` names counts one check fewer."""
    session.run("UPDATE oas_mcp_links SET failures = failures - 1 WHERE digest = ? AND failures > 0", (_digest(token),))


def _usable(session: Session, token: str) -> Link:
    """The link ``token`` names; raises LinkRefused when there is none, or it was used, expired, or was given up."""
    rows = session.run(
        "SELECT issuer, sub, elicitation_id, expires_at, used_at, failures FROM oas_mcp_links WHERE digest = ?",
        (_digest(token),),
    )
    if not rows:
        raise LinkRefused("unknown")
    [(issuer, sub, elicitation_id, expires_at, used_at, failures)] = rows
    if used_at is not None:
        raise LinkRefused("used")
    if failures >= MAX_FAILED_CHECKS:
        raise LinkRefused("tried too often")
    if expires_at <= now():
        raise LinkRefused("expired")
    return Link(token, Subject(issuer, sub), elicitation_id)


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
    """The store the settings name, its schema migrated (see :func:`connect_store`); closed when the block ends.
    Raises SettingsError."""
    store = await anyio.to_thread.run_sync(connect_store, settings)
    try:
        yield store
    finally:
        await anyio.to_thread.run_sync(store.close)


def connect_store(settings: Settings) -> AccountStore:
    """The store the settings name, its schema migrated; it blocks (a server opens it before it serves). Close it.

    Raises SettingsError when the key file is missing or bad, both a database URL and a path are set, or the
    database cannot be opened (or was migrated by a newer oas-mcp).
    """

    def setting(name: str) -> str:
        origin = settings.origin(name)
        return env_name(name) if origin == "default" else origin

    keys = read_keys(settings.accounts_key_file, setting("accounts_key_file"))
    check_combination(settings, "accounts")
    database = _connect(settings, setting)
    try:
        migrate(database)
    except BaseException:
        database.close()
        raise
    return AccountStore(database, keys, str(settings.accounts_key_file))


def _connect(settings: Settings, setting: Callable[[str], str]) -> Database:
    """The database the settings name: PostgreSQL at the URL, else the SQLite file. Raises SettingsError."""
    if settings.database_url is not None:
        return PostgreSQL(settings.database_url.get_secret_value(), setting("database_url"))
    return SQLite(settings.accounts_path or default_path(), setting("accounts_path"))

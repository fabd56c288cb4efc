"""Where linked accounts are kept: an SQLite file (one replica), or PostgreSQL (any number of replicas).

Both run the same SQL, written with ``?`` parameters, and the same migrations: a table of applied versions and the
statements of each version, applied in order at start. Their calls block, so the store runs them in worker threads.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from oas_mcp.settings import SettingsError

if TYPE_CHECKING:
    import psycopg

Row = tuple[Any, ...]
logger = logging.getLogger("oas_mcp.accounts")
SQLITE_BUSY_TIMEOUT = 30.0  # seconds a write waits for another process's write to the same file
POSTGRES_CONNECT_TIMEOUT = 10  # seconds
POSTGRES_POOL_TIMEOUT = 10.0  # seconds an operation waits for a free connection
POSTGRES_MAX_CONNECTIONS = 8  # per replica
MIGRATION_LOCK = 0x6F61735F6D6370  # PostgreSQL advisory lock that replicas starting at once migrate under, in turn

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # Who linked which OAS account: the token's issuer and subject; the OAS username shown at link time; the
        # credentials, encrypted (a Fernet token of JSON, see oas_mcp.accounts.store).
        """CREATE TABLE oas_mcp_accounts (
            issuer TEXT NOT NULL,
            sub TEXT NOT NULL,
            oas_username TEXT NOT NULL,
            secrets TEXT NOT NULL,
            linked_at TEXT NOT NULL,
            PRIMARY KEY (issuer, sub)
        )""",
        # The audit log: who linked or unlinked, when, and which OAS account; never a secret.
        """CREATE TABLE oas_mcp_account_events (
            id {identity},
            at TEXT NOT NULL,
            event TEXT NOT NULL CHECK (event IN ('link', 'unlink')),
            issuer TEXT NOT NULL,
            sub TEXT NOT NULL,
            oas_username TEXT NOT NULL
        )""",
    ),
    (
        # Links offered to subjects not linked yet: the SHA-256 of the link's token (the token itself is only in the
        # URL given to the subject), whose it is, the elicitation it completes, until when it may be used, and when
        # it was (it is used once). Rows are deleted a while after they expire, so the table stays small.
        """CREATE TABLE oas_mcp_links (
            id {identity},
            digest TEXT NOT NULL UNIQUE,
            issuer TEXT NOT NULL,
            sub TEXT NOT NULL,
            elicitation_id TEXT NOT NULL UNIQUE,
            expires_at TEXT NOT NULL,
            used_at TEXT
        )""",
        "CREATE INDEX oas_mcp_links_subject ON oas_mcp_links (issuer, sub)",
        "CREATE INDEX oas_mcp_links_expiry ON oas_mcp_links (expires_at)",
    ),
    (
        # How many times the credentials given on a link's page were refused: past a few, the link is given up.
        "ALTER TABLE oas_mcp_links ADD COLUMN failures INTEGER NOT NULL DEFAULT 0",
    ),
    (
        # How many checks of credentials each subject's links made without linking an account, in the window that
        # started at started_at: links cost nothing to make, so each link's own limit needs this one per subject.
        # A row is deleted a while after its window ends.
        """CREATE TABLE oas_mcp_checks (
            issuer TEXT NOT NULL,
            sub TEXT NOT NULL,
            started_at TEXT NOT NULL,
            failures INTEGER NOT NULL,
            PRIMARY KEY (issuer, sub)
        )""",
    ),
)
"""The schema, one tuple of statements per version; ``{identity}`` is the database's auto-numbered key."""


class Session(Protocol):
    """One transaction's statements."""

    def run(self, sql: str, parameters: Sequence[object] = ()) -> list[Row]:
        """Run ``sql`` with ``?`` parameters; the rows it returns (none for most writes)."""
        ...


class Database(Protocol):
    """A database the store can keep accounts in."""

    where: str
    """What to call it in messages: the file, or the server and database (never a password), and its setting."""
    identity: str
    """The SQL type of an auto-numbered primary key."""
    errors: tuple[type[Exception], ...]
    """What its calls raise when it fails."""

    def transaction(self, *, migrating: bool = False) -> AbstractContextManager[Session]:
        """A transaction, committed when the block ends without an error; ``migrating`` ones run one at a time."""
        ...

    def close(self) -> None: ...


def now(later: float = 0.0) -> str:
    """The time (or ``later`` seconds from now; negative: ago), as stored: ISO 8601 in UTC, to the second, so that
    stored times compare as text."""
    return (datetime.now(UTC) + timedelta(seconds=later)).isoformat(timespec="seconds")


def first_line(exc: BaseException) -> str:
    """A database error in one line."""
    return " ".join(str(exc).split("\n", 1)[0].split()) or type(exc).__name__


def migrate(database: Database) -> None:
    """Bring the schema to the newest version. Raises SettingsError when the database cannot be opened, or when a
    newer oas-mcp migrated it."""
    try:
        with database.transaction(migrating=True) as session:
            session.run("CREATE TABLE IF NOT EXISTS oas_mcp_migrations (version INTEGER PRIMARY KEY, at TEXT NOT NULL)")
            [(applied,)] = session.run("SELECT COALESCE(MAX(version), 0) FROM oas_mcp_migrations")
            if applied > len(MIGRATIONS):
                raise SettingsError(
                    f"the accounts database {database.where} has schema version {applied}, newer than "
                    f"this oas-mcp's {len(MIGRATIONS)}: upgrade oas-mcp"
                )
            for version, statements in enumerate(MIGRATIONS[applied:], applied + 1):
                for statement in statements:
                    session.run(statement.format(identity=database.identity))
                session.run("INSERT INTO oas_mcp_migrations (version, at) VALUES (?, ?)", (version, now()))
    except database.errors as exc:
        raise SettingsError(f"cannot open the accounts database {database.where}: {first_line(exc)}") from None


class SQLite:
    """An SQLite file, readable by its owner alone, opened for each transaction."""

    identity = "INTEGER PRIMARY KEY AUTOINCREMENT"
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, setting: str) -> None:
        """Creates the file and its folder, when missing, for the owner only, and makes a file others could read
        readable by its owner alone (saying so); raises SettingsError naming ``setting`` when it cannot."""
        self.path = path.expanduser()
        self.where = f"{self.path} ({setting})"
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            try:
                mode = os.fstat(handle).st_mode & 0o777
                if os.name == "posix" and mode & 0o077:  # made by hand, or copied: SQLite's journals take its mode
                    os.fchmod(handle, 0o600)
                    logger.warning(
                        "the accounts database %s was open to others (mode %04o): made it 0600", self.where, mode
                    )
            finally:
                os.close(handle)
        except OSError as exc:
            raise SettingsError(f"cannot create the accounts database {self.where}: {exc.strerror or exc}") from None

    @contextmanager
    def transaction(self, *, migrating: bool = False) -> Iterator[Session]:
        # Every transaction takes the write lock at once (BEGIN IMMEDIATE), so writers wait their turn rather than
        # fail; closing the connection without COMMIT rolls back.
        connection = sqlite3.connect(self.path, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None)
        try:
            connection.execute("PRAGMA secure_delete = ON")  # deleted rows are overwritten, not left in free pages
            connection.execute("BEGIN IMMEDIATE")
            yield _SQLiteSession(connection)
            connection.execute("COMMIT")
        finally:
            connection.close()

    def close(self) -> None:
        """Nothing stays open between transactions."""


class _SQLiteSession:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def run(self, sql: str, parameters: Sequence[object] = ()) -> list[Row]:
        return self._connection.execute(sql, parameters).fetchall()


class PostgreSQL:
    """A PostgreSQL database, through a small pool of connections (psycopg 3, the ``postgres`` extra)."""

    identity = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"

    def __init__(self, url: str, setting: str) -> None:
        """Connects once to check the URL, then opens the pool. Raises SettingsError, naming ``setting`` and
        never the password, when psycopg is not installed or the database cannot be reached."""
        try:  # the postgres extra: imported only when OAS_DATABASE_URL names PostgreSQL
            import psycopg  # noqa: PLC0415
            from psycopg_pool import ConnectionPool  # noqa: PLC0415
        except ImportError:
            raise SettingsError(f"{setting} needs the PostgreSQL driver: pip install 'oas-mcp[postgres]'") from None
        parts = urlsplit(url)
        self.where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path} ({setting})"
        self.errors: tuple[type[Exception], ...] = (psycopg.Error,)
        try:  # once alone, for the reason it fails: the pool would only say that it timed out
            psycopg.connect(url, connect_timeout=POSTGRES_CONNECT_TIMEOUT).close()
        except psycopg.Error as exc:
            password = parts.netloc.rpartition("@")[0].partition(":")[2]
            reason = first_line(exc).replace(password, "[redacted]") if password else first_line(exc)
            raise SettingsError(f"cannot connect to the accounts database {self.where}: {reason}") from None
        self._pool = ConnectionPool(
            url,
            kwargs={"connect_timeout": POSTGRES_CONNECT_TIMEOUT},
            min_size=1,
            max_size=POSTGRES_MAX_CONNECTIONS,
            timeout=POSTGRES_POOL_TIMEOUT,
            check=ConnectionPool.check_connection,  # a connection the server dropped is replaced, not used
            name="oas-mcp accounts",
            open=True,
        )

    @contextmanager
    def transaction(self, *, migrating: bool = False) -> Iterator[Session]:
        with self._pool.connection() as connection, connection.transaction(), connection.cursor() as cursor:
            if migrating:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            yield _PostgreSQLSession(cursor)

    def close(self) -> None:
        self._pool.close()


class _PostgreSQLSession:
    def __init__(self, cursor: psycopg.Cursor[Row]) -> None:
        self._cursor = cursor

    def run(self, sql: str, parameters: Sequence[object] = ()) -> list[Row]:
        self._cursor.execute(sql.replace("?", "%s"), parameters)
        return self._cursor.fetchall() if self._cursor.description else []

"""Linked accounts are kept by subject, encrypted at rest, audited, linked through single-use links, and shared by
replicas: the same tests on an SQLite file and on a real PostgreSQL server, which a fixture starts from Debian's
packages in a temp folder (see pg_server)."""

from __future__ import annotations

import logging
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import psycopg
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from oas_mcp.accounts import AccountsError, AccountStore, LinkedAccount, LinkRefused, Subject, open_store
from oas_mcp.accounts.store import MAX_FAILED_CHECKS, MAX_PARAMETERS, MAX_SUBJECT_CHECKS, PENDING_PER_SUBJECT
from oas_mcp.settings import Settings, SettingsError

from pg_server import Postgres, fresh_schema
from support import command, free_port

pytestmark = pytest.mark.anyio

ISSUER = "https://login.example.com/realms/team"
MAKE_KEY = "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
ALICE, BOB = Subject(ISSUER, "alice"), Subject(ISSUER, "bob")


def account(name: str) -> LinkedAccount:
    """An account with secrets no other test uses, so that finding them in a file means this test put them there."""
    return LinkedAccount(
        oas_username=f"{name}_{secrets.token_hex(4)}",
        api_key=SecretStr(f"{secrets.token_hex(4)}.{secrets.token_hex(16)}"),
        username=name,
        email=f"{name}-{secrets.token_hex(4)}@example.com",
        password=SecretStr(f"pw-{secrets.token_urlsafe(12)}"),
    )


def secrets_of(linked: LinkedAccount) -> list[bytes]:
    assert linked.password is not None
    assert linked.email is not None
    return [
        linked.api_key.get_secret_value().encode(),
        linked.password.get_secret_value().encode(),
        linked.email.encode(),
    ]


# Each test's database: a fresh SQLite file, or a fresh database on the PostgreSQL server.


@dataclass
class Backend:
    """Where a test keeps accounts (the setting that says so, as the environment gives it), and the same data read
    around the store: its rows, and the raw bytes on disk."""

    environment: dict[str, str]
    query: Callable[[str], list[tuple[Any, ...]]]
    raw: Callable[[], bytes]


def sqlite_backend(path: Path) -> Backend:
    def query(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as connection:
            return connection.execute(sql).fetchall()

    return Backend({"OAS_ACCOUNTS_PATH": str(path)}, query, path.read_bytes)


def postgres_backend(server: Postgres) -> Backend:
    """A schema of its own on the server (see :func:`fresh_schema`)."""
    url = fresh_schema(server)

    def query(statement: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(url, autocommit=True) as connection:
            cursor = connection.execute(statement.encode())
            return cursor.fetchall() if cursor.description else []

    def raw() -> bytes:
        """Every byte of the database's files and of the write-ahead log, once written out to them."""
        query("CHECKPOINT")
        [(oid,)] = query("SELECT oid FROM pg_database WHERE datname = current_database()")
        files = [*(server.data / "base" / str(oid)).rglob("*"), *(server.data / "pg_wal").rglob("*")]
        return b"".join(path.read_bytes() for path in files if path.is_file())

    return Backend({"OAS_DATABASE_URL": url}, query, raw)


def chosen(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Backend:
    for name, value in backend.environment.items():
        monkeypatch.setenv(name, value)
    return backend


@pytest.fixture
def sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    return chosen(sqlite_backend(tmp_path / "accounts.sqlite3"), monkeypatch)


@pytest.fixture
def postgresql(postgres: Postgres, monkeypatch: pytest.MonkeyPatch) -> Backend:
    return chosen(postgres_backend(postgres), monkeypatch)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each test that takes it runs twice: on SQLite, and on PostgreSQL."""
    chosen: Backend = request.getfixturevalue(request.param)
    return chosen


def key_file(folder: Path, *keys: bytes) -> Path:
    """``folder``/keys, holding ``keys`` one a line (written again when a test changes its keys), readable by its
    owner alone."""
    path = folder / "keys"
    path.write_bytes(b"".join(key + b"\n" for key in keys))
    path.chmod(0o600)
    return path


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The key file, named by OAS_ACCOUNTS_KEY_FILE, with one new key."""
    path = key_file(tmp_path, Fernet.generate_key())
    monkeypatch.setenv("OAS_ACCOUNTS_KEY_FILE", str(path))
    return path


@pytest.fixture
async def store(backend: Backend, keys: Path) -> AsyncIterator[AccountStore]:
    async with open_store(Settings.load()) as opened:
        yield opened


# What a person linking or unlinking gets.


async def test_a_linked_account_is_found_by_its_subject_alone(store: AccountStore) -> None:
    linked = account("alice")

    await store.link(ALICE, linked)

    found = await store.get(ALICE)
    assert found is not None
    assert found.model_dump() == linked.model_dump()
    assert [secrets_of(found), found.username] == [secrets_of(linked), "alice"]
    assert await store.get(BOB) is None
    assert await store.get(Subject("https://other.example.com", "alice")) is None


async def test_linking_again_replaces_the_account(store: AccountStore) -> None:
    first, second = account("alice"), account("alice")
    await store.link(ALICE, first)

    await store.link(ALICE, second)

    found = await store.get(ALICE)
    assert found is not None
    assert secrets_of(found) == secrets_of(second)


async def test_unlinking_deletes_the_row(store: AccountStore, backend: Backend) -> None:
    await store.link(ALICE, account("alice"))
    await store.link(BOB, account("bob"))

    assert await store.unlink(ALICE) is True

    assert await store.get(ALICE) is None
    assert await store.unlink(ALICE) is False
    assert backend.query("SELECT sub FROM oas_mcp_accounts") == [("bob",)]


async def test_link_and_unlink_are_audited_with_no_secret(store: AccountStore, backend: Backend) -> None:
    alice, bob = account("alice"), account("bob")
    before = datetime.now(UTC).replace(microsecond=0)

    await store.link(ALICE, alice)
    await store.link(BOB, bob)
    await store.unlink(ALICE)
    await store.unlink(ALICE)  # nothing left to unlink: nothing happened, nothing logged

    events = await store.events()
    assert [(e.event, e.subject, e.oas_username) for e in events] == [
        ("link", ALICE, alice.oas_username),
        ("link", BOB, bob.oas_username),
        ("unlink", ALICE, alice.oas_username),
    ]
    assert all(before <= event.at <= datetime.now(UTC) for event in events)
    assert await store.events(BOB) == [events[1]]
    logged = str(backend.query("SELECT * FROM oas_mcp_account_events")).encode()
    assert not [secret for secret in secrets_of(alice) + secrets_of(bob) if secret in logged]


async def test_no_secret_is_stored_in_plaintext(store: AccountStore, backend: Backend) -> None:
    linked = account("alice")

    await store.link(ALICE, linked)

    raw = backend.raw()
    assert linked.oas_username.encode() in raw  # what is stored in clear is found: the search works
    assert [secret for secret in secrets_of(linked) if secret in raw] == []


async def test_an_unlinked_account_leaves_no_trace_in_the_sqlite_file(sqlite: Backend, keys: Path) -> None:
    async with open_store(Settings.load()) as store:
        await store.link(ALICE, account("alice"))
        [(ciphertext,)] = sqlite.query("SELECT secrets FROM oas_mcp_accounts")

        await store.unlink(ALICE)

    assert ciphertext.encode() not in sqlite.raw()


# Links: each made for one subject, used once, within minutes; only their hash is kept.


async def test_a_link_is_used_once_and_links_the_account_with_it(store: AccountStore, backend: Backend) -> None:
    link = await store.start_link(ALICE)
    linked = account("alice")

    opened = await store.open_link(link.token)
    used = await store.complete_link(link.token, ALICE, linked)

    assert opened == used == link
    found = await store.get(ALICE)
    assert found is not None
    assert secrets_of(found) == secrets_of(linked)
    assert [event.event for event in await store.events(ALICE)] == ["link"]
    assert await store.completed_links([*(f"other-{n}" for n in range(MAX_PARAMETERS)), link.elicitation_id]) == {
        link.elicitation_id
    }
    for again in (store.open_link(link.token), store.complete_link(link.token, ALICE, account("alice"))):
        with pytest.raises(LinkRefused) as caught:
            await again
        assert caught.value.reason == "used"
    assert link.token.encode() not in backend.raw()  # only its hash


async def test_a_link_used_by_someone_else_links_nothing_and_stays_usable(store: AccountStore) -> None:
    link = await store.start_link(ALICE)

    with pytest.raises(LinkRefused) as caught:
        await store.complete_link(link.token, BOB, account("bob"))

    assert caught.value.reason == "someone else"
    assert await store.get(BOB) is None
    assert await store.events() == []
    assert await store.completed_links([link.elicitation_id]) == set()
    assert await store.open_link(link.token) == link


async def test_an_expired_link_is_refused_then_deleted(store: AccountStore, backend: Backend) -> None:
    link = await store.start_link(ALICE)
    backend.query("UPDATE oas_mcp_links SET expires_at = '2000-01-01T00:00:00+00:00'")

    with pytest.raises(LinkRefused) as expired:
        await store.complete_link(link.token, ALICE, account("alice"))
    await store.start_link(BOB)  # deletes the links that expired long ago
    with pytest.raises(LinkRefused) as gone:
        await store.open_link(link.token)

    assert (expired.value.reason, gone.value.reason) == ("expired", "unknown")
    assert await store.get(ALICE) is None
    assert backend.query("SELECT sub FROM oas_mcp_links") == [("bob",)]


async def test_a_subject_has_a_bounded_number_of_links_the_newest(store: AccountStore, backend: Backend) -> None:
    links = [await store.start_link(ALICE) for _ in range(PENDING_PER_SUBJECT + 1)]

    with pytest.raises(LinkRefused):
        await store.open_link(links[0].token)

    assert await store.open_link(links[1].token) == links[1]
    assert backend.query("SELECT COUNT(*) FROM oas_mcp_links") == [(PENDING_PER_SUBJECT,)]


# Checks of credentials, counted before the API is asked.


async def reserve_all(stores: list[AccountStore], tokens: list[str], subject: Subject) -> list[str]:
    """Each store reserves a check on each link at once, as posts reaching replicas together: what each got back, in
    order ("counted", or the refusal's reason)."""
    outcomes: list[str] = []

    async def reserve(store: AccountStore, token: str) -> None:
        try:
            await store.reserve_check(token, subject)
            outcomes.append("counted")
        except LinkRefused as refused:
            outcomes.append(refused.reason)

    async with anyio.create_task_group() as group:
        for token in tokens:
            for store in stores:
                group.start_soon(reserve, store, token)
    return sorted(outcomes)


async def test_checks_of_one_link_sent_at_once_on_two_replicas_count_at_most_five(backend: Backend, keys: Path) -> None:
    settings = Settings.load()
    async with open_store(settings) as one, open_store(settings) as two:
        link = await one.start_link(ALICE)

        outcomes = await reserve_all([one, two], [link.token] * 15, ALICE)

        with pytest.raises(LinkRefused) as given_up:
            await one.open_link(link.token)
    assert outcomes == ["counted"] * MAX_FAILED_CHECKS + ["tried too often"] * (30 - MAX_FAILED_CHECKS)
    assert given_up.value.reason == "tried too often"


async def test_a_subject_making_many_links_has_a_bounded_number_of_checks_per_window(
    store: AccountStore, backend: Backend
) -> None:
    links = [await store.start_link(ALICE) for _ in range(6)]

    outcomes = await reserve_all([store], [link.token for link in links for _ in range(MAX_FAILED_CHECKS)], ALICE)
    bob = await store.reserve_check((await store.start_link(BOB)).token, BOB)
    backend.query("UPDATE oas_mcp_checks SET started_at = '2000-01-01T00:00:00+00:00'")  # the window ended
    later = await store.reserve_check(links[-1].token, ALICE)

    assert outcomes.count("counted") == MAX_SUBJECT_CHECKS
    assert set(outcomes) - {"counted"} <= {"checked too often", "tried too often"}  # a link may have all 5
    assert "checked too often" in outcomes
    assert bob.by_subject == 1
    assert later.by_subject == 1


async def test_a_right_key_still_links_as_the_last_check_a_link_allows(store: AccountStore, backend: Backend) -> None:
    link = await store.start_link(ALICE)
    refused = [await store.reserve_check(link.token, ALICE) for _ in range(MAX_FAILED_CHECKS - 1)]
    unanswered = await store.reserve_check(link.token, ALICE)  # the API failed: it no longer counts for the link
    await store.release_check(link.token)
    right = await store.reserve_check(link.token, ALICE)

    await store.complete_link(link.token, ALICE, account("alice"))

    assert [attempt.on_link for attempt in [*refused, unanswered, right]] == [1, 2, 3, 4, 5, 5]
    assert await store.get(ALICE) is not None
    # What still counts for alice: the refused checks, and the one the API did not answer.
    assert backend.query("SELECT failures FROM oas_mcp_checks") == [(MAX_FAILED_CHECKS,)]


# Replicas, migrations, and a database that was tampered with.


async def test_replicas_see_each_others_links(backend: Backend, keys: Path) -> None:
    settings = Settings.load()
    async with open_store(settings) as one, open_store(settings) as two:
        linked = account("alice")

        await one.link(ALICE, linked)
        found = await two.get(ALICE)
        await two.unlink(ALICE)

        assert found is not None
        assert secrets_of(found) == secrets_of(linked)
        assert await one.get(ALICE) is None
        assert [event.event for event in await one.events()] == ["link", "unlink"]


async def test_a_link_made_on_one_replica_is_used_on_another_and_the_first_sees_it(
    backend: Backend, keys: Path
) -> None:
    settings = Settings.load()
    async with open_store(settings) as one, open_store(settings) as two:
        link = await one.start_link(ALICE)

        await two.complete_link(link.token, ALICE, account("alice"))

        assert await one.completed_links([link.elicitation_id]) == {link.elicitation_id}
        assert await one.get(ALICE) is not None
        with pytest.raises(LinkRefused):
            await one.complete_link(link.token, ALICE, account("alice"))


async def test_replicas_starting_at_once_migrate_the_schema_once(backend: Backend, keys: Path) -> None:
    async def replica() -> None:
        async with open_store(Settings.load()) as store:
            await store.get(ALICE)

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(replica)

    assert backend.query("SELECT version FROM oas_mcp_migrations ORDER BY version") == [(1,), (2,), (3,), (4,)]


async def test_a_database_migrated_by_a_newer_oas_mcp_is_refused(backend: Backend, keys: Path) -> None:
    async with open_store(Settings.load()):
        pass
    backend.query("INSERT INTO oas_mcp_migrations (version, at) VALUES (99, '2099-01-01T00:00:00+00:00')")

    with pytest.raises(SettingsError) as caught:
        async with open_store(Settings.load()):
            pass

    assert str(caught.value).endswith("has schema version 99, newer than this oas-mcp's 4: upgrade oas-mcp")


async def test_an_account_copied_to_another_subject_is_refused(store: AccountStore, backend: Backend) -> None:
    await store.link(ALICE, account("alice"))
    await store.link(BOB, account("bob"))

    backend.query("UPDATE oas_mcp_accounts SET secrets = (SELECT secrets FROM oas_mcp_accounts WHERE sub = 'alice')")

    with pytest.raises(
        AccountsError, match=r"^the account stored for 'bob' at .+ was linked by someone else: the data"
    ):
        await store.get(BOB)


async def test_a_database_that_fails_later_is_one_line(sqlite: Backend, keys: Path) -> None:
    path = sqlite.environment["OAS_ACCOUNTS_PATH"]
    async with open_store(Settings.load()) as store:
        await anyio.Path(path).write_bytes(b"not a database" * 100)

        with pytest.raises(AccountsError) as caught:
            await store.get(ALICE)

    assert str(caught.value) == f"the accounts database {path} (OAS_ACCOUNTS_PATH) failed: file is not a database"


# Keys: rotation, and a key file that is missing or wrong.


async def test_rotation_encrypts_again_with_the_first_key(backend: Backend, keys: Path, tmp_path: Path) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    key_file(tmp_path, old)
    linked = account("alice")
    async with open_store(Settings.load()) as store:
        await store.link(ALICE, linked)
    [(before,)] = backend.query("SELECT secrets FROM oas_mcp_accounts")
    key_file(tmp_path, new, old)

    rotated = await anyio.to_thread.run_sync(lambda: rotate(backend, keys))

    assert (rotated.returncode, rotated.stderr) == (0, "")
    assert rotated.stdout == (
        f"Encrypted 1 linked account again with the first key of {keys}; the keys after it can now be removed.\n"
    )
    [(after,)] = backend.query("SELECT secrets FROM oas_mcp_accounts")
    assert after != before
    key_file(tmp_path, new)
    async with open_store(Settings.load()) as store:
        found = await store.get(ALICE)
    assert found is not None
    assert secrets_of(found) == secrets_of(linked)
    key_file(tmp_path, old)
    async with open_store(Settings.load()) as store:
        with pytest.raises(AccountsError) as caught:
            await store.get(ALICE)
    assert str(caught.value) == (
        f"the account linked by 'alice' at {ISSUER} cannot be decrypted with any key in {keys}: "
        "put back the key it was encrypted with"
    )


async def test_rotation_without_the_old_key_changes_nothing(backend: Backend, keys: Path, tmp_path: Path) -> None:
    async with open_store(Settings.load()) as store:
        await store.link(ALICE, account("alice"))
    before = backend.query("SELECT secrets FROM oas_mcp_accounts")
    key_file(tmp_path, Fernet.generate_key())

    rotated = await anyio.to_thread.run_sync(lambda: rotate(backend, keys))

    assert (rotated.returncode, rotated.stdout) == (1, "")
    assert rotated.stderr == (
        f"oas-mcp: the account linked by 'alice' at {ISSUER} cannot be decrypted with any key in {keys}: "
        "put back the key it was encrypted with\n"
    )
    assert backend.query("SELECT secrets FROM oas_mcp_accounts") == before


def rotate(backend: Backend, keys: Path) -> subprocess.CompletedProcess[str]:
    """``oas-mcp accounts rotate``, as an operator runs it, with the backend's settings in the environment."""
    return command("accounts", "rotate", OAS_ACCOUNTS_KEY_FILE=str(keys), **backend.environment)


def test_rotate_without_a_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    result = command("accounts", "rotate", OAS_ACCOUNTS_PATH=str(tmp_path / "accounts.sqlite3"))

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "oas-mcp: OAS_ACCOUNTS_KEY_FILE is not set: linked accounts are encrypted with keys from a file; make a key "
        f"with {MAKE_KEY} > FILE (readable by the server alone), and set OAS_ACCOUNTS_KEY_FILE to FILE\n"
    )


KEY_FILE_PROBLEMS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (lambda folder: folder / "nowhere", "cannot read {where}: No such file or directory"),
    "a folder": (lambda folder: folder, "cannot read {where}: it is a folder, not a file"),
    "a device": (lambda folder: Path("/dev/zero"), "cannot read {where}: it is a character device, not a file"),
    "binary": (lambda folder: key_file(folder, b"\xff\xfe secret-looking bytes"), "cannot read {where}: not UTF-8"),
    "a bad line": (
        lambda folder: key_file(folder, b"# keys", Fernet.generate_key(), b"s3cret-but-no-key"),
        "line 3 of {where} is not a Fernet key",
    ),
    "empty": (lambda folder: key_file(folder, b"# no key yet", b""), "{where} holds no key"),
}


@pytest.mark.parametrize("problem", KEY_FILE_PROBLEMS)
async def test_a_bad_key_file_is_one_line_naming_the_setting(
    sqlite: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    make, expected = KEY_FILE_PROBLEMS[problem]
    path = make(tmp_path)
    monkeypatch.setenv("OAS_ACCOUNTS_KEY_FILE", str(path))

    with pytest.raises(SettingsError) as caught:
        async with open_store(Settings.load()):
            pass

    message = str(caught.value)
    assert message.startswith(expected.format(where=f"the accounts key file {path} (OAS_ACCOUNTS_KEY_FILE)"))
    assert message.endswith(f"make a key with {MAKE_KEY}")
    assert "\n" not in message
    assert "s3cret" not in message
    assert not await anyio.Path(sqlite.environment["OAS_ACCOUNTS_PATH"]).exists()


async def test_a_key_file_set_in_the_config_file_is_named_as_such(tmp_path: Path) -> None:
    config = tmp_path / "oas.toml"
    config.write_text(f'accounts_key_file = "{tmp_path / "nowhere"}"\n')

    with pytest.raises(SettingsError) as caught:
        async with open_store(Settings.load(config)):
            pass

    where = f"the accounts key file {tmp_path / 'nowhere'} (accounts_key_file in {config})"
    assert str(caught.value).startswith(f"cannot read {where}: No such file or directory; make a key with")


async def test_a_key_file_others_can_read_is_named_in_one_warning_and_used(
    sqlite: Backend, keys: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await anyio.Path(keys).chmod(0o640)

    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            async with open_store(Settings.load()) as store:
                await store.link(ALICE, account("alice"))

    assert [record.getMessage() for record in caplog.records] == [
        f"the accounts key file {keys} (OAS_ACCOUNTS_KEY_FILE) can be read by others than its owner (mode 0640): "
        f"chmod 600 {keys}"
    ]


async def test_a_key_file_mounted_through_symlinks_is_read(
    sqlite: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "version").mkdir()
    key_file(tmp_path / "version", Fernet.generate_key())
    (tmp_path / "..data").symlink_to("version")
    (tmp_path / "accounts-keys").symlink_to(Path("..data", "keys"))
    monkeypatch.setenv("OAS_ACCOUNTS_KEY_FILE", str(tmp_path / "accounts-keys"))

    linked = account("alice")
    async with open_store(Settings.load()) as store:
        await store.link(ALICE, linked)
        assert await store.get(ALICE) == linked


# Where the data goes, and settings that cannot work.


async def test_the_sqlite_file_is_in_the_user_data_folder_for_its_owner_alone(
    tmp_path: Path, keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    async with open_store(Settings.load()) as store:
        await store.link(ALICE, account("alice"))

    path = tmp_path / "data" / "oas-mcp" / "accounts.sqlite3"
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    assert sqlite_backend(path).query("SELECT sub FROM oas_mcp_accounts") == [("alice",)]


async def test_an_sqlite_file_others_can_read_is_made_its_owners_alone_and_said_so(
    sqlite: Backend, keys: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As a copy made without ``umask 077`` is (``sqlite3 accounts.sqlite3 ".backup copy"``, then restored)."""
    path, linked = Path(sqlite.environment["OAS_ACCOUNTS_PATH"]), account("alice")
    async with open_store(Settings.load()) as store:
        await store.link(ALICE, linked)
    await anyio.Path(path).chmod(0o644)

    with caplog.at_level(logging.WARNING):
        async with open_store(Settings.load()) as store:
            assert await store.get(ALICE) == linked

    assert (await anyio.Path(path).stat()).st_mode & 0o777 == 0o600
    assert [record.getMessage() for record in caplog.records] == [
        f"the accounts database {path} (OAS_ACCOUNTS_PATH) was open to others (mode 0644): made it 0600"
    ]


async def test_an_unreachable_postgresql_is_one_line_without_the_password(
    keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("psycopg")
    port = free_port()
    monkeypatch.setenv("OAS_DATABASE_URL", f"postgresql://oas:pw-canary@127.0.0.1:{port}/accounts")

    with pytest.raises(SettingsError) as caught:
        async with open_store(Settings.load()):
            pass

    message = str(caught.value)
    prefix = f"cannot connect to the accounts database postgresql://127.0.0.1:{port}/accounts (OAS_DATABASE_URL): "
    assert message.startswith(prefix)
    assert "refused" in message
    assert "pw-canary" not in message
    assert "\n" not in message


async def test_postgresql_without_its_driver_says_what_to_install(keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    monkeypatch.setenv("OAS_DATABASE_URL", "postgresql://db.example.com/accounts")

    with pytest.raises(SettingsError) as caught:
        async with open_store(Settings.load()):
            pass

    assert str(caught.value) == "OAS_DATABASE_URL needs the PostgreSQL driver: pip install 'oas-mcp[postgres]'"


def test_the_database_url_must_be_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAS_DATABASE_URL", "mysql://oas:pw-canary@db.example.com/accounts")

    with pytest.raises(SettingsError) as caught:
        Settings.load()

    assert str(caught.value) == (
        "invalid setting OAS_DATABASE_URL: must be a postgresql:// URL such as "
        "postgresql://oas_mcp@db.example.com/oas_mcp"
    )


async def test_a_database_url_and_a_path_together_are_refused(
    sqlite: Backend, keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAS_DATABASE_URL", "postgresql://db.example.com/accounts")

    with pytest.raises(SettingsError) as caught:
        async with open_store(Settings.load()):
            pass

    assert str(caught.value) == "set OAS_DATABASE_URL or OAS_ACCOUNTS_PATH, not both"

"""A PostgreSQL server for the tests, started from the binaries Debian's postgresql package installs, in a temp
folder, as its own user (PostgreSQL refuses to run as root); and a fresh schema on it for each test."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from support import free_port


@dataclass(frozen=True)
class Postgres:
    port: int
    password: str
    data: Path

    def url(self, database: str) -> str:
        return f"postgresql://oas:{self.password}@127.0.0.1:{self.port}/{database}"


def postgres_binaries() -> Path | None:
    """The folder of initdb and pg_ctl: Debian's newest, else the PATH's."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable(reason: str) -> None:
    """Skip: CI installs PostgreSQL and psycopg, so there a missing one fails the test instead."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def started() -> Iterator[Postgres]:
    """A PostgreSQL server on a free loopback port, stopped and deleted after (skips the test without one)."""
    binaries = postgres_binaries()
    if binaries is None:
        unavailable("PostgreSQL's server is not installed (apt-get install postgresql)")
    assert binaries is not None
    if "psycopg" not in sys.modules and not _importable("psycopg"):
        unavailable("psycopg is not installed (pip install -e '.[test,postgres]')")
    folder = Path(tempfile.mkdtemp(prefix="oas-mcp-postgres-"))
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # PostgreSQL refuses to run as root
    server = Postgres(free_port(), secrets.token_urlsafe(16), folder / "data")
    (folder / "password").write_text(server.password)
    if as_owner:
        for path in (folder, folder / "password"):
            shutil.chown(path, "postgres")

    def pg(*args: str | Path) -> None:
        subprocess.run([*as_owner, *map(str, args)], check=True, capture_output=True, timeout=120)

    start = f"-p {server.port} -k {folder} -h 127.0.0.1 -c fsync=off"
    try:
        pg(
            binaries / "initdb",
            "-D",
            server.data,
            "-U",
            "oas",
            "-A",
            "scram-sha-256",
            "--pwfile",
            folder / "password",
            "-N",
        )
        pg(binaries / "pg_ctl", "-D", server.data, "-l", folder / "log", "-w", "-o", start, "start")
        yield server
    finally:
        subprocess.run(
            [*as_owner, str(binaries / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"], check=False
        )
        shutil.rmtree(folder)


def fresh_schema(server: Postgres) -> str:
    """The URL of a new schema on ``server``, named in the URL (libpq's ``options``): quicker than a database."""
    schema = f"test_{secrets.token_hex(6)}"
    url = f"{server.url('postgres')}?options=-csearch_path%3D{schema}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return url


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True

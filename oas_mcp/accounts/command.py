"""``oas-mcp accounts rotate``: encrypt every linked account again with the first key of the key file."""

from __future__ import annotations

import argparse
import sys

import anyio

from oas_mcp import counted
from oas_mcp.accounts import AccountsError, open_store
from oas_mcp.cli.options import add_config_flag
from oas_mcp.settings import Settings

ROTATE = (
    "Encrypt every linked OAS account again with the first key of the accounts key file (OAS_ACCOUNTS_KEY_FILE), "
    "in one transaction. To rotate the key: put a new key on the file's first line, restart the servers so that "
    "they encrypt with it, run this, then remove the old key."
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    accounts = commands.add_parser(
        "accounts", help="manage the linked OAS accounts' database", description="Manage the linked accounts' database."
    )
    actions = accounts.add_subparsers(title="actions", metavar="ACTION", required=True)
    rotate = actions.add_parser(
        "rotate", help="encrypt every linked account again with the first key", description=ROTATE
    )
    add_config_flag(rotate)
    rotate.set_defaults(run=_rotate)


def _rotate(args: argparse.Namespace) -> int:
    settings = Settings.load(args.config)

    async def rotate() -> int:
        async with open_store(settings) as store:
            return await store.rotate()

    try:
        count = anyio.run(rotate)
    except AccountsError as exc:
        print(f"oas-mcp: {exc}", file=sys.stderr)
        return 1
    print(
        f"Encrypted {counted(count, 'linked account')} again with the first key of "
        f"{settings.accounts_key_file}; the keys after it can now be removed."
    )
    return 0

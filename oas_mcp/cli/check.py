"""``oas-mcp check``: one line per check, with a fix and the settings it used when it fails; every setting and where
it came from with ``--verbose``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
from pydantic import SecretStr

from oas_mcp.cli import quiet_logs
from oas_mcp.cli.options import add_settings_flags, connector, load_settings
from oas_mcp.client import AuthenticationError, Credentials, CredentialsError, OASError, PermissionDeniedError
from oas_mcp.problems import NO_KEY, NOT_THE_API, Problem, failure_of
from oas_mcp.settings import Settings, env_name
from oas_mcp.untrusted import clean

if TYPE_CHECKING:
    from collections.abc import Callable

    from oas_mcp.client import OASClient

PASS, FAIL, SKIP = "✓", "✗", "-"
SHOWN_KEY_CHARACTERS = 4
USED = (
    ("base_url", "timeout", "max_retries"),
    ("api_key",),
    ("username", "email", "password"),
    ("base_url", "timeout", "max_response_bytes"),
)
"""The settings each check uses, in the order of the checks: shown under it when it fails."""


@dataclass(frozen=True)
class Result:
    """One check's line: passed, failed (with the problem and its fix), or skipped."""

    mark: str
    text: str
    problem: Problem | None = None

    def line(self) -> str:
        if self.problem is None:
            return f"{self.mark} {self.text}"
        return f"{self.mark} {self.problem.symptom}: {self.text}. Fix: {self.problem.fix}"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check",
        help="check the settings and the connection to the OAS API",
        description="Check the OAS API: reachable, API key accepted, login, organisations; a check that fails "
        "says why, how to fix it, and the settings it used with where each came from. Exit code 0 only when every "
        "check passes.",
    )
    check.add_argument(
        "--verbose", action="store_true", help="then print every setting, its value and where it came from"
    )
    add_settings_flags(check)
    check.set_defaults(run=_check)


def _check(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    quiet_logs(settings)
    results = anyio.run(_run_checks, settings, connector(settings, args.sandbox))
    for result, used in zip(results, USED, strict=True):
        print(result.line())
        if result.mark == FAIL and not args.verbose:
            print("\n".join(setting_rows(settings, used, indent=4)))
    failed, skipped = (sum(result.mark == mark for result in results) for mark in (FAIL, SKIP))
    print()
    print(f"{failed} failed, {skipped} not checked." if failed else f"All {len(results)} checks passed.")
    if args.verbose:
        print()
        print(settings_table(settings))
    elif failed:
        print("oas-mcp check --verbose also prints every setting and where it came from.")
    return 1 if failed else 0


def settings_table(settings: Settings) -> str:
    """Each setting, its effective value (secrets masked) and where it came from."""
    heading = "Settings (a flag beats the environment, which beats the config file, which beats the default):"
    return "\n".join([heading, *setting_rows(settings, tuple(Settings.model_fields), indent=2)])


def setting_rows(settings: Settings, names: tuple[str, ...], *, indent: int) -> list[str]:
    """A line for each of the settings ``names``: its effective value (secrets masked) and where it came from."""
    width = max(map(len, names))
    return [f"{' ' * indent}{name:<{width}} {_shown(settings, name):<36} {settings.source(name)}" for name in names]


def _shown(settings: Settings, name: str) -> str:
    value = getattr(settings, name)
    if value is None:
        return "(not set)"
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        return f"{masked(secret)} ({len(secret)} characters)" if name == "api_key" else "set (hidden)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(value) or "(none)"
    return str(value)


def masked(key: str) -> str:
    """An API key as ``check`` shows it: its last 4 characters at most, none when it is short."""
    return f"…{key[-SHOWN_KEY_CHARACTERS:]}" if len(key) >= 4 * SHOWN_KEY_CHARACTERS else "…"


async def _run_checks(settings: Settings, connect: Callable[[], OASClient]) -> list[Result]:
    async with connect() as oas:
        return await run_checks(settings, oas)


async def run_checks(settings: Settings, oas: OASClient) -> list[Result]:
    """Reachable, API key, login, organisations; the last three are skipped when the API cannot be reached."""
    reachable = await _reachable(settings, oas)
    if reachable.mark != PASS:
        later = ("the API key", "login", "listing organisations")
        return [reachable, *(Result(SKIP, f"Did not check {what}: the API must answer first.") for what in later)]
    return [reachable, await _api_key(settings, oas), await _login(settings, oas), await _organisations(oas)]


async def _reachable(settings: Settings, oas: OASClient) -> Result:
    where = f" (base URL from {settings.source('base_url')})"
    try:
        async with oas.with_credentials(Credentials()) as anonymous:
            answer = await anonymous.hello()
    except (AuthenticationError, PermissionDeniedError):
        answer = None  # it asks for credentials, as the OAS API does: it is there
    except OASError as error:
        return _failed(error, where)
    if answer is not None and not answer.lower().startswith("hello"):
        return Result(FAIL, f"GET /helloworld answered {clean(answer, 60)!r}{where}", NOT_THE_API)
    return Result(PASS, f"The OAS API answers at {oas.base_url}.")


async def _api_key(settings: Settings, oas: OASClient) -> Result:
    if settings.api_key is None:
        return Result(FAIL, "OAS_API_KEY is empty", NO_KEY)
    key = f"key {masked(settings.api_key.get_secret_value())} from {settings.source('api_key')}"
    try:
        async with oas.with_credentials(Credentials.of(api_key=settings.api_key)) as keyed:
            greeting = await keyed.hello()
    except OASError as error:
        return _failed(error, f" ({key})")
    return Result(PASS, f"The API key is accepted ({key}): {greeting.rstrip('.')}.")


async def _login(settings: Settings, oas: OASClient) -> Result:
    sources = ", ".join(f"{name} from {settings.source(name)}" for name in ("username", "email", "password"))
    try:
        signed_in = await oas.login()
    except CredentialsError as error:
        return Result(FAIL, f"{', '.join(map(env_name, error.missing))} not set", failure_of(error).problem)
    except OASError as error:
        return _failed(error, f" ({sources})")
    who = " ".join(
        filter(None, (signed_in.user.username, f"({signed_in.user.email})" if signed_in.user.email else None))
    )
    if signed_in.expires_at is None:
        return Result(PASS, f"Signed in as {who or 'an unnamed user'}; the token does not say when it expires.")
    lifetime = _duration((signed_in.expires_at - signed_in.obtained_at).total_seconds())
    until = signed_in.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return Result(PASS, f"Signed in as {who}; the session token lasts {lifetime}, until {until}.")


async def _organisations(oas: OASClient) -> Result:
    try:
        listing = await oas.list_organisations(limit=1)
    except OASError as error:
        return _failed(error, "")
    if not listing.count:
        return Result(PASS, "Listed organisations: the account has none yet (create_organisation makes one).")
    return Result(PASS, f"Listed organisations: the account has {listing.count}.")


def _failed(error: OASError, where: str) -> Result:
    """The failed line for an API client error: the problem, what happened, and which settings were used."""
    return Result(FAIL, f"{str(error).rstrip('.')}{where}", failure_of(error).problem)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes / 60:.0f} h" if minutes < 48 * 60 else f"{minutes / 1440:.0f} days"

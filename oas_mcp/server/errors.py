"""What the model reads when a tool fails: one short, actionable line per failure, never a traceback or a secret."""

from __future__ import annotations

import difflib

from pydantic import ValidationError

from oas_mcp.client import OASError
from oas_mcp.problems import failure_of
from oas_mcp.settings import env_name, flag_name
from oas_mcp.untrusted import clean

API_KEY_SETTING = env_name("api_key")
MAX_MESSAGE = 480


def describe(error: OASError, api_key: str = API_KEY_SETTING) -> str:
    """The message for an API client error, with what was retried; ``api_key`` names where the key came from."""
    tried = f" Tried {error.attempts} times in {error.elapsed:.0f} s." if error.attempts > 1 else ""
    return clean(failure_of(error).text(error, api_key) + tried, MAX_MESSAGE)


def invalid_arguments(tool: str, error: ValidationError) -> str:
    """The message for arguments that fail the tool's input schema."""
    problems = []
    for item in error.errors(include_url=False):
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]).lstrip(".")
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required"
        elif not item["type"].startswith("value_error") and "input" in item:
            message = f"{message} (got {clean(repr(item['input']), 40)})"
        problems.append(f"{where or 'arguments'}: {message}")
    return clean(f"Invalid arguments for {tool}: {'; '.join(problems)}. Nothing was sent to the OAS API.", MAX_MESSAGE)


def unknown_arguments(tool: str, unknown: list[str], accepted: list[str]) -> str:
    """The message for arguments the tool does not take: the first few, each with the closest accepted name."""
    named = []
    for name in unknown[:3]:
        close = difflib.get_close_matches(name[:64], accepted, n=1)
        named.append(clean(repr(name), 40) + (f" (did you mean {close[0]}?)" if close else ""))
    if len(unknown) > len(named):
        named.append(f"and {len(unknown) - len(named)} more")
    which = f"argument {named[0]}" if len(unknown) == 1 else f"arguments {', '.join(named)}"
    takes = f"it takes {', '.join(accepted)}" if accepted else "it takes no arguments"
    return clean(
        f"Invalid arguments for {tool}: unknown {which}; {takes}. Nothing was sent to the OAS API.", MAX_MESSAGE
    )


def read_only_refusal(tool: str) -> str:
    """The message for a tool that changes the account, called on a read-only server."""
    return (
        f"{tool} is not available: this oas-mcp server is read-only. To allow it, start oas-mcp without "
        f"{flag_name('read_only')} and with {env_name('read_only')}=false."
    )

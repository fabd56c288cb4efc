"""What the model reads when a tool fails: one short, actionable line per failure, never a traceback or a secret."""

from __future__ import annotations

import difflib

from pydantic import ValidationError

from oas_mcp.client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExhaustedError,
    CredentialsError,
    NotFoundError,
    OASError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    UnexpectedResponseError,
)
from oas_mcp.text import clean

LOGIN_SETTINGS = "OAS_USERNAME (or OAS_EMAIL) and OAS_PASSWORD"
API_KEY_SETTING = "OAS_API_KEY"
MAX_MESSAGE = 480


def setting(field: str) -> str:
    return f"OAS_{field.upper()}"


def describe(error: OASError, api_key: str = API_KEY_SETTING) -> str:
    """The message for an API client error, with what was retried; ``api_key`` names where the key came from."""
    tried = f" Tried {error.attempts} times in {error.elapsed:.0f} s." if error.attempts > 1 else ""
    return clean(_describe(error, api_key) + tried, MAX_MESSAGE)


def _describe(error: OASError, api_key: str) -> str:
    match error:
        case CredentialsError(missing=missing):
            names = " or ".join(setting(name) for name in missing if name in ("username", "email"))
            needed = [names] if names else []
            needed += [setting(name) for name in missing if name not in ("username", "email")]
            return f"Signing in needs {' and '.join(needed)}; set them in the environment or the config file."
        case OutcomeUnknownError(name=name, checked=checked):
            what = clean(name, 60)
            seen = "a listing right after shows no new one" if checked else "checking right after failed too"
            return (
                f"Unknown whether {what!r} was created: {clean(str(error.cause), 200)}; {seen}. Call "
                f"list_organisations with name_contains={what!r} before creating it again."
            )
        case AuthenticationError():
            return _authentication(error, api_key)
        case PermissionDeniedError(credentials=("login",)):
            return f"Sign-in refused (HTTP 403{_detail(error)}); check that the account is active and may use the API."
        case PermissionDeniedError():
            return f"The OAS API refused {error.method} {error.path} (HTTP 403{_detail(error)}); no permission."
        case NotFoundError():
            return f"The OAS API has no {error.path} (HTTP 404{_detail(error)}); check OAS_BASE_URL."
        case BadRequestError(field_errors=fields) if fields:
            listed = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in fields.items())
            return f"The OAS API rejected the request: {listed}. Correct those fields and call again."
        case RateLimitError(retry_after=wait):
            when = f"retry after {wait:.0f} s" if wait is not None else "retry in a minute"
            return f"The OAS API is rate limiting requests; {when}."
        case ServerError():
            return (
                f"The OAS API failed on {error.method} {error.path} (HTTP {error.status_code}{_detail(error)}); "
                "it is having trouble, try again in a minute."
            )
        case APIStatusError():
            return f"The OAS API answered {error.method} {error.path} with HTTP {error.status_code}{_detail(error)}."
        case BudgetExhaustedError():
            return f"Gave up: {error}; try again later, or raise OAS_CALL_BUDGET."
        case APITimeoutError():
            return f"The OAS API did not answer in time: {error}; try again later, or raise OAS_TIMEOUT."
        case APIConnectionError():
            return f"{str(error)[:1].upper()}{str(error)[1:]}. Check OAS_BASE_URL and the network."
        case ResponseTooLargeError():
            return (
                f"The OAS API sent a response too large to read: {error}. If the API really sends that much, "
                "raise OAS_MAX_RESPONSE_BYTES; else check OAS_BASE_URL."
            )
        case UnexpectedResponseError():
            return f"The OAS API sent an unexpected response: {error}. Check that OAS_BASE_URL is the API's address."
    return f"The OAS API call failed: {error}."


def _detail(error: APIStatusError) -> str:
    return f": {error.detail.rstrip('.')}" if error.detail else ""


def _authentication(error: AuthenticationError, api_key: str) -> str:
    sent = error.credentials
    if "login" in sent:
        return f"Sign-in failed{_detail(error)}. Check {LOGIN_SETTINGS}, and that the account is active."
    if not sent:
        return f"The OAS API needs credentials (HTTP 401); set OAS_API_KEY, or {LOGIN_SETTINGS}."
    if sent == ("token",):
        return "The OAS API rejected the session token right after signing in; check the account is active."
    return f"The OAS API rejected the API key (HTTP 401{_detail(error)}); check {api_key}."


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

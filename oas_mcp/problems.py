"""Every way an OAS API call fails, in one table: what happened and its fix (for ``oas-mcp check``), and the line a
model reads (for the tools).

``oas-mcp check`` prints a failure as ``✗ <symptom>: <what the error says>. Fix: <fix>``; a tool failure is the
row's text (see :func:`oas_mcp.server.errors.describe`). Both take the first row of :data:`FAILURES` that matches.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from oas_mcp import DEFAULT_BASE_URL
from oas_mcp.client import (
    API_KEY_HEADER,
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
    RequestNotSentError,
    ResponseTooLargeError,
    ServerError,
    UnexpectedResponseError,
)
from oas_mcp.settings import env_name
from oas_mcp.untrusted import clean

LOGIN_SETTINGS = "OAS_USERNAME (or OAS_EMAIL) and OAS_PASSWORD"


@dataclass(frozen=True)
class Problem:
    """A failure ``check`` can report: how its line starts, and what to do about it."""

    symptom: str
    fix: str


UNREACHABLE = Problem(
    "The OAS API is unreachable",
    f"Check OAS_BASE_URL (the default is {DEFAULT_BASE_URL}) and your network, proxy or VPN.",
)
NOT_SENT = Problem(
    "A request could not be sent",
    "Set OAS_API_KEY again, alone on one line; when the line names the Authorization header, the session token the "
    "API gave is at fault: report it.",
)
TIMEOUT = Problem("The OAS API did not answer in time", "Try again later, or raise OAS_TIMEOUT (seconds).")
NOT_THE_API = Problem(
    "Something answered, but not the OAS API",
    f"Set OAS_BASE_URL to the API's root URL, such as {DEFAULT_BASE_URL}, not a web or docs page.",
)
API_FAILING = Problem("The OAS API is failing", "The API is having trouble; try again in a few minutes.")
RATE_LIMITED = Problem("The OAS API is rate limiting requests", "Wait a minute, then run oas-mcp check again.")
NO_KEY = Problem("No API key is set", "Set OAS_API_KEY to the 41-character key from your welcome email.")
KEY_REJECTED = Problem(
    "The OAS API rejected the API key",
    "Copy the whole key from your welcome email into OAS_API_KEY; it is tied to your account's email address.",
)
NO_LOGIN = Problem(
    "Login credentials are not set",
    "Set OAS_USERNAME, OAS_EMAIL and OAS_PASSWORD to those of your OAS account; the login tool needs them.",
)
LOGIN_REJECTED = Problem(
    "The OAS API refused the sign-in",
    "Check OAS_USERNAME, OAS_EMAIL and OAS_PASSWORD: they must be exactly those of your OAS account.",
)
FORBIDDEN = Problem(
    "The OAS API refused access",
    "Your account may not be approved or active yet; ask OAS support, quoting this line.",
)
TOO_LARGE = Problem(
    "The OAS API sent a response too large to read",
    "Check OAS_BASE_URL; if the API really sends responses that big, raise OAS_MAX_RESPONSE_BYTES.",
)
API_ERROR = Problem(
    "The OAS API answered with an error",
    "Run oas-mcp check --log-level DEBUG to see each request; report the error if it persists.",
)

PROBLEMS = (
    UNREACHABLE,
    NOT_SENT,
    TIMEOUT,
    NOT_THE_API,
    API_FAILING,
    RATE_LIMITED,
    NO_KEY,
    KEY_REJECTED,
    NO_LOGIN,
    LOGIN_REJECTED,
    FORBIDDEN,
    TOO_LARGE,
    API_ERROR,
)
"""Every failure ``check`` reports; the README's Troubleshooting section lists them with their fixes."""

E = TypeVar("E", bound=OASError)


@dataclass(frozen=True)
class Failure(Generic[E]):
    """A kind of failure: the errors of class ``kind`` for which ``when`` holds (all, without it).

    ``problem`` is what ``check`` reports; ``text(error, api_key)`` is what the model reads, ``api_key`` naming
    where the API key came from (a setting, or a request header).
    """

    kind: type[E]
    problem: Problem
    text: Callable[[E, str], str]
    when: Callable[[E], bool] | None = None

    def matches(self, error: OASError) -> bool:
        return isinstance(error, self.kind) and (self.when is None or self.when(error))


def _row(
    kind: type[E], problem: Problem, text: Callable[[E, str], str], when: Callable[[E], bool] | None = None
) -> Failure[Any]:
    """A row of :data:`FAILURES`, its ``text`` and ``when`` type-checked against ``kind``."""
    return Failure(kind, problem, text, when)


def _detail(error: APIStatusError) -> str:
    return f": {error.detail.rstrip('.')}" if error.detail else ""


def _missing_credentials(error: CredentialsError, _: str) -> str:
    names = " or ".join(env_name(name) for name in error.missing if name in ("username", "email"))
    needed = [names] if names else []
    needed += [env_name(name) for name in error.missing if name not in ("username", "email")]
    return f"Signing in needs {' and '.join(needed)}; set them in the environment or the config file."


def _outcome_unknown(error: OutcomeUnknownError, _: str) -> str:
    what = clean(error.name, 60)
    seen = "a listing right after shows no new one" if error.checked else "checking right after failed too"
    return (
        f"Unknown whether {what!r} was created: {clean(str(error.cause), 200)}; {seen}. Call "
        f"list_organisations with name_contains={what!r} before creating it again."
    )


def _field_errors(error: BadRequestError, _: str) -> str:
    listed = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in error.field_errors.items())
    return f"The OAS API rejected the request: {listed}. Correct those fields and call again."


def _rate_limited(error: RateLimitError, _: str) -> str:
    when = f"retry after {math.ceil(error.retry_after)} s" if error.retry_after is not None else "retry in a minute"
    return f"The OAS API is rate limiting requests; {when}."


FAILURES: tuple[Failure[Any], ...] = (
    _row(CredentialsError, NO_LOGIN, _missing_credentials),
    _row(OutcomeUnknownError, API_ERROR, _outcome_unknown),
    _row(
        AuthenticationError,
        LOGIN_REJECTED,
        lambda error, _: f"Sign-in failed{_detail(error)}. Check {LOGIN_SETTINGS}, and that the account is active.",
        when=lambda error: "login" in error.credentials,
    ),
    _row(
        AuthenticationError,
        KEY_REJECTED,
        lambda error, _: f"The OAS API needs credentials (HTTP 401); set OAS_API_KEY, or {LOGIN_SETTINGS}.",
        when=lambda error: not error.credentials,
    ),
    _row(
        AuthenticationError,
        KEY_REJECTED,
        lambda error, _: "The OAS API rejected the session token right after signing in; check the account is active.",
        when=lambda error: error.credentials == ("token",),
    ),
    _row(
        AuthenticationError,
        KEY_REJECTED,
        lambda error, api_key: f"The OAS API rejected the API key (HTTP 401{_detail(error)}); check {api_key}.",
    ),
    _row(
        PermissionDeniedError,
        FORBIDDEN,
        lambda error, _: (
            f"Sign-in refused (HTTP 403{_detail(error)}); check that the account is active and may use the API."
        ),
        when=lambda error: error.credentials == ("login",),
    ),
    _row(
        PermissionDeniedError,
        FORBIDDEN,
        lambda error, _: f"The OAS API refused {error.method} {error.path} (HTTP 403{_detail(error)}); no permission.",
    ),
    _row(
        NotFoundError,
        NOT_THE_API,
        lambda error, _: f"The OAS API has no {error.path} (HTTP 404{_detail(error)}); check OAS_BASE_URL.",
    ),
    _row(BadRequestError, API_ERROR, _field_errors, when=lambda error: bool(error.field_errors)),
    _row(RateLimitError, RATE_LIMITED, _rate_limited),
    _row(
        ServerError,
        API_FAILING,
        lambda error, _: (
            f"The OAS API failed on {error.method} {error.path} (HTTP {error.status_code}{_detail(error)}); "
            "it is having trouble, try again in a minute."
        ),
    ),
    _row(
        APIStatusError,
        API_ERROR,
        lambda error, _: (
            f"The OAS API answered {error.method} {error.path} with HTTP {error.status_code}{_detail(error)}."
        ),
    ),
    _row(
        RequestNotSentError,
        NOT_SENT,
        lambda error, api_key: (
            f"The API key from {api_key} cannot be sent: it holds a line break, a blank at an end or a character "
            f"other than ASCII. Correct {api_key}; nothing reached the OAS API."
        ),
        when=lambda error: error.header == API_KEY_HEADER,
    ),
    _row(
        RequestNotSentError,
        NOT_SENT,
        lambda error, _: f"{str(error)[:1].upper()}{str(error)[1:]}; nothing reached the OAS API.",
    ),
    _row(
        BudgetExhaustedError,
        TIMEOUT,
        lambda error, _: f"Gave up: {error}; try again later, or raise OAS_CALL_BUDGET.",
    ),
    _row(
        APITimeoutError,
        TIMEOUT,
        lambda error, _: f"The OAS API did not answer in time: {error}; try again later, or raise OAS_TIMEOUT.",
    ),
    _row(
        APIConnectionError,
        UNREACHABLE,
        lambda error, _: f"{str(error)[:1].upper()}{str(error)[1:]}. Check OAS_BASE_URL and the network.",
    ),
    _row(
        ResponseTooLargeError,
        TOO_LARGE,
        lambda error, _: (
            f"The OAS API sent a response too large to read: {error}. If the API really sends that much, "
            "raise OAS_MAX_RESPONSE_BYTES; else check OAS_BASE_URL."
        ),
    ),
    _row(
        UnexpectedResponseError,
        NOT_THE_API,
        lambda error, _: (
            f"The OAS API sent an unexpected response: {error}. Check that OAS_BASE_URL is the API's address."
        ),
    ),
    _row(OASError, API_ERROR, lambda error, _: f"The OAS API call failed: {error}."),
)
"""Most specific first: a row for a class comes before the row for its parent class."""


def failure_of(error: OASError) -> Failure[Any]:
    """The first row of :data:`FAILURES` that matches ``error`` (the last row matches any)."""
    return next(failure for failure in FAILURES if failure.matches(error))

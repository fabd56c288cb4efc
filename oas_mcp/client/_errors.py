"""The exception tree of the OAS client.

    OASError
    ├── CredentialsError             nothing to authenticate with (no request was sent)
    ├── RequestNotSentError          a request HTTP cannot carry (a header value with a line break): not sent
    ├── OutcomeUnknownError          a create may or may not have happened (its reply was lost)
    ├── APIConnectionError           the API could not be reached
    │   └── APITimeoutError          ... or did not answer in time
    │       └── BudgetExhaustedError ... within what was left of the call's time budget
    ├── UnexpectedResponseError      the API answered, but not with what the guide describes
    │   └── ResponseTooLargeError    ... with a body bigger than the client reads
    └── APIStatusError               the API answered with an error status
        ├── BadRequestError          400, with per-field messages
        ├── AuthenticationError      401
        ├── PermissionDeniedError    403
        ├── NotFoundError            404
        ├── RateLimitError           429, with Retry-After
        └── ServerError              5xx

Messages carry no secret and no raw response body: only the request line, the status
and the API's own short explanation (``detail``), already cleaned; secrets are masked in them as they are made.
The errors about one request all carry its ``method`` and ``path``; those the API answered, its ``status_code``.
"""

from __future__ import annotations

from typing import Any, Literal

from oas_mcp.redact import scrub

Credential = Literal["api_key", "token", "login"]
"""What a request carried: the API key, a bearer token from login, or login credentials (username, email, password)."""


class OASError(Exception):
    """Base class of every error the OAS client raises.

    ``attempts`` is how many times the request was sent (retries included), over ``elapsed`` seconds.
    """

    attempts: int = 1
    elapsed: float = 0.0

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))  # while the call runs, so the secrets its request carries are masked too


class CredentialsError(OASError):
    """An operation needs credentials that are not configured; ``missing`` names them."""

    def __init__(self, message: str, missing: tuple[str, ...]) -> None:
        super().__init__(message)
        self.missing = missing


class _RequestError(OASError):
    """An error about one request, named by ``method`` and ``path``. Each subclass adds its own fields and hands
    the rest (``**context``) up: one shape for every request error."""

    def __init__(self, message: str, *, method: str, path: str) -> None:
        super().__init__(message)
        self.method = method
        self.path = path


class _AnsweredError(_RequestError):
    """The API answered that request, with ``status_code``."""

    def __init__(self, message: str, *, status_code: int, **context: Any) -> None:
        super().__init__(message, **context)
        self.status_code = status_code


class RequestNotSentError(_RequestError):
    """The request was never sent, for a reason on this side, not the network's: its ``header`` (None when the HTTP
    library did not say which) holds what HTTP cannot carry, such as a line break or a non-ASCII character."""

    def __init__(self, message: str, *, header: str | None, **context: Any) -> None:
        super().__init__(message, **context)
        self.header = header


class APIConnectionError(_RequestError):
    """The API could not be reached (DNS, refused, TLS), or the connection was lost.

    ``request_sent`` is False only when the request certainly never reached the API.
    """

    def __init__(self, message: str, *, request_sent: bool, **context: Any) -> None:
        super().__init__(message, **context)
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """The API did not answer within the per-request timeout."""


class OutcomeUnknownError(OASError):
    """Creating ``name`` failed in a way that leaves open whether the API created it.

    ``cause`` is what went wrong; ``checked`` says whether a listing made afterwards worked (and showed no
    new matching organisation) or failed too.
    """

    def __init__(self, message: str, *, name: str, cause: OASError, checked: bool) -> None:
        super().__init__(message)
        self.name = name
        self.cause = cause
        self.checked = checked


class BudgetExhaustedError(APITimeoutError):
    """The call's time budget ran out (see ``OASClient(budget=...)``); ``budget`` is its length in seconds."""

    def __init__(self, message: str, *, budget: float, **context: Any) -> None:
        super().__init__(message, **context)
        self.budget = budget


class UnexpectedResponseError(_AnsweredError):
    """The API answered with something the client cannot read (HTML, empty or truncated JSON, wrong shape)."""


class ResponseTooLargeError(UnexpectedResponseError):
    """The response body was bigger than ``limit`` bytes (``OASClient(max_response_bytes=...)``); it was not read
    past that. ``size`` is its length when the API announced it, else None."""

    def __init__(self, message: str, *, size: int | None, limit: int, **context: Any) -> None:
        super().__init__(message, **context)
        self.size = size
        self.limit = limit


class APIStatusError(_AnsweredError):
    """The API answered with an error status; ``detail`` is its own short explanation, if it gave one."""

    def __init__(
        self, message: str, *, detail: str | None, credentials: tuple[Credential, ...], **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.detail = detail
        self.credentials = credentials


class BadRequestError(APIStatusError):
    """400: the API rejected the request body; ``field_errors`` maps each field to its messages."""

    def __init__(self, message: str, *, field_errors: dict[str, list[str]], **context: Any) -> None:
        super().__init__(message, **context)
        self.field_errors = field_errors


class AuthenticationError(APIStatusError):
    """401: the credentials the request carried (``credentials``; empty when none) were missing, wrong or expired."""


class PermissionDeniedError(APIStatusError):
    """403: authenticated, but not allowed."""


class NotFoundError(APIStatusError):
    """404: the path (an organisation id, a page) does not exist."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` is in seconds when the API said."""

    def __init__(self, message: str, *, retry_after: float | None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: the API failed."""

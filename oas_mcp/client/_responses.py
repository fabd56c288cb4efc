"""Reading API responses: JSON bodies, error bodies in every shape we have seen, Retry-After."""

from __future__ import annotations

import email.utils
import math
import time
from typing import Any

import httpx2

from oas_mcp.client._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    Credential,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
)
from oas_mcp.untrusted import clean, plain

MAX_RETRY_AFTER = 86_400.0
"""The longest wait a Retry-After is taken to ask for: a day (a hostile or broken header may say a century)."""
_DETAIL_KEYS = ("detail", "message", "error", "error_description", "non_field_errors", "errors")


def request_line(response: httpx2.Response) -> tuple[str, str]:
    """The method and path (no query, no host) of the request behind ``response``."""
    return response.request.method, response.request.url.path


def read_json(response: httpx2.Response) -> Any:
    """The body as JSON, or UnexpectedResponseError saying what came instead."""
    method, path = request_line(response)
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's JSON parser goes
        kind = describe_body(response)
    raise UnexpectedResponseError(
        f"{method} {path} answered HTTP {response.status_code} with {kind} instead of JSON",
        method=method,
        path=path,
        status_code=response.status_code,
    )


def describe_body(response: httpx2.Response) -> str:
    """A safe description of a body we could not use: its type and size, never its content."""
    if not response.content:
        return "an empty body"
    content_type = response.headers.get("content-type", "").split(";")[0].strip() or "an unknown type"
    if "html" in content_type or response.content.lstrip()[:1] == b"<":
        return f"an HTML page ({len(response.content)} bytes)"
    if "json" in content_type:
        return f"malformed or truncated JSON ({len(response.content)} bytes)"
    return f"{clean(content_type, 60)} ({len(response.content)} bytes)"


def unexpected_shape(response: httpx2.Response, what: str) -> UnexpectedResponseError:
    method, path = request_line(response)
    return UnexpectedResponseError(
        f"{method} {path} answered HTTP {response.status_code} with JSON that is not {what}",
        method=method,
        path=path,
        status_code=response.status_code,
    )


def field_errors(body: object) -> dict[str, list[str]]:
    """Per-field messages from a DRF-style body: ``{"name": ["This field is required."]}``."""
    if not isinstance(body, dict):
        return {}
    fields: dict[str, list[str]] = {}
    for key, value in body.items():
        if key in _DETAIL_KEYS:
            continue
        messages = value if isinstance(value, list) else [value]
        texts = [clean(str(m), 200) for m in messages if isinstance(m, str | int | float)]
        if texts:
            fields[clean(str(key), 60)] = texts
    return fields


def detail_of(body: object, text: str) -> str | None:
    """The API's own short explanation, cleaned; None when it gave none we can show."""
    if isinstance(body, dict):
        for key in _DETAIL_KEYS:
            value = body.get(key)
            if isinstance(value, list):
                value = "; ".join(str(item) for item in value if isinstance(item, str))
            if isinstance(value, str) and value.strip():
                return clean(value)
        return None
    if isinstance(body, str) and body.strip():
        return clean(body)
    if isinstance(body, list):
        joined = "; ".join(item for item in body if isinstance(item, str))
        return clean(joined) if joined else None
    if body is None and text.strip() and not text.lstrip().startswith("<"):
        return plain(text)
    return None


def retry_after(response: httpx2.Response) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), at most a day; None if absent or
    unreadable (``nan``, ``inf`` included)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds)) if math.isfinite(seconds) else None


def status_error(response: httpx2.Response, credentials: tuple[Credential, ...]) -> APIStatusError:
    """The typed error for an error status."""
    method, path = request_line(response)
    try:
        body: object = response.json()
    except (ValueError, RecursionError):
        body = None
    status = response.status_code
    detail = detail_of(body, response.text if body is None else "")
    fields = field_errors(body) if status == 400 else {}
    if fields and not detail:
        detail = clean("; ".join(f"{name}: {' '.join(texts)}" for name, texts in fields.items()), 400)
    context: dict[str, Any] = {
        "method": method,
        "path": path,
        "status_code": status,
        "detail": detail,
        "credentials": credentials,
    }
    message = f"{method} {path} answered HTTP {status}" + (f": {detail}" if detail else "")
    if status == 400:
        return BadRequestError(message, field_errors=fields, **context)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after(response), **context)
    kinds: dict[int, type[APIStatusError]] = {401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError}
    kind = kinds.get(status) or (ServerError if status >= 500 else APIStatusError)
    return kind(message, **context)

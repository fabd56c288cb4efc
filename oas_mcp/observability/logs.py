"""Logging: to stderr only (stdout carries the protocol), one line per record (text, or JSON), secrets masked, and
while serving an authenticated HTTP request, who made it.

What clients, issuers and APIs choose cannot forge a line: text lines have their control characters escaped (a
traceback's lines follow its record's, each indented, so a line that starts with a date always starts a record);
JSON lines are JSON. Access lines show a request's query parameters by name, their values masked (see
:data:`PLAIN_QUERY`)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from oas_mcp.observability.jsonlogs import JSONFormatter
from oas_mcp.redact import MASK, RedactingFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s%(caller)s: %(message)s"
MAX_CALLER = 80
"""Characters of a caller's name kept in a log line."""
PLAIN_QUERY = frozenset({"page", "cursor"})
"""Query parameters whose values access lines show (the sandbox's pages). Every other value is masked: the link
page's callback carries an authorization code and its state, and a client may put anything in a query."""
INDENT = "  "
"""What each line of a traceback starts with, in text logs."""
_caller: ContextVar[str] = ContextVar("oas_mcp_caller", default="")


def configure(level: str, log_format: str = "text") -> None:
    """Send every log record to stderr at ``level``, as text or (``json``) one JSON object per line (see
    :mod:`oas_mcp.observability.jsonlogs`); the HTTP libraries' request lines only at DEBUG. (oas-mcp's own records
    are made at any level, for MCP clients that ask for more: this handler's level keeps them off stderr.)"""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(TextFormatter(FORMAT))
    handler.addFilter(_AccessQueryFilter())
    handler.addFilter(RedactingFilter())
    handler.addFilter(_CallerFilter())
    handler.setLevel(level)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    for name in ("httpx2", "httpcore2", "mcp", "uvicorn.access"):
        logging.getLogger(name).setLevel(max(quiet, root.level))


@contextmanager
def caller(name: str) -> Iterator[None]:
    """Name ``name`` (an OAuth token's subject) in every line logged in this context, as ``[sub NAME]`` after the
    logger's name; control characters are escaped and a long name is cut, so a name cannot forge a line."""
    shown = escaped(name)
    shown = shown if len(shown) <= MAX_CALLER else f"{shown[: MAX_CALLER - 1]}…"
    token = _caller.set(shown)
    try:
        yield
    finally:
        _caller.reset(token)


class _CallerFilter(logging.Filter):
    """Gives each record ``subject`` (the caller's name, or empty) and ``caller`` (`` [sub NAME]`` for text lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        subject = _caller.get()
        record.subject = subject
        record.caller = f" [sub {subject}]" if subject else ""
        return True


def escaped(text: str) -> str:
    """``text`` with each character that is not printable (controls, line and paragraph separators, bidi overrides)
    written as its Python escape (``\\n``, ``\\x1b``, ``\\u202e``)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class TextFormatter(logging.Formatter):
    """A record as one line, its control characters escaped; then its traceback (and stack), if any, each line of
    it escaped and indented."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        lines = [escaped(self.formatMessage(record))]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for text in (record.exc_text, record.stack_info):
            lines += (f"{INDENT}{escaped(line)}" for line in (text or "").splitlines())
        return "\n".join(lines)


class _AccessQueryFilter(logging.Filter):
    """Masks the query values of uvicorn's access lines (``GET /link/callback?code=[redacted]&state=[redacted]``),
    but those of :data:`PLAIN_QUERY`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, target, version, status = args
            path, marked, query = str(target).partition("?")
            if marked:
                record.args = (client, method, f"{path}?{_masked(query)}", version, status)
        return True


def _masked(query: str) -> str:
    """``query`` with each parameter's value masked (a parameter without ``=`` is all value), but those of
    :data:`PLAIN_QUERY`."""
    shown = []
    for name, equals, value in (parameter.partition("=") for parameter in query.split("&")):
        if not equals:
            shown.append(MASK if name else "")
        else:
            shown.append(f"{name}={value if name in PLAIN_QUERY or not value else MASK}")
    return "&".join(shown)

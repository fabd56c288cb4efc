"""Logging: to stderr only (stdout carries the protocol), one line per record (text, or JSON), secrets masked, and
while serving an authenticated HTTP request, who made it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from oas_mcp.redact import RedactingFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s%(caller)s: %(message)s"
MAX_CALLER = 80
"""Characters of a caller's name kept in a log line."""
_caller: ContextVar[str] = ContextVar("oas_mcp_caller", default="")


def configure(level: str, log_format: str = "text") -> None:
    """Send every log record to stderr at ``level``, as text or (``json``) one JSON object per line (see
    :mod:`oas_mcp.observability.jsonlogs`); the HTTP libraries' request lines only at DEBUG. (oas-mcp's own records
    are made at any level, for MCP clients that ask for more: this handler's level keeps them off stderr.)"""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        from oas_mcp.observability.jsonlogs import JSONFormatter

        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter(FORMAT))
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
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in name)
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

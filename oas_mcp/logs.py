"""Logging: to stderr only (stdout carries the protocol), one line per record (text, or JSON), secrets masked."""

from __future__ import annotations

import logging
import sys

from oas_mcp.redact import RedactingFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str, log_format: str = "text") -> None:
    """Send every log record to stderr at ``level``, as text or (``json``) one JSON object per line (see
    :mod:`oas_mcp.jsonlogs`); the HTTP libraries' request lines only at DEBUG. (oas-mcp's own records are made at
    any level, for MCP clients that ask for more: this handler's level keeps them off stderr.)"""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        from oas_mcp.jsonlogs import JSONFormatter

        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    handler.setLevel(level)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    for name in ("httpx2", "httpcore2", "mcp", "uvicorn.access"):
        logging.getLogger(name).setLevel(max(quiet, root.level))

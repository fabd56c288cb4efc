"""JSON logs (``OAS_LOG_FORMAT=json``): one JSON object per line, for log collectors.

Each line has ``time`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``; ``subject`` while serving an OAuth
caller; ``exception`` when the record has a traceback; and ``trace_id`` and ``span_id`` (W3C hex) when it is made
within a trace: a tool call's span with tracing on, or without it, the span of an MCP client that sent its trace
context. The handler's
:class:`~oas_mcp.redact.RedactingFilter` runs first, so the masking is that of text logs.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import get_current_span  # the API alone, which mcp loads anyway: no SDK needed


class JSONFormatter(logging.Formatter):
    """Formats a record as one line of JSON (newlines in the message are escaped, as JSON does)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if subject := getattr(record, "subject", ""):
            line["subject"] = subject  # the OAuth caller, as text lines say it in [sub NAME]
        context = get_current_span().get_span_context()
        if context.is_valid:
            line["trace_id"] = f"{context.trace_id:032x}"
            line["span_id"] = f"{context.span_id:016x}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)

"""Text logs, read line by line as an operator (or grep) reads them: what a client, an issuer or an API sends cannot
forge a line, and a query's values are masked in access lines."""

from __future__ import annotations

import logging
import re

import pytest

from oas_mcp.redact import MASK

from test_secrets import debug_logging

FORGED = "2099-01-01 00:00:00,000 WARNING oas_mcp.hosting: forged"
RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


def test_a_record_and_its_traceback_cannot_forge_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("oas_mcp.test")
    with debug_logging():
        logger.info("a name from a client: %s", f"x\r\n{FORGED}\x1b[2J\u202e")
        try:
            raise ValueError(f"an API's message\n{FORGED}")
        except ValueError:
            logger.exception("a tool failed")

    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if line.startswith("2099") or not (RECORD.match(line) or line[:2] == "  ")] == []
    assert lines[0].endswith(f"a name from a client: x\\r\\n{FORGED}\\x1b[2J\\u202e")
    assert lines[1].endswith("a tool failed")
    assert lines[2] == "  Traceback (most recent call last):"
    assert lines[-2:] == ["  ValueError: an API's message", f"  {FORGED}"]  # in its record, not one of its own


def test_access_lines_mask_query_values_but_the_sandboxs_pages(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("uvicorn", "uvicorn.access"):  # as oas-mcp runs uvicorn (a test before may have run it otherwise)
        monkeypatch.setattr(logging.getLogger(name), "handlers", [])
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
    access = logging.getLogger("uvicorn.access")
    with debug_logging():  # as uvicorn logs a request
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/link/callback?code=c0de&state=s7", "1.1", 200)
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/api/organisations/?page=2&x&y=", "1.1", 200)

    first, second = capsys.readouterr().err.splitlines()
    assert first.endswith(f'"GET /link/callback?code={MASK}&state={MASK} HTTP/1.1" 200')
    assert second.endswith(f'"GET /api/organisations/?page=2&{MASK}&y= HTTP/1.1" 200')

"""JSON logs (``OAS_LOG_FORMAT=json``), read line by line from a real server's stderr, as a log collector reads them."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import httpx2
import pytest

from oas_mcp.observability.logs import caller, configure
from oas_mcp.redact import MASK

from http_clients import TOKEN, session
from support import running, structured

pytestmark = pytest.mark.anyio


async def test_every_line_is_one_json_object_with_the_fields_and_the_masking_of_text_logs() -> None:
    env = {"OAS_LOG_FORMAT": "json", "OAS_LOG_LEVEL": "DEBUG", "OAS_MCP_TOKEN": TOKEN}
    with running("--sandbox", "--transport", "http", **env) as server:
        # A client that puts the token where it does not belong: in the URL, which the access log shows.
        assert httpx2.post(f"{server.mcp}?access_token={TOKEN}", json={}, timeout=30).status_code == 401
        async with session(server.mcp, mode="legacy") as client:
            structured(await client.call_tool("list_organisations", {}))
        text = server.stderr.read_text()

    lines = [json.loads(line) for line in text.splitlines()]
    assert TOKEN not in text
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert all(datetime.fromisoformat(line["time"]).utcoffset() is not None for line in lines)
    assert {"DEBUG", "INFO"} <= {line["level"] for line in lines}
    [access] = [line for line in lines if "access_token" in line["message"]]
    assert access["logger"] == "uvicorn.access"
    assert f"access_token={MASK}" in access["message"]
    assert any(line["logger"] == "oas_mcp.client" and line["message"].startswith("listed 5") for line in lines)


def test_a_line_logged_for_an_oauth_caller_names_its_subject(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure("INFO", "json")
    try:
        with caller("alice@example.com\n[forged]"):
            logging.getLogger("oas_mcp.test").info("listed 3 organisations")
        logging.getLogger("oas_mcp.test").info("after the request")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["subject"] == "alice@example.com\\n[forged]"
    assert first["message"] == "listed 3 organisations"
    assert "subject" not in second

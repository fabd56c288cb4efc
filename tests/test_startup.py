"""Start-up imports only what the chosen mode needs: Claude Desktop starts oas-mcp on every launch."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support import PYTHON

LOADED_ON_FIRST_TOOL_CALL = {"oas_mcp.client._client", "oas_mcp.client._models", "jwt"}


def modules_loaded_serving(*args: str) -> set[str]:
    """Every module an ``oas-mcp`` process imports while it starts, serves stdio until end of input, and stops."""
    result = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "oas_mcp", *args],
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "OAS_API_KEY": "k" * 41},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}


def test_serving_the_api_loads_no_sandbox_no_toml_and_no_client_before_a_tool_is_called() -> None:
    loaded = modules_loaded_serving()

    assert "oas_mcp.tools.server" in loaded
    assert not loaded & LOADED_ON_FIRST_TOOL_CALL
    assert not {name for name in loaded if name.startswith("oas_mcp.sandbox")}
    assert "tomllib" not in loaded


def test_serving_the_sandbox_loads_the_sandbox_but_not_its_token_library() -> None:
    loaded = modules_loaded_serving("--sandbox")

    assert "oas_mcp.sandbox" in loaded
    assert not loaded & LOADED_ON_FIRST_TOOL_CALL
    assert "tomllib" not in loaded


def test_a_config_file_loads_the_toml_parser(tmp_path: Path) -> None:
    config = tmp_path / "oas.toml"
    config.write_text("list_limit = 5\n")

    assert "tomllib" in modules_loaded_serving("--config", str(config))

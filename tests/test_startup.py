"""Start-up imports only what the chosen mode needs: Claude Desktop starts oas-mcp on every launch."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support import PYTHON

LOADED_ON_FIRST_TOOL_CALL = {"oas_mcp.client._client", "oas_mcp.client._models", "jwt"}
TELEMETRY = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.metrics", "prometheus_client", "google")
"""What traces and metrics need (the otel extra's SDK, exporters and protobuf): loaded only when OTEL_* asks."""
NOT_FOR_SERVING = {
    *(f"oas_mcp.cli.{command}" for command in ("call", "check", "config", "install")),
    "oas_mcp.accounts.command",
    "oas_mcp.problems",
    "difflib",
}
"""The other commands, the failure table (loaded with the first failure) and no settings library beyond pydantic."""


SERVE_THEN_LIST_MODULES = """
import atexit, gc, sys
from pathlib import Path
atexit.register(lambda: Path(sys.argv[1]).write_text("\\n".join(sorted(sys.modules))))
atexit.register(lambda: Path(sys.argv[1] + ".gc").write_text(f"{gc.get_freeze_count()} {gc.isenabled()}"))
from oas_mcp.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def modules_loaded_serving(tmp_path: Path, *args: str, **env: str) -> set[str]:
    """Every module an oas-mcp process imports while it starts, serves stdio until end of input, and stops; beside
    them, in ``modules.txt.gc``, how many objects it left out of garbage collection and whether it collects."""
    listing = tmp_path / "modules.txt"
    subprocess.run(
        [PYTHON, "-c", SERVE_THEN_LIST_MODULES, str(listing), *args],
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "OAS_API_KEY": "k" * 41,
            **env,
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return set(listing.read_text().split())


def test_serving_the_api_loads_no_sandbox_no_toml_and_no_client_before_a_tool_is_called(tmp_path: Path) -> None:
    loaded = modules_loaded_serving(tmp_path)

    assert "oas_mcp.server.server" in loaded
    assert not loaded & LOADED_ON_FIRST_TOOL_CALL
    assert not {name for name in loaded if name.startswith("oas_mcp.sandbox")}
    assert "tomllib" not in loaded
    assert not telemetry_in(loaded)
    assert "oas_mcp.observability.jsonlogs" not in loaded
    assert not {name for name in loaded if name in NOT_FOR_SERVING or name.split(".")[0] in NOT_FOR_SERVING}


def test_serving_the_sandbox_loads_the_sandbox_but_not_its_token_library(tmp_path: Path) -> None:
    loaded = modules_loaded_serving(tmp_path, "--sandbox")

    assert "oas_mcp.sandbox" in loaded
    assert not loaded & LOADED_ON_FIRST_TOOL_CALL
    assert "tomllib" not in loaded
    assert not loaded & NOT_FOR_SERVING


def test_a_config_file_loads_the_toml_parser(tmp_path: Path) -> None:
    config = tmp_path / "oas.toml"
    config.write_text("list_limit = 5\n")

    assert "tomllib" in modules_loaded_serving(tmp_path, "--config", str(config))


def telemetry_in(loaded: set[str]) -> set[str]:
    return {name for name in loaded if name.startswith(TELEMETRY)}


def test_json_logs_load_their_formatter_and_no_telemetry(tmp_path: Path) -> None:
    loaded = modules_loaded_serving(tmp_path, OAS_LOG_FORMAT="json")

    assert "oas_mcp.observability.jsonlogs" in loaded
    assert not telemetry_in(loaded)


def test_otel_variables_load_the_sdk_and_its_exporter(tmp_path: Path) -> None:
    loaded = modules_loaded_serving(
        tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_METRICS_EXPORTER="none"
    )

    assert {"opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter"} <= loaded
    assert not loaded & LOADED_ON_FIRST_TOOL_CALL


def test_serving_leaves_what_start_up_made_out_of_garbage_collection(tmp_path: Path) -> None:
    modules_loaded_serving(tmp_path)

    frozen, collecting = (tmp_path / "modules.txt.gc").read_text().split()
    assert int(frozen) > 10_000  # the modules, classes and schemas of start-up (gc.freeze)
    assert collecting == "True"

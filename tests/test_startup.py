"""What start-up leaves out: the optional extras unless their settings ask for them, and the token library pyjwt
(with cryptography, a twentieth of start-up) until someone signs in; and garbage collection, on once it has loaded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support import BASE_ENV, PYTHON

pytestmark = pytest.mark.slow  # a process each, to see what it loaded: .ci/run runs them after the README's command

EXTRAS = ("opentelemetry.sdk", "opentelemetry.exporter", "prometheus_client", "google", "psycopg", "psycopg_pool")
"""The otel extra's SDK, exporters and protobuf, and the postgres extra's driver and pool."""

SERVE_THEN_LIST_MODULES = """
import atexit, gc, sys
from pathlib import Path
listing = Path(sys.argv.pop(1))
atexit.register(lambda: listing.write_text("\\n".join(sorted(sys.modules))))
atexit.register(lambda: Path(f"{listing}.gc").write_text(f"{gc.get_freeze_count()} {gc.isenabled()}"))
from oas_mcp.__main__ import run
sys.exit(run())
"""


def modules_loaded_serving(tmp_path: Path, *args: str, **env: str) -> set[str]:
    """Every module the ``oas-mcp`` command imports while it starts, serves stdio until end of input, and stops;
    beside them, in ``modules.txt.gc``, how many objects it left out of garbage collection and whether it collects."""
    listing = tmp_path / "modules.txt"
    subprocess.run(
        [PYTHON, "-c", SERVE_THEN_LIST_MODULES, str(listing), *args],
        env={**BASE_ENV, "OAS_API_KEY": "k" * 41, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return set(listing.read_text().split())


def extras_in(loaded: set[str]) -> set[str]:
    return {name for name in loaded if name.startswith(EXTRAS)}


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], Path]:
    """What ``oas-mcp`` loaded serving stdio with an API key (no sandbox, no extra), and the folder of its listings."""
    folder = tmp_path_factory.mktemp("serving")
    return modules_loaded_serving(folder), folder


def test_serving_loads_no_extra_and_no_token_library(serving: tuple[set[str], Path]) -> None:
    loaded, _ = serving

    assert "oas_mcp.server.server" in loaded
    assert not extras_in(loaded)
    assert "jwt" not in loaded


def test_serving_the_sandbox_loads_no_token_library_before_a_sign_in(tmp_path: Path) -> None:
    loaded = modules_loaded_serving(tmp_path, "--sandbox")

    assert "oas_mcp.sandbox" in loaded
    assert "jwt" not in loaded


def test_otel_variables_load_the_sdk_and_its_exporter(tmp_path: Path) -> None:
    loaded = modules_loaded_serving(
        tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_METRICS_EXPORTER="none"
    )

    assert {"opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter"} <= loaded


def test_serving_leaves_what_loading_made_out_of_garbage_collection(serving: tuple[set[str], Path]) -> None:
    _, folder = serving

    frozen, collecting = (folder / "modules.txt.gc").read_text().split()
    assert int(frozen) > 10_000  # the modules, classes and schemas of start-up (gc.freeze)
    assert collecting == "True"

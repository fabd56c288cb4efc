"""``oas-mcp tools`` and ``oas-mcp call``: tools from a shell, results as JSON, errors and exit codes."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from oas_mcp.cli.call import EXIT_CODES
from oas_mcp.cli.main import main

from support import BASE_ENV, DOCS, PYTHON, command


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``oas-mcp ARGS`` run by ``main`` in this process: for what the command says and its exit code. What only a
    process shows (stdin, a closed stdout, the module as a command) is tested with ``run``."""

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exit:  # argparse's refusals
            code = exit.code if isinstance(exit.code, int) else 2
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return invoke


def test_tools_lists_each_tool_with_its_first_sentence() -> None:
    result = command("tools", "--sandbox")

    assert result.returncode == 0
    rows = {line.split()[0]: line.split(maxsplit=1)[1] for line in result.stdout.splitlines()}
    assert list(rows) == ["hello", "login", "list_organisations", "create_organisation", "activate_organisation"]
    assert rows["create_organisation"] == (
        "Create one organisation per call: only when the user asks, never to retry a failure."
    )


def test_tools_in_read_only_mode_lists_only_the_readers(cli: Callable[..., Any]) -> None:
    result = cli("tools", "--read-only")

    assert [line.split()[0] for line in result.stdout.splitlines()] == ["hello", "login", "list_organisations"]


def test_call_prints_the_structured_result_as_json() -> None:
    result = command("call", "list_organisations", '{"limit": 2, "currency": "usd"}', "--sandbox")

    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert (listing["returned"], listing["truncated"]) == (2, True)
    assert [organisation["name"] for organisation in listing["organisations"]] == ["Acme Corp", "Initech"]
    assert result.stderr == ""


def test_call_reads_the_arguments_from_stdin() -> None:
    result = command("call", "activate_organisation", "-", "--sandbox", stdin='{"organisation_id": 3}')

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["organisation_id"] == 3


def test_a_failing_tool_prints_its_error_and_exits_1(cli: Callable[..., Any]) -> None:
    result = cli("call", "activate_organisation", '{"organisation_id": 99}', "--sandbox")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "Organisation 99 not found; call list_organisations for valid ids."


def test_invalid_arguments_are_a_tool_error(cli: Callable[..., Any]) -> None:
    result = cli(
        "call", "create_organisation", '{"name": "X", "base_currency": "US", "currencies": ["USD"]}', "--sandbox"
    )

    assert result.returncode == 1
    assert result.stderr.startswith("Invalid arguments for create_organisation: base_currency:")


def test_bad_json_arguments_exit_2_with_an_example(cli: Callable[..., Any]) -> None:
    result = cli("call", "hello", "{limit: 5}", "--sandbox")

    assert result.returncode == 2
    assert "argument JSON_ARGS: not valid JSON" in result.stderr
    assert """give an object such as '{"limit": 5}'""" in result.stderr
    assert "Traceback" not in result.stderr


def test_json_that_is_not_an_object_exits_2(cli: Callable[..., Any]) -> None:
    result = cli("call", "hello", "[5]", "--sandbox")

    assert result.returncode == 2
    assert "must be a JSON object" in result.stderr


def test_an_unknown_tool_exits_2_naming_the_tools(cli: Callable[..., Any]) -> None:
    result = cli("call", "delete_organisation", "{}", "--sandbox", "--read-only")

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "oas-mcp: unknown tool 'delete_organisation'; the tools are hello, login, list_organisations."
    )


def test_a_write_tool_on_a_read_only_server_exits_2_saying_how_to_allow_it(cli: Callable[..., Any]) -> None:
    result = cli("call", "create_organisation", "{}", "--sandbox", "--read-only")

    assert result.returncode == 2
    assert result.stderr == (
        "oas-mcp: create_organisation is not available: this oas-mcp server is read-only. To allow it, start "
        "oas-mcp without --read-only and with OAS_READ_ONLY=false.\n"
    )


def test_a_bad_setting_exits_2(cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAS_TIMEOUT", "soon")

    result = cli("call", "hello")

    assert result.returncode == 2
    assert result.stderr.startswith("oas-mcp: invalid setting OAS_TIMEOUT:")


@pytest.mark.parametrize(
    "args",
    [
        ("list_organisations", '{"limit": 1}', "--sandbox", "--read-only"),
        ("list_organisations", "--sandbox", '{"limit": 1}', "--read-only"),
        ("list_organisations", "--sandbox", "--read-only", '{"limit": 1}'),
        ("--sandbox", "list_organisations", "--read-only", '{"limit": 1}'),
    ],
)
def test_the_json_arguments_may_come_before_between_or_after_the_flags(
    cli: Callable[..., Any], args: tuple[str, ...]
) -> None:
    result = cli("call", *args)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["returned"] == 1


def test_ctrl_c_exits_130_with_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class Interrupted(io.StringIO):
        def read(self, size: int | None = -1) -> str:
            raise KeyboardInterrupt  # as Ctrl-C while the arguments are read from stdin

    monkeypatch.setattr(sys, "stdin", Interrupted())

    assert main(["call", "activate_organisation", "-", "--sandbox"]) == 130
    assert capsys.readouterr().err == "oas-mcp: stopped (Ctrl-C)\n"


def test_help_and_the_docs_state_every_exit_code_and_each_is_tested() -> None:
    help_text = command("call", "--help").stdout
    codes = re.findall(r"^  (\d+) ", EXIT_CODES, flags=re.MULTILINE)

    assert EXIT_CODES in help_text
    assert f"```\n{EXIT_CODES}\n```" in DOCS["docs/scripts.md"]
    assert codes == ["0", "1", "2", "130", "141"]  # each has its test above


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already exited
    try:
        result = subprocess.run(
            [PYTHON, "-m", "oas_mcp", "call", "list_organisations", "--sandbox"],
            env=BASE_ENV,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)

    assert result.returncode == 141
    assert result.stderr == ""

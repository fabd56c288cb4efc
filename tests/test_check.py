"""``oas-mcp check``: the settings with their sources, four checks, the right ✗ line and fix, no secret shown."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import oas_mcp.cli.options
from oas_mcp.cli.check import run_checks
from oas_mcp.cli.main import main
from oas_mcp.problems import (
    API_ERROR,
    API_FAILING,
    FORBIDDEN,
    KEY_REJECTED,
    LOGIN_REJECTED,
    NO_KEY,
    NO_LOGIN,
    NOT_THE_API,
    PROBLEMS,
    RATE_LIMITED,
    TIMEOUT,
    TOO_LARGE,
    UNREACHABLE,
    Problem,
)
from oas_mcp.sandbox import DEMO_API_KEY, DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, Fault, Sandbox

from support import client_for, command, free_port, login_answer, sandbox_api, settings_for

pytestmark = pytest.mark.anyio

CANARY_KEY = "Canary01.keykeykeykeykeykeykeykeykeyk9Z7Q"
CANARY_PASSWORD = "canary-password-1234"


async def lines(sandbox: Sandbox, **values: Any) -> list[str]:
    async with client_for(sandbox, **values) as oas:
        return [result.line() for result in await run_checks(settings_for(**values), oas)]


def check_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line[:2] in ("✓ ", "✗ ", "- ")]


def test_check_on_the_sandbox_passes_all_four() -> None:
    result = command("check", "--sandbox")

    assert result.returncode == 0, result.stdout + result.stderr
    checks = check_lines(result.stdout)
    assert [line[0] for line in checks] == ["✓"] * 4
    assert "The OAS API answers at http://sandbox.oas.invalid." in result.stdout
    assert "Hello world @demo" in result.stdout
    assert "Signed in as demo (demo@sandbox.oas.invalid); the session token lasts 15 min" in result.stdout
    assert "Listed organisations: the account has 5." in result.stdout
    assert result.stdout.rstrip().endswith("All 4 checks passed.")
    assert DEMO_API_KEY not in result.stdout
    assert "…ly01" in result.stdout


def test_check_leads_with_the_checks_and_shows_every_setting_only_with_verbose(tmp_path: Path) -> None:
    config = tmp_path / "oas.toml"
    config.write_text('username = "file-user"\nlist_limit = 7\n')

    plain = command("check", "--sandbox", "--config", str(config))
    result = command("check", "--sandbox", "--config", str(config), "--read-only", "--verbose", OAS_TIMEOUT="5")
    table = {line.split()[0]: line.split(maxsplit=1)[1] for line in result.stdout.splitlines() if line.startswith("  ")}

    assert plain.stdout.startswith("✓ The OAS API answers at http://sandbox.oas.invalid.\n")
    assert "Settings" not in plain.stdout
    assert "list_limit" not in plain.stdout
    assert result.stdout.startswith("✓ The OAS API answers")
    assert result.stdout.index("All 4 checks passed.") < result.stdout.index("Settings (a flag beats the environment")
    assert table["base_url"].split() == ["http://sandbox.oas.invalid", "--sandbox"]
    assert table["username"].split() == ["demo", "--sandbox"]
    assert table["list_limit"].split() == ["7", "list_limit", "in", str(config)]
    assert table["timeout"].split() == ["5", "OAS_TIMEOUT"]
    assert table["read_only"].split() == ["true", "--read-only"]
    assert table["log_level"].split() == ["INFO", "default"]
    assert table["api_key"].split()[1:] == ["(41", "characters)", "--sandbox"]


def test_a_failing_check_shows_the_settings_it_used_and_where_they_came_from(tmp_path: Path) -> None:
    config = tmp_path / "oas.toml"
    config.write_text(f'username = "{DEMO_USERNAME}"\n')
    env = {"OAS_EMAIL": DEMO_EMAIL, "OAS_TIMEOUT": "5", "OAS_MAX_RETRIES": "0"}

    with sandbox_api() as api:
        wrong_key = command(
            "check",
            OAS_BASE_URL=api,
            OAS_API_KEY=CANARY_KEY,
            OAS_USERNAME=DEMO_USERNAME,
            OAS_PASSWORD=DEMO_PASSWORD,
            **env,
        )
        wrong_password = command(
            "check",
            "--config",
            str(config),
            OAS_BASE_URL=api,
            OAS_API_KEY=DEMO_API_KEY,
            OAS_PASSWORD=CANARY_PASSWORD,
            **env,
        )
    key_lines, login_lines = wrong_key.stdout.splitlines(), wrong_password.stdout.splitlines()

    assert (wrong_key.returncode, wrong_password.returncode) == (1, 1)
    assert key_lines[1].startswith(f"✗ {KEY_REJECTED.symptom}")
    assert key_lines[2].split() == ["api_key", "…9Z7Q", f"({len(CANARY_KEY)}", "characters)", "OAS_API_KEY"]
    assert key_lines[3].startswith("✓ Signed in")
    assert login_lines[2].startswith(f"✗ {LOGIN_REJECTED.symptom}")
    assert [line.split() for line in login_lines[3:6]] == [
        ["username", DEMO_USERNAME, "username", "in", str(config)],
        ["email", DEMO_EMAIL, "OAS_EMAIL"],
        ["password", "set", "(hidden)", "OAS_PASSWORD"],
    ]
    assert login_lines[6].startswith("✓ Listed organisations")
    for result in (wrong_key, wrong_password):
        assert "timeout" not in result.stdout  # only the settings of the check that failed
        assert result.stdout.endswith(
            "\n1 failed, 0 not checked.\noas-mcp check --verbose also prints every setting and where it came from.\n"
        )
        assert CANARY_KEY[:-4] not in result.stdout + result.stderr
        assert CANARY_PASSWORD not in result.stdout + result.stderr


def test_an_unreachable_url_fails_the_first_check_skips_the_rest_and_shows_no_secret() -> None:
    port = free_port()
    result = command(
        "check",
        OAS_BASE_URL=f"http://127.0.0.1:{port}",
        OAS_API_KEY=CANARY_KEY,
        OAS_MAX_RETRIES="0",  # it can only fail again: no wait for nothing
        **{
            "OAS_USERNAME": "someone",
            "OAS_EMAIL": "someone@example.com",
            "OAS_PASSWORD": CANARY_PASSWORD,
        },
    )
    checks = check_lines(result.stdout)

    assert result.returncode == 1
    assert checks[0].startswith(f"✗ {UNREACHABLE.symptom}: cannot reach http://127.0.0.1:")
    assert "(base URL from OAS_BASE_URL)" in checks[0]
    assert checks[0].endswith(f"Fix: {UNREACHABLE.fix}")
    assert [line[0] for line in checks[1:]] == ["-", "-", "-"]
    assert result.stdout.splitlines()[1].split()[:2] == ["base_url", f"http://127.0.0.1:{port}"]
    assert "\n1 failed, 3 not checked.\n" in result.stdout
    assert CANARY_KEY not in result.stdout + result.stderr
    assert CANARY_KEY[:-4] not in result.stdout + result.stderr
    assert CANARY_PASSWORD not in result.stdout + result.stderr


async def test_a_wrong_key_fails_the_key_check_only(sandbox: Sandbox) -> None:
    checks = await lines(sandbox, api_key=CANARY_KEY)

    assert checks[0].startswith("✓ The OAS API answers")
    assert checks[1].startswith(f"✗ {KEY_REJECTED.symptom}: GET /helloworld answered HTTP 401")
    assert "(key …9Z7Q from --api-key)" in checks[1]
    assert checks[1].endswith(f"Fix: {KEY_REJECTED.fix}")
    assert [line[0] for line in checks[2:]] == ["✓", "✓"]  # the tools sign in instead
    assert all(CANARY_KEY[:-4] not in line for line in checks)


async def test_a_wrong_password_fails_the_login_check(sandbox: Sandbox) -> None:
    checks = await lines(sandbox, password=CANARY_PASSWORD)

    assert checks[2].startswith(f"✗ {LOGIN_REJECTED.symptom}: login failed: Unable to log in")
    assert "password from --password" in checks[2]
    assert checks[2].endswith(f"Fix: {LOGIN_REJECTED.fix}")
    assert CANARY_PASSWORD not in " ".join(checks)


async def test_missing_credentials_name_the_settings_to_set(sandbox: Sandbox) -> None:
    checks = await lines(sandbox, api_key="", username="", email="", password="")

    assert checks[0].startswith("✓")
    assert checks[1] == f"✗ {NO_KEY.symptom}: OAS_API_KEY is empty. Fix: {NO_KEY.fix}"
    assert checks[2] == f"✗ {NO_LOGIN.symptom}: OAS_USERNAME, OAS_EMAIL, OAS_PASSWORD not set. Fix: {NO_LOGIN.fix}"
    assert checks[3].startswith("✗ The OAS API rejected the API key: GET /api/organisations/ answered HTTP 401")


@pytest.mark.parametrize(
    ("fault", "answered"),
    [
        (
            Fault("GET /helloworld", body=b"<html>Welcome</html>", content_type="text/html"),
            "HTTP 200 with an HTML page",
        ),
        (Fault("GET /helloworld", body=b"Welcome to nginx", content_type="text/plain"), "'Welcome to nginx'"),
    ],
)
async def test_a_web_page_instead_of_the_api_is_named(sandbox: Sandbox, fault: Fault, answered: str) -> None:
    sandbox.inject(fault)

    checks = await lines(sandbox)

    assert checks[0].startswith(f"✗ {NOT_THE_API.symptom}: GET /helloworld answered {answered}")
    assert checks[0].endswith(f"Fix: {NOT_THE_API.fix}")


async def test_a_token_whose_expiry_is_no_date_passes_the_login_check(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("POST /api/auth/login/", body=login_answer(1_777_000_000_000)))  # exp in milliseconds

    checks = await lines(sandbox)

    assert checks[2] == "✓ Signed in as demo (demo@sandbox.oas.invalid); the token does not say when it expires."
    assert [line[0] for line in checks] == ["✓"] * 4


async def test_a_response_too_large_names_the_route_the_size_and_the_setting(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("GET /api/organisations/", body=b"[" + b" " * 2046 + b"]"))

    checks = await lines(sandbox, max_response_bytes=1024)

    assert checks[3] == (
        f"✗ {TOO_LARGE.symptom}: GET /api/organisations/ answered HTTP 200 with a body of 2,048 bytes, over the "
        f"1,024-byte limit. Fix: {TOO_LARGE.fix}"
    )
    assert "OAS_MAX_RESPONSE_BYTES" in TOO_LARGE.fix


def test_every_problem_has_a_distinct_symptom_and_a_fix() -> None:
    assert len({problem.symptom for problem in PROBLEMS}) == len(PROBLEMS)
    assert all(problem.fix.endswith(".") and problem.symptom[0].isupper() for problem in PROBLEMS)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``check`` configures logging for the process; put it back for the next tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.mark.usefixtures("restore_logging")
def test_a_rejected_key_makes_the_command_exit_1_without_showing_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        oas_mcp.cli.options, "DEMO_API_KEY", CANARY_KEY
    )  # what --sandbox sends; the sandbox wants another

    code = main(["check", "--sandbox"])

    printed = capsys.readouterr()
    assert code == 1
    assert [line[0] for line in check_lines(printed.out)] == ["✓", "✗", "✓", "✓"]
    assert f"✗ {KEY_REJECTED.symptom}: GET /helloworld answered HTTP 401" in printed.out
    assert "\n1 failed, 0 not checked.\n" in printed.out
    assert CANARY_KEY[:-4] not in printed.out + printed.err


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault("GET /api/organisations/", times=None, status=503, body=b'{"detail": "Down."}'), API_FAILING),
        (Fault("GET /api/organisations/", times=None, status=429, headers={"Retry-After": "0.1"}), RATE_LIMITED),
        (Fault("GET /api/organisations/", times=None, status=403, body=b'{"detail": "Not approved."}'), FORBIDDEN),
        (Fault("GET /api/organisations/", times=None, status=418, body=b'{"detail": "Teapot."}'), API_ERROR),
        (Fault("GET /api/organisations/", times=None, delay=60), TIMEOUT),
    ],
)
async def test_each_kind_of_api_failure_gets_its_own_fix(sandbox: Sandbox, fault: Fault, problem: Problem) -> None:
    sandbox.inject(fault)

    checks = await lines(sandbox, timeout=0.5, max_retries=1)  # retried once, still failing: its own fix

    assert checks[3].startswith(f"✗ {problem.symptom}: GET /api/organisations/")
    assert checks[3].endswith(f"Fix: {problem.fix}")

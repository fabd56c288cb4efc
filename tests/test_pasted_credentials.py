"""A credential pasted with blanks around it (a settings field, a copied line) works, wherever it is set; one with a
line break or another control character inside is refused, naming its setting; and a request HTTP cannot carry is
never blamed on the network."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from oas_mcp.client import OASClient, RequestNotSentError
from oas_mcp.problems import NOT_SENT, failure_of
from oas_mcp.sandbox import DEMO_API_KEY, SANDBOX_URL, Fault, Sandbox
from oas_mcp.server.errors import describe
from oas_mcp.settings import Settings, SettingsError

from support import command, error_text, sandbox_api, server_for

CREDENTIALS = ("api_key", "username", "email", "password", "mcp_token", "oauth_client_secret")
VALUE = "Xy9-Kq2_Lm8.Zt4!Rw7#pQ0"  # good enough for any of them, the client token included
PASTED = f" \t{VALUE}\r\n"


def value_of(settings: Settings, name: str) -> object:
    value = getattr(settings, name)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@pytest.mark.parametrize("name", CREDENTIALS)
def test_blanks_around_a_credential_in_the_environment_are_dropped(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(f"OAS_{name.upper()}", PASTED)  # a Claude Desktop bundle's field arrives the same way

    assert value_of(Settings.load(), name) == VALUE


@pytest.mark.parametrize("name", CREDENTIALS)
def test_blanks_around_a_credential_in_the_config_file_are_dropped(tmp_path: Path, name: str) -> None:
    config = tmp_path / "oas.toml"
    config.write_text(f'{name} = " \\t{VALUE}\\r\\n"\n')

    assert value_of(Settings.load(config), name) == VALUE


def test_blanks_around_a_key_in_its_file_or_given_as_a_flag_are_dropped(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(PASTED)

    assert value_of(Settings.load(None, api_key_file=key_file), "api_key") == VALUE
    assert value_of(Settings.load(None, api_key=PASTED), "api_key") == VALUE


@pytest.mark.parametrize("inside", ["\n", "\r", "\t", "\x1b", "\x7f", "\u0085", "\u2028"])
@pytest.mark.parametrize("name", CREDENTIALS)
def test_a_control_character_inside_a_credential_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, inside: str
) -> None:
    variable = f"OAS_{name.upper()}"
    monkeypatch.setenv(variable, f"{VALUE[:9]}{inside}{VALUE[9:]}")

    with pytest.raises(SettingsError) as caught:
        Settings.load()

    assert str(caught.value) == (
        f"invalid setting {variable}: has a line break, tab or other control character inside: paste it again, on "
        "one line"
    )


def test_a_line_break_inside_a_key_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"{VALUE}\n{VALUE}\n")

    with pytest.raises(SettingsError) as caught:
        Settings.load(None, api_key_file=key_file)

    assert str(caught.value).startswith(f"invalid setting --api-key-file: the value in {key_file} has a line break")
    assert VALUE not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("Sandbox0.Demo KeyForTheOasMcpSandboxOnly01", "has a space inside, which no API key has"),
        ("Sandbox0.DémoKeyForTheOasMcpSandboxOnly01", "has a character other than ASCII letters, digits and punct"),
        ("K" * 513, "is longer than 512 characters, which no API key is"),
    ],
)
def test_an_api_key_no_key_could_be_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, key: str, problem: str
) -> None:
    monkeypatch.setenv("OAS_API_KEY", key)

    with pytest.raises(SettingsError) as caught:
        Settings.load()

    assert str(caught.value).startswith(f"invalid setting OAS_API_KEY: {problem}")
    assert key[:12] not in str(caught.value)


def test_a_pasted_key_works_with_a_real_api_and_check_refuses_a_broken_one_in_one_line() -> None:
    with sandbox_api() as api:
        called = command("call", "hello", OAS_BASE_URL=api, OAS_API_KEY=f" {DEMO_API_KEY}\n")
    checked = command("check", OAS_API_KEY=f"{DEMO_API_KEY[:9]}\n{DEMO_API_KEY[9:]}")  # refused before any request

    assert called.returncode == 0, called.stdout + called.stderr
    assert '"Hello world @demo"' in called.stdout
    assert (checked.returncode, checked.stdout) == (2, "")  # not "✓ The OAS API answers", then "✗ ... unreachable"
    assert checked.stderr == (
        "oas-mcp: invalid setting OAS_API_KEY: has a line break, tab or other control character inside: paste it "
        "again, on one line\n"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("key", [f" {DEMO_API_KEY}\n", f"{DEMO_API_KEY[:9]}\n{DEMO_API_KEY[9:]}", f"{DEMO_API_KEY}é"])
async def test_a_key_http_cannot_carry_is_not_sent_and_the_network_is_not_blamed(key: str) -> None:
    sandbox = Sandbox()
    async with OASClient(SANDBOX_URL, api_key=key, transport=sandbox.transport()) as oas:
        with pytest.raises(RequestNotSentError) as caught:
            await oas.hello()

    text = describe(caught.value)
    assert (caught.value.header, caught.value.attempts, sandbox.served) == ("X-Api-Key", 1, 0)  # no retry, nothing sent
    assert text == (
        "The API key from OAS_API_KEY cannot be sent: it holds a line break, a blank at an end or a character other "
        "than ASCII. Correct OAS_API_KEY; nothing reached the OAS API."
    )
    assert failure_of(caught.value).problem == NOT_SENT
    assert DEMO_API_KEY[:9] not in text + str(caught.value)


@pytest.mark.anyio
async def test_a_request_the_http_library_refuses_to_send_is_a_local_error() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.LocalProtocolError("Illegal header value b'[redacted]\\n'")

    async with OASClient(SANDBOX_URL, api_key=DEMO_API_KEY, transport=httpx2.MockTransport(refuse)) as oas:
        with pytest.raises(RequestNotSentError) as caught:
            await oas.hello()

    assert caught.value.header is None
    assert caught.value.attempts == 1
    assert describe(caught.value) == (
        "GET /helloworld was not sent: Illegal header value b'[redacted]\\n'; nothing reached the OAS API."
    )


@pytest.mark.anyio
@pytest.mark.parametrize("token", ["tok\nen-from-a-hostile-api", "tokén-from-a-hostile-api"])
async def test_a_session_token_http_cannot_carry_is_a_clear_tool_error_not_a_crash(token: str) -> None:
    sandbox = Sandbox()
    body = {"access": token, "user": {"id": 1, "username": "demo", "email": "demo@sandbox.oas.invalid"}}
    sandbox.inject(Fault("POST /api/auth/login/", body=json.dumps(body)))
    async with Client(server_for(sandbox, api_key="")) as client:
        text = error_text(await client.call_tool("list_organisations", {}))

    assert text == (
        "GET /api/organisations/ was not sent: its Authorization header holds a line break, a blank at an end or a "
        "character other than ASCII; nothing reached the OAS API."
    )

"""Secrets from files (``OAS_API_KEY_FILE``, ``OAS_PASSWORD_FILE``, ``OAS_MCP_TOKEN_FILE``): read as settings load,
checked and masked as the variable would be, refused beside the variable, and named as the source by ``check``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from oas_mcp.cli.options import make_client
from oas_mcp.client import OASError
from oas_mcp.sandbox import DEMO_API_KEY, DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, SANDBOX_URL, Fault, Sandbox
from oas_mcp.server.errors import describe
from oas_mcp.settings import SECRET_FILES, Settings, SettingsError, env_name

from support import command, sandbox_api

pytestmark = pytest.mark.anyio

TOKEN = "Xq7-mP2_vL9kR4tN8wZ1"
GOOD = {"api_key": DEMO_API_KEY, "password": DEMO_PASSWORD, "mcp_token": TOKEN, "oauth_client_secret": TOKEN}


def secret_file(tmp_path: Path, text: str, name: str = "secret") -> Path:
    """``tmp_path/name``, holding ``text``, readable by its owner alone (as a secret's file should be)."""
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def kubernetes_secret(volume: Path, name: str, text: str) -> Path:
    """``volume/name`` as Kubernetes mounts a secret: a symlink to ``..data/name``, ``..data`` a symlink to the
    folder of the current version (swapped at once when the secret changes), the file in it mode 0400."""
    version = volume / "..2025_06_01_12_00_00.000000001"
    version.mkdir()
    (version / name).write_text(text)
    (version / name).chmod(0o400)
    (volume / "..data").symlink_to(version.name)
    (volume / name).symlink_to(Path("..data", name))
    return volume / name


def named_pipe(folder: Path) -> Path:
    os.mkfifo(folder / "pipe")
    return folder / "pipe"


def symlink(path: Path, target: str) -> Path:
    path.symlink_to(target)
    return path


def test_each_secret_that_has_a_variable_has_a_file_too() -> None:
    assert SECRET_FILES == {
        "api_key": "api_key_file",
        "password": "password_file",
        "mcp_token": "mcp_token_file",
        "oauth_client_secret": "oauth_client_secret_file",
    }


@pytest.mark.parametrize("secret", SECRET_FILES)
def test_the_secret_is_read_from_its_file_without_the_newline(
    secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = secret_file(tmp_path, f"{GOOD[secret]}\n")
    monkeypatch.setenv(env_name(SECRET_FILES[secret]), str(path))

    settings = Settings.load()

    assert getattr(settings, secret).get_secret_value() == GOOD[secret]
    assert settings.source(secret) == f"{path} via {env_name(SECRET_FILES[secret])}"
    assert GOOD[secret] not in repr(settings)


@pytest.mark.parametrize("secret", SECRET_FILES)
def test_setting_both_the_variable_and_its_file_is_an_error(
    secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env_name(SECRET_FILES[secret]), str(secret_file(tmp_path, GOOD[secret])))
    monkeypatch.setenv(env_name(secret), GOOD[secret])

    with pytest.raises(SettingsError) as raised:
        Settings.load()

    assert str(raised.value) == f"set {env_name(secret)} or {env_name(SECRET_FILES[secret])}, not both"


def test_the_variable_and_a_file_named_in_the_config_file_are_both_set_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = secret_file(tmp_path, DEMO_API_KEY)
    config = secret_file(tmp_path, f'api_key_file = "{key_file}"\n', "oas.toml")
    monkeypatch.setenv("OAS_API_KEY", DEMO_API_KEY)

    with pytest.raises(SettingsError, match=f"^set OAS_API_KEY or api_key_file in {config}, not both$"):
        Settings.load(config)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        ("  \n", "is empty"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_an_empty_or_unreadable_file_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str | bytes, expected: str
) -> None:
    path = tmp_path / "key"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    monkeypatch.setenv("OAS_API_KEY_FILE", str(path))

    with pytest.raises(SettingsError) as raised:
        Settings.load()

    message = str(raised.value)
    assert message in (f"{path} (OAS_API_KEY_FILE) {expected}", f"cannot read {path} (OAS_API_KEY_FILE): {expected}")


# What is not a secret's file is refused before it is read (/dev/zero was read forever, a named pipe waited for a
# writer), after following symlinks; a file others can read is named in a warning.
NOT_SECRET_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "a device": (lambda folder: Path("/dev/zero"), "it is a character device, not a file"),
    "a symlink to a device": (
        lambda folder: symlink(folder / "link", "/dev/zero"),
        "it is a character device, not a file",
    ),
    "a named pipe": (named_pipe, "it is a named pipe, not a file"),
    "a folder": (lambda folder: folder, "it is a folder, not a file"),
    "too large": (
        lambda folder: secret_file(folder, "k" * (64 * 1024 + 1)),
        "it is larger than 64 KiB, which no secret is",
    ),
}


@pytest.mark.parametrize("problem", NOT_SECRET_FILES)
def test_a_secret_file_is_a_regular_file_of_at_most_64_kib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    make, expected = NOT_SECRET_FILES[problem]
    path = make(tmp_path)
    monkeypatch.setenv("OAS_API_KEY_FILE", str(path))

    with pytest.raises(SettingsError) as raised:
        Settings.load()

    assert str(raised.value) == f"cannot read {path} (OAS_API_KEY_FILE): {expected}"


def test_a_kubernetes_secret_is_read_through_its_symlinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = kubernetes_secret(tmp_path, "api-key", f"{DEMO_API_KEY}\n")
    monkeypatch.setenv("OAS_API_KEY_FILE", str(path))

    with caplog.at_level(logging.WARNING):
        settings = Settings.load()

    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == DEMO_API_KEY
    assert caplog.records == []


def test_a_secret_file_others_can_read_is_named_in_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = secret_file(tmp_path, DEMO_API_KEY)
    path.chmod(0o644)
    monkeypatch.setenv("OAS_API_KEY_FILE", str(path))

    with caplog.at_level(logging.WARNING):
        Settings.load()
        Settings.load()

    assert [record.getMessage() for record in caplog.records] == [
        f"{path} (OAS_API_KEY_FILE) can be read by others than its owner (mode 0644): chmod 600 {path}"
    ]


def test_a_config_file_with_a_secret_that_others_can_read_is_named_in_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same secret is named when it is in a secret's file others can read: so it is in the config file."""
    holding = tmp_path / "oas-mcp.toml"
    holding.write_text(f'api_key = "{DEMO_API_KEY}"\n')
    holding.chmod(0o644)
    without = tmp_path / "plain.toml"
    without.write_text('base_url = "https://api.example.test"\n')
    without.chmod(0o644)

    with caplog.at_level(logging.WARNING):
        for path in (holding, holding, without):
            Settings.load(path)

    assert [record.getMessage() for record in caplog.records] == [
        f"config file {holding}, which holds api_key, can be read by others than its owner (mode 0644): "
        f"chmod 600 {holding}"
    ]


def test_a_missing_file_stops_the_command_with_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = command("check", OAS_PASSWORD_FILE=str(tmp_path / "nothing"))

    assert result.returncode == 2
    missing = tmp_path / "nothing"
    assert result.stderr == f"oas-mcp: cannot read {missing} (OAS_PASSWORD_FILE): No such file or directory\n"


def test_the_file_gets_the_variables_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = secret_file(tmp_path, "<your OAS API key>\n")
    monkeypatch.setenv("OAS_API_KEY_FILE", str(path))

    with pytest.raises(SettingsError) as raised:
        Settings.load()

    assert str(raised.value) == (
        f"invalid setting OAS_API_KEY_FILE: the value in {path} is still a placeholder such as <your OAS API key>; "
        "put the real value there"
    )


def test_a_flag_beats_the_file_which_is_then_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAS_API_KEY_FILE", str(tmp_path / "nothing"))

    settings = Settings.load(None, {"api_key": "--sandbox"}, api_key=DEMO_API_KEY)

    assert settings.source("api_key") == "--sandbox"


async def test_a_key_from_a_file_is_masked_where_the_api_echoes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "FileKey0.OnlyThisTestKnowsItsValue0000001"
    monkeypatch.setenv("OAS_API_KEY_FILE", str(secret_file(tmp_path, key)))
    sandbox = Sandbox()
    sandbox.inject(Fault("GET /helloworld", status=401, body=json.dumps({"detail": f"Invalid key {key}."})))

    async with make_client(Settings.load(base_url=SANDBOX_URL), sandbox.transport()) as oas:
        with pytest.raises(OASError) as raised:
            await oas.hello()

    assert key not in describe(raised.value)
    assert "Invalid key" in describe(raised.value)


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    """The sandbox API the check commands below check (they only read from it)."""
    with sandbox_api() as url:
        yield url


def test_check_passes_with_secrets_from_files_and_says_where_they_came_from(tmp_path: Path, api: str) -> None:
    key_file, password_file = secret_file(tmp_path, DEMO_API_KEY, "key"), secret_file(tmp_path, DEMO_PASSWORD, "pw")
    result = command(
        "check",
        "--verbose",
        OAS_BASE_URL=api,
        OAS_API_KEY_FILE=str(key_file),
        OAS_PASSWORD_FILE=str(password_file),
        OAS_USERNAME=DEMO_USERNAME,
        OAS_EMAIL=DEMO_EMAIL,
    )
    table = {line.split()[0]: line.split(maxsplit=1)[1] for line in result.stdout.splitlines() if line.startswith("  ")}

    assert result.returncode == 0, result.stdout + result.stderr
    assert table["api_key"].split() == ["…ly01", "(41", "characters)", str(key_file), "via", "OAS_API_KEY_FILE"]
    assert table["api_key_file"].split() == [str(key_file), "OAS_API_KEY_FILE"]
    assert table["password"].split() == ["set", "(hidden)", str(password_file), "via", "OAS_PASSWORD_FILE"]
    assert f"The API key is accepted (key …ly01 from {key_file} via OAS_API_KEY_FILE)" in result.stdout
    assert DEMO_API_KEY not in result.stdout
    assert DEMO_PASSWORD not in result.stdout


def test_an_empty_variable_is_unset_so_the_config_files_key_is_used(tmp_path: Path, api: str) -> None:
    config = secret_file(tmp_path, f'api_key = "{DEMO_API_KEY}"\n', "oas.toml")

    result = command("check", "--config", str(config), OAS_API_KEY="", OAS_BASE_URL=api)

    assert f"✓ The API key is accepted (key …ly01 from api_key in {config})" in result.stdout

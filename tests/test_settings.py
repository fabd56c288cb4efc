"""Settings: sources and precedence, secrets kept out of sight, and one clear line for each bad setting."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oas_mcp.cli.main import _parser, main
from oas_mcp.cli.options import load_settings
from oas_mcp.settings import (
    FLAGS,
    SECRET_FILES,
    Settings,
    SettingsError,
    Use,
    check_combination,
    flag_name,
    token_weakness,
)

from support import command

USERINFO_REFUSED = (
    "must not hold a user name or password (user:password@host); the API takes OAS_API_KEY, "
    "and a proxy goes in HTTPS_PROXY (or HTTP_PROXY)"
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "oas.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    settings = Settings.load()

    assert settings.base_url == "https://oas-beta.ottomate.me"
    assert (settings.api_key, settings.username, settings.email, settings.password) == (None, None, None, None)
    assert (settings.timeout, settings.read_only, settings.log_level, settings.list_limit) == (30.0, False, "INFO", 100)
    assert (settings.transport, settings.host, settings.port) == ("stdio", "127.0.0.1", 8000)
    assert settings.http_path == "/mcp"
    assert (settings.stateless, settings.per_request_credentials, settings.mcp_token) == (False, False, None)
    assert (settings.allowed_hosts, settings.allowed_origins) == ([], [])


def test_flags_beat_environment_beat_file_beat_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 'timeout = 5\nlog_level = "debug"\nread_only = true\nusername = "file-user"\n')
    monkeypatch.setenv("OAS_TIMEOUT", "7")
    monkeypatch.setenv("OAS_LOG_LEVEL", "warning")

    settings = Settings.load(path, log_level="ERROR")

    assert settings.timeout == 7  # environment over file
    assert settings.log_level == "ERROR"  # flag over environment
    assert settings.read_only is True
    assert settings.username == "file-user"
    assert settings.list_limit == 100


def test_the_file_can_come_from_oas_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAS_CONFIG", str(write(tmp_path, "list_limit = 7\n")))

    assert Settings.load().list_limit == 7


def test_secrets_never_show_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAS_API_KEY", "Canary01.keykeykeykeykeykeykeykeykeykeykeyk")
    monkeypatch.setenv("OAS_PASSWORD", "canary-password")

    settings = Settings.load()

    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert "Canary01" not in text
        assert "canary-password" not in text
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value().startswith("Canary01")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://oas-beta.ottomate.me/", "https://oas-beta.ottomate.me"),
        ("https://oas-beta.ottomate.me/api/docs/", "https://oas-beta.ottomate.me"),
        ("http://localhost:8080/oas/api/", "http://localhost:8080/oas"),
        ("  https://oas.example  ", "https://oas.example"),
    ],
)
def test_base_url_is_normalised(given: str, expected: str) -> None:
    assert Settings.load(base_url=given).base_url == expected


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("OAS_BASE_URL", "oas-beta.ottomate.me", "invalid setting OAS_BASE_URL: must be an http:// or https:// URL"),
        ("OAS_BASE_URL", "https://x.test/?a=1", "invalid setting OAS_BASE_URL: must not have a query"),
        ("OAS_TIMEOUT", "-1", "invalid setting OAS_TIMEOUT: Input should be greater than 0"),
        ("OAS_TIMEOUT", "soon", "invalid setting OAS_TIMEOUT: Input should be a valid number"),
        ("OAS_READ_ONLY", "perhaps", "invalid setting OAS_READ_ONLY: Input should be a valid boolean"),
        ("OAS_LOG_LEVEL", "loud", "invalid setting OAS_LOG_LEVEL: Input should be 'DEBUG', 'INFO'"),
        ("OAS_LOG_FORMAT", "xml", "invalid setting OAS_LOG_FORMAT: Input should be 'text' or 'json'"),
        ("OAS_LIST_LIMIT", "0", "invalid setting OAS_LIST_LIMIT: Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as caught:
        Settings.load()

    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_a_bad_file_value_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "timeout = -3\n")

    with pytest.raises(SettingsError, match=f"invalid setting timeout in {path}: Input should be greater than 0"):
        Settings.load(path)


def test_an_unknown_file_key_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, 'api_kee = "x"\n')

    with pytest.raises(SettingsError, match=r"unknown setting 'api_kee'; known settings are base_url, api_key"):
        Settings.load(path)


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="is not valid TOML"):
        Settings.load(write(tmp_path, "timeout = = 3\n"))


def test_a_config_file_that_is_not_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'base_url = "\xff"\n')

    with pytest.raises(SettingsError, match=r"cannot read config file .*config\.toml: not UTF-8 text"):
        Settings.load(path)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: path.symlink_to("/dev/zero"), "it is a character device, not a file"),
        (lambda path: path.write_bytes(b"# padding\n" * 110_000), "it is larger than 1024 KiB"),
    ],
    ids=["a device behind a symlink", "over 1 MiB"],
)
def test_a_config_file_that_is_no_file_or_too_large_is_refused_at_once(
    tmp_path: Path, make: Callable[[Path], object], reason: str
) -> None:
    path = tmp_path / "config.toml"
    make(path)

    with pytest.raises(SettingsError, match=rf"cannot read config file .*config\.toml: {reason}"):
        Settings.load(path)


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"cannot read config file .*missing\.toml: No such file"):
        Settings.load(tmp_path / "missing.toml")


def test_a_secret_in_a_bad_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAS_BASE_URL", "not-a-url-with-secret-inside")

    with pytest.raises(SettingsError) as caught:
        Settings.load()

    assert "secret-inside" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["https://me:s3cret-pw@oas.example", "http://s3cret-pw@oas.example:8080/", "https://me:s3cret-pw@oas.example/api/"],
)
def test_a_base_url_with_credentials_is_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load(base_url=url)

    assert str(caught.value) == f"invalid setting --base-url: {USERINFO_REFUSED}"
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("args", [("check",), ("config", "claude-code")])
def test_commands_refuse_a_base_url_with_a_password_without_showing_it(args: tuple[str, ...]) -> None:
    result = command(*args, OAS_BASE_URL="https://someone:hunter2-secret@oas.example")

    assert "hunter2" not in result.stdout + result.stderr
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"oas-mcp: invalid setting OAS_BASE_URL: {USERINFO_REFUSED}\n"


EXAMPLE_TOKEN = "<a token made by the command above>"


def test_the_example_config_documents_every_setting_with_a_valid_value(tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "config.example.toml").read_text()
    lines = [line.removeprefix("# ") for line in text.splitlines() if not line.startswith("##")]
    # A secret's file is an error beside the secret itself: only the secrets are loaded.
    uncommented = "\n".join(line for line in lines if line.split(" = ")[0] not in SECRET_FILES.values())
    uncommented = uncommented.replace(EXAMPLE_TOKEN, secrets.token_urlsafe(32))  # a placeholder, refused as it is

    settings = Settings.load(write(tmp_path, uncommented))

    documented = {line.split(" = ")[0].removeprefix("# ") for line in text.splitlines() if " = " in line}
    assert documented == set(Settings.model_fields)
    assert settings.api_key is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mcp.example.com", ["mcp.example.com"]),
        ("mcp.example.com, Other.Example:8443", ["mcp.example.com", "other.example:8443"]),
        ('["mcp.example.com", "[::1]:8000"]', ["mcp.example.com", "[::1]:8000"]),
        ("", []),
    ],
)
def test_allowed_hosts_from_the_environment_are_comma_separated_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("OAS_ALLOWED_HOSTS", value)

    assert Settings.load().allowed_hosts == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"allowed_hosts": ["https://mcp.example.com"]}, "invalid setting --allowed-host: 'https://mcp.example.com'"),
        ({"allowed_hosts": ["mcp.example.com/mcp"]}, "invalid setting --allowed-host: 'mcp.example.com/mcp' is not"),
        ({"allowed_origins": ["app.example.com"]}, "invalid setting --allowed-origin: 'app.example.com' is not an"),
        ({"allowed_origins": ["https://app.example.com/x"]}, "invalid setting --allowed-origin: 'https://app.example"),
        ({"http_path": "mcp"}, "invalid setting --path: must be a URL path such as /mcp"),
        ({"trusted_proxies": ["*"]}, "invalid setting --trusted-proxies: '*' is not an IP address or network such as"),
        ({"trusted_proxies": ["lb.example"]}, "invalid setting --trusted-proxies: 'lb.example' is not an IP address"),
        ({"port": 70000}, "invalid setting --port: Input should be less than or equal to 65535"),
        ({"host": "http://0.0.0.0"}, "invalid setting --host: must be an address or host name to bind"),
        ({"mcp_token": "short"}, "invalid setting --mcp-token: must be at least 16 characters; make one with"),
        ({"max_sessions": 0}, "invalid setting --max-sessions: Input should be greater than or equal to 1"),
        ({"session_idle_timeout": 0}, "invalid setting --session-idle-timeout: Input should be greater than or equal"),
    ],
)
def test_bad_http_settings_are_refused_with_the_flag_named(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load(**overrides)

    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize(
    "token",
    ["a" * 16, "abc" * 11, "1234567890123456", "abcdefghijklmnopqrstuvwxyz", "0123456789abcdef" * 2, "Aa1!" * 4],
)
def test_an_obviously_guessable_client_token_is_refused_with_how_to_make_a_good_one(token: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load(mcp_token=token)

    assert str(caught.value) == (
        "invalid setting --mcp-token: is too easy to guess: a token needs 8 different characters or more, and no "
        "pattern such as aaaa, abcabc or 1234; "
        "make one with python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    )


def test_the_example_configs_token_placeholder_is_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load(mcp_token=EXAMPLE_TOKEN)

    assert str(caught.value).startswith("invalid setting --mcp-token: is still the example's placeholder; make one")


def test_random_client_tokens_are_accepted() -> None:
    tokens = [make(size) for make, size in [(secrets.token_urlsafe, 32), (secrets.token_hex, 16)] for _ in range(200)]

    assert [token for token in tokens if token_weakness(token) is not None] == []  # what the setting checks
    for token in tokens[::100]:  # and a few through the settings themselves (a load costs 7 ms)
        settings = Settings.load(mcp_token=token)
        assert settings.mcp_token is not None
        assert settings.mcp_token.get_secret_value() == token


def test_http_settings_are_normalised() -> None:
    settings = Settings.load(
        host="[::1]",
        http_path="/oas/mcp/",
        mcp_token="  a-token-of-sixteen-or-more  ",
        allowed_origins=["HTTPS://A.X/"],
    )

    assert (settings.host, settings.http_path, settings.allowed_origins) == ("::1", "/oas/mcp", ["https://a.x"])
    assert settings.mcp_token is not None
    assert settings.mcp_token.get_secret_value() == "a-token-of-sixteen-or-more"


def test_each_setting_knows_where_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 'username = "file-user"\ntimeout = 5\n')
    monkeypatch.setenv("OAS_TIMEOUT", "7")

    settings = Settings.load(path, {"base_url": "--sandbox"}, read_only=True, base_url="http://x.test")

    assert settings.source("read_only") == "--read-only"
    assert settings.source("base_url") == "--sandbox"
    assert settings.source("timeout") == "OAS_TIMEOUT"
    assert settings.source("username") == f"username in {path}"
    assert settings.source("list_limit") == "default"


@pytest.mark.parametrize("variable", ["OAS_API_KEY", "OAS_USERNAME", "OAS_EMAIL", "OAS_PASSWORD"])
def test_a_placeholder_left_in_a_client_config_is_refused(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "<your OAS value>")

    with pytest.raises(SettingsError, match=f"invalid setting {variable}: is still a placeholder"):
        Settings.load()


FLAG_EXAMPLES = {
    "read_only": ([], True),
    "log_level": (["debug"], "DEBUG"),
    "log_format": (["JSON"], "json"),
    "transport": (["http"], "http"),
    "host": (["0.0.0.0"], "0.0.0.0"),
    "port": (["0"], 0),
    "http_path": (["/oas/mcp/"], "/oas/mcp"),
    "stateless": ([], True),
    "allowed_hosts": (["Mcp.Example.com", "--allowed-host", "other.example"], ["mcp.example.com", "other.example"]),
    "allowed_origins": (["https://app.example.com"], ["https://app.example.com"]),
    "per_request_credentials": ([], True),
}


def test_the_examples_cover_every_flag() -> None:
    assert set(FLAG_EXAMPLES) == set(FLAGS)


@pytest.mark.parametrize("name", FLAG_EXAMPLES)
def test_each_flag_serve_lists_sets_its_setting_and_is_named_as_its_origin(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    values, expected = FLAG_EXAMPLES[name]

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    settings = load_settings(_parser().parse_args(["serve", flag_name(name), *values]))

    assert flag_name(name) in capsys.readouterr().out.split()
    assert (getattr(settings, name), settings.source(name)) == (expected, flag_name(name))


@pytest.mark.parametrize("variable", ["OAS_API_KEY", "OAS_USERNAME", "OAS_EMAIL", "OAS_PASSWORD"])
def test_a_claude_desktop_field_left_empty_counts_as_unset(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    name = variable.removeprefix("OAS_").lower()
    monkeypatch.setenv(variable, f"${{user_config.{name}}}")  # what the bundle host passes when the field is empty

    assert getattr(Settings.load(), name) is None


@pytest.mark.parametrize("reference", ["${OAS_API_KEY:-}", "${OAS_API_KEY}"])
def test_a_reference_the_client_did_not_fill_in_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch, reference: str
) -> None:
    monkeypatch.setenv("OAS_API_KEY", reference)  # a client that does not expand what `oas-mcp config` wrote

    assert Settings.load().api_key is None


ISSUER, PUBLIC_URL = "https://login.example.com/realms/team", "https://mcp.example.com/mcp"
CLIENT_TOKEN = "test-client-token-0123456789"


@pytest.mark.parametrize(
    ("use", "values", "insecure_no_auth", "refusal"),
    [
        ("serve", {"per_request_credentials": True}, False, "per-request credentials need --transport http: stdio"),
        ("serve", {"transport": "http", "public_url": PUBLIC_URL}, False, "OAS_PUBLIC_URL is only used with OAuth"),
        ("serve", {"transport": "http", "oauth_issuer": ISSUER}, False, "OAS_OAUTH_ISSUER needs OAS_PUBLIC_URL"),
        ("serve", {"transport": "http", "mcp_token": CLIENT_TOKEN}, True, "--insecure-no-auth contradicts the client"),
        ("serve", {"transport": "http", "host": "0.0.0.0"}, False, "refusing to serve MCP on 0.0.0.0 without auth"),
        ("serve", {"transport": "http", "host": "0.0.0.0"}, True, "serving MCP on 0.0.0.0 needs the host names"),
        ("accounts", {"database_url": "postgresql://db.example", "accounts_path": "a"}, False, "set --database-url or"),
        # Over stdio the HTTP settings are not used: none of them is refused.
        ("serve", {"oauth_issuer": ISSUER, "mcp_token": CLIENT_TOKEN, "host": "0.0.0.0"}, True, None),
        ("serve", {"transport": "http", "host": "0.0.0.0", "allowed_hosts": "mcp.example.com"}, True, None),
        ("accounts", {"transport": "http", "public_url": PUBLIC_URL, "per_request_credentials": True}, False, None),
    ],
)
def test_one_function_tells_which_settings_go_together(
    use: Use, values: dict[str, Any], insecure_no_auth: bool, refusal: str | None
) -> None:
    settings = Settings.load(**values)

    if refusal is None:
        check_combination(settings, use, insecure_no_auth=insecure_no_auth)
    else:
        with pytest.raises(SettingsError, match=f"^{re.escape(refusal)}"):
            check_combination(settings, use, insecure_no_auth=insecure_no_auth)

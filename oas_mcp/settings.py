"""Settings: defaults < TOML file < environment (``OAS_*``) < command-line flags."""

from __future__ import annotations

import ipaddress
import itertools
import json
import logging
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypeVar, get_args
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from oas_mcp import DEFAULT_BASE_URL, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_PAGE_CONCURRENCY

MAX_LIST_LIMIT = 10_000
MAX_PAGE_CONCURRENCY = 32
ENV_PREFIX = "OAS_"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)
LogFormat = Literal["text", "json"]
MIN_TOKEN_LENGTH = 16
MIN_TOKEN_VARIETY = 8  # different characters, and different steps between neighbours, a client token needs
MAX_SECRET_FILE_BYTES = 64 * 1024
"""The largest secret file read: a secret, or a few keys, is far smaller (``/dev/zero`` is not read forever)."""
MAX_CONFIG_FILE_BYTES = 1024 * 1024
LINK_PAGE_PATH = "/link"
"""Where the link page of linked accounts is served, under the public URL's origin: ``/link/callback`` there is the
redirect URI its client is registered with at the issuer."""
"""The largest config file read."""
MAKE_TOKEN = "make one with python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
MAX_KEY_LENGTH = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PORT = r"(?::(?:\d{1,5}|\*))?"
_HOST = r"(?:\[[0-9a-f:.]+\]|[^\s/:@\[\]]+)"
# Patterns compiled (and cached by re) when first used, not at start-up.
_HOST_PATTERN = f"{_HOST}{_PORT}"
_ORIGIN_PATTERN = f"https?://{_HOST}{_PORT}"
_SCOPE_PATTERN = r"[\x21\x23-\x5b\x5d-\x7e]+"
# A reference a client did not fill in: a Claude Desktop bundle's for a field its user left empty, or the
# ${OAS_API_KEY:-} of an entry `oas-mcp config` wrote, from a client that did not expand it.
_UNFILLED_REFERENCE = r"\$\{(?:user_config\.\w+|[A-Z_][A-Z0-9_]*(?::-)?)\}"
# A list from the environment may be comma-separated (``a.example,b.example``) or a JSON array.
Names = Annotated[list[str], NoDecode]
T = TypeVar("T")
logger = logging.getLogger("oas_mcp.settings")


# The marks below are named tuples, not frozen dataclasses: as immutable, at a fifth of the cost at start-up.


class Flag(NamedTuple):
    """A setting's command-line flag: ``--<name with dashes>`` unless ``name`` says otherwise. Its help is the
    setting's description; ``parse`` reads the value given (argparse's ``type``), else the setting's type does."""

    name: str | None = None
    metavar: str | None = None
    parse: Callable[[str], object] | None = None


class Credential(NamedTuple):
    """A setting that signs in to the OAS API; ``label`` is what ``oas-mcp config`` calls it when it asks for it."""

    label: str


class HTTPOnly(NamedTuple):
    """A setting of serving MCP over HTTP (or of choosing to): only ``serve`` has its flag, and ``oas-mcp config``
    never puts it in a stdio client's configuration."""


HTTP_ONLY = HTTPOnly()


class SecretFile(NamedTuple):
    """A setting naming a file that holds setting ``secret`` (a Docker or Kubernetes secret, a systemd credential):
    the file is read as settings load, and its text is checked and masked as the secret itself would be."""

    secret: str


def env_name(name: str) -> str:
    """The environment variable of setting ``name`` (or of ``config``, the settings file): ``OAS_<NAME>``."""
    return f"{ENV_PREFIX}{name.upper()}"


class SettingsError(Exception):
    """A setting is missing, malformed or unreadable; the message is one line naming it."""


class Settings(BaseSettings):
    """Everything oas-mcp can be configured with; each field is also ``OAS_<NAME>`` and ``name`` in TOML.

    A field says all there is to know about its setting: its type, default, limits and description, and in its
    annotations whether it has a :class:`Flag`, is a :class:`Credential`, is :data:`HTTP_ONLY`, or names the
    :class:`SecretFile` of another (a secret is a ``SecretStr``). The tables the commands need (:data:`FLAGS`,
    :data:`CREDENTIALS`, :data:`HTTP_SETTINGS`, :data:`SECRET_FILES`) are read from the fields.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        validate_default=True,
        env_ignore_empty=True,  # OAS_API_KEY= is unset, not an empty key that would hide the config file's
    )

    base_url: str = Field(DEFAULT_BASE_URL, description="Root URL of the OAS API.")
    api_key: Annotated[SecretStr | None, Credential("API key")] = Field(
        None, description="API key from the welcome email, sent as X-Api-Key."
    )
    api_key_file: Annotated[Path | None, SecretFile("api_key")] = Field(
        None, description="File holding the API key (instead of api_key)."
    )
    username: Annotated[str | None, Credential("username")] = Field(
        None, description="Username used by the login tool."
    )
    email: Annotated[str | None, Credential("email address")] = Field(
        None, description="Email address used by the login tool."
    )
    password: Annotated[SecretStr | None, Credential("password")] = Field(
        None, description="Password used by the login tool."
    )
    password_file: Annotated[Path | None, SecretFile("password")] = Field(
        None, description="File holding the password (instead of password)."
    )
    timeout: float = Field(30.0, gt=0, le=600, description="Seconds to wait for each HTTP request.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries of a failed request that is safe to resend.")
    call_budget: float = Field(
        60.0, gt=0, le=3600, description="Seconds one tool call may take in all, retries and waits included."
    )
    read_only: Annotated[bool, Flag()] = Field(
        False, description="Register only the tools that read (no create, no activate)."
    )
    log_level: Annotated[LogLevel, Flag(parse=str.upper)] = Field("INFO", description="Log level; logs go to stderr.")
    log_format: Annotated[LogFormat, Flag(parse=str.lower)] = Field(
        "text", description="Log format: text, or json (one JSON object per line, for log collectors)."
    )
    list_limit: int = Field(
        100, ge=1, le=MAX_LIST_LIMIT, description="Default number of organisations list_organisations returns."
    )
    page_concurrency: int = Field(
        DEFAULT_PAGE_CONCURRENCY,
        ge=1,
        le=MAX_PAGE_CONCURRENCY,
        description="Most pages of a list fetched at once (1: one after another); halved each time the API answers "
        "429 or 503.",
    )
    max_response_bytes: int = Field(
        DEFAULT_MAX_RESPONSE_BYTES,
        ge=1024,
        le=1024**3,
        description="Largest API response body read, in bytes; a bigger one is an error, and is not read.",
    )
    # Serving MCP over HTTP (see oas_mcp.hosting).
    transport: Annotated[Literal["stdio", "http"], HTTP_ONLY, Flag()] = Field(
        "stdio", description="stdio, or http for Streamable HTTP."
    )
    host: Annotated[str, HTTP_ONLY, Flag()] = Field("127.0.0.1", min_length=1, description="HTTP bind address.")
    port: Annotated[int, HTTP_ONLY, Flag()] = Field(
        8000, ge=0, le=65535, description="HTTP port; 0 picks a free one, logged on start."
    )
    http_path: Annotated[str, HTTP_ONLY, Flag(name="--path", metavar="PATH")] = Field(
        "/mcp", description="Path of the MCP endpoint."
    )
    stateless: Annotated[bool, HTTP_ONLY, Flag()] = Field(
        False, description="Stateless HTTP with JSON responses: any replica serves any request."
    )
    mcp_token: Annotated[SecretStr | None, HTTP_ONLY] = Field(
        None,
        description=f"Bearer token MCP clients must present over HTTP: {MIN_TOKEN_LENGTH} characters or more, random.",
    )
    mcp_token_file: Annotated[Path | None, HTTP_ONLY, SecretFile("mcp_token")] = Field(
        None, description="File holding the bearer token (instead of mcp_token)."
    )
    allowed_hosts: Annotated[Names, HTTP_ONLY, Flag(name="--allowed-host", metavar="NAME")] = Field(
        [],
        description="Values of the Host header accepted over HTTP, besides loopback ones on a loopback bind; a name "
        "without a port matches any port.",
    )
    allowed_origins: Annotated[Names, HTTP_ONLY, Flag(name="--allowed-origin", metavar="ORIGIN")] = Field(
        [],
        description="Values of the Origin header accepted over HTTP, besides loopback ones on a loopback bind, such "
        "as https://app.example.com.",
    )
    trusted_proxies: Annotated[Names, HTTP_ONLY] = Field(
        [],
        description="Addresses or networks of the load balancers in front, comma-separated: X-Forwarded-For and "
        "X-Forwarded-Proto are believed from them only (none by default).",
    )
    per_request_credentials: Annotated[bool, HTTP_ONLY, Flag()] = Field(
        False, description="Use each HTTP request's X-Api-Key header for its upstream calls."
    )
    max_sessions: Annotated[int, HTTP_ONLY] = Field(
        1000, ge=1, le=100_000, description="Most MCP sessions open at once over HTTP; past it, new ones get 503."
    )
    max_sessions_per_principal: Annotated[int, HTTP_ONLY] = Field(
        50,
        ge=1,
        le=100_000,
        description="Most MCP sessions over HTTP one OAuth subject (with per-request credentials and no OAuth: one "
        "API key) may have open at once; past it, its new ones get 429 and others still get in.",
    )
    session_idle_timeout: Annotated[float, HTTP_ONLY] = Field(
        600.0,
        ge=1,
        le=86_400,
        description="Seconds an MCP session over HTTP may go with no request in flight and no open stream before "
        "it ends.",
    )
    oauth_issuer: Annotated[str | None, HTTP_ONLY] = Field(
        None,
        description="Issuer URL of the OAuth authorization server, exactly as it names itself; setting it turns OAuth "
        "on (not with mcp_token).",
    )
    public_url: Annotated[str | None, HTTP_ONLY] = Field(
        None,
        description="URL clients reach the MCP endpoint at (https://mcp.example.com/mcp): the resource OAuth tokens "
        "must name in aud. Needed with OAuth; its host is an allowed Host.",
    )
    oauth_scopes: Annotated[Names, HTTP_ONLY] = Field(
        [], description="Scopes every OAuth token needs, comma-separated."
    )
    oauth_client_id: Annotated[str | None, HTTP_ONLY] = Field(
        None,
        description="This server's client ID at the issuer: to introspect opaque tokens (RFC 7662), and, with "
        "linked accounts, to sign people in on the link page.",
    )
    oauth_client_secret: Annotated[SecretStr | None, HTTP_ONLY] = Field(
        None, description="This server's client secret at the issuer (see oauth_client_id)."
    )
    oauth_client_secret_file: Annotated[Path | None, HTTP_ONLY, SecretFile("oauth_client_secret")] = Field(
        None, description="File holding that client secret (instead of oauth_client_secret)."
    )
    # Linked OAS accounts (see oas_mcp.accounts).
    database_url: Annotated[SecretStr | None, HTTP_ONLY] = Field(
        None,
        description="PostgreSQL URL of the linked accounts' database, which replicas share (not with accounts_path); "
        "it needs the postgres extra (pip install 'oas-mcp[postgres]').",
    )
    accounts_path: Annotated[Path | None, HTTP_ONLY] = Field(
        None,
        description="SQLite file of the linked accounts, for one server (default: oas-mcp/accounts.sqlite3 in "
        "$XDG_DATA_HOME, else ~/.local/share).",
    )
    accounts_key_file: Annotated[Path | None, HTTP_ONLY] = Field(
        None,
        description="File of the Fernet keys that encrypt linked accounts, one a line: the first encrypts, all "
        "decrypt. With OAuth, setting it turns linked accounts on (it then needs oauth_client_id and its secret).",
    )
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL such as {DEFAULT_BASE_URL}")
        if "@" in parts.netloc:
            raise ValueError(
                "must not hold a user name or password (user:password@host); the API takes OAS_API_KEY, "
                "and a proxy goes in HTTPS_PROXY (or HTTP_PROXY)"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        path = parts.path.rstrip("/")
        # The guide names .../api/docs/ as "the base URL"; the routes live beside it, at the root.
        for suffix in ("/api/docs", "/api"):
            path = path.removesuffix(suffix)
        return f"{parts.scheme}://{parts.netloc}{path}"

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        value = value.strip().removeprefix("[").removesuffix("]")
        if not value or "/" in value or " " in value:
            raise ValueError("must be an address or host name to bind, such as 127.0.0.1 or 0.0.0.0")
        return value

    @field_validator("http_path")
    @classmethod
    def _check_http_path(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith("/") or any(ch in value for ch in " ?#"):
            raise ValueError("must be a URL path such as /mcp")
        return value.rstrip("/") or "/"

    @field_validator("oauth_issuer", "public_url")
    @classmethod
    def _check_oauth_url(cls, value: str | None) -> str | None:
        """Kept as written (an issuer is compared exactly), but it must be https:// (http:// on loopback only)."""
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an https:// URL such as https://login.example.com/realms/team")
        if parts.username is not None or parts.query or parts.fragment:
            raise ValueError("must have no user name, password, query or fragment")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("must be https:// (plain http:// only on loopback, for tests)")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value().strip() if value is not None else ""
        if not url:
            return None
        if urlsplit(url).scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL such as postgresql://oas_mcp@db.example.com/oas_mcp")
        return SecretStr(url)

    @field_validator("mcp_token", mode="before")
    @classmethod
    def _check_token(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            value = value.strip()
            if value and (weakness := token_weakness(value)):
                raise ValueError(f"{weakness}; {MAKE_TOKEN}")
            return value or None
        return value

    @field_validator("allowed_hosts", "allowed_origins", "trusted_proxies", "oauth_scopes", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                try:
                    return json.loads(value)
                except ValueError:
                    raise ValueError("must be comma-separated names or a JSON array of names") from None
            return [name for name in value.split(",") if name.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, names: list[str]) -> list[str]:
        names = [name.strip().lower() for name in names]
        for name in names:
            if not re.fullmatch(_HOST_PATTERN, name):
                raise ValueError(
                    f"{name!r} is not a host name such as mcp.example.com or mcp.example.com:8443 (no scheme, no path)"
                )
        return names

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, names: list[str]) -> list[str]:
        """Each an IP address or network, written as uvicorn compares them (``10.0.0.7/24`` is ``10.0.0.0/24``)."""
        proxies = []
        for name in names:
            try:
                network = ipaddress.ip_network(name.strip(), strict=False)
                proxies.append(str(network.network_address if network.num_addresses == 1 else network))
            except ValueError:
                raise ValueError(f"{name!r} is not an IP address or network such as 10.0.0.5 or 10.0.0.0/24") from None
        return proxies

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, names: list[str]) -> list[str]:
        names = [name.strip().lower().rstrip("/") for name in names]
        for name in names:
            if not re.fullmatch(_ORIGIN_PATTERN, name):
                raise ValueError(f"{name!r} is not an origin such as https://app.example.com (no path)")
        return names

    @field_validator("oauth_scopes")
    @classmethod
    def _check_scopes(cls, names: list[str]) -> list[str]:
        names = [name.strip() for name in names]
        for name in names:
            if not re.fullmatch(_SCOPE_PATTERN, name):  # RFC 6749's scope-token
                raise ValueError(f"{name!r} is not a scope such as mcp:tools (no spaces, quotes or backslashes)")
        return names

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_log_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("api_key", "username", "email", "password", "mcp_token", "oauth_client_secret", mode="before")
    @classmethod
    def _clean_credential(cls, value: object, info: ValidationInfo) -> object:
        """A credential without the blanks around it (pasted with a trailing newline, say); one with a line break or
        another control character inside, or an API key with what no key holds, is refused."""
        secret = isinstance(value, SecretStr)
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(text, str):
            return value
        text = text.strip()
        problem = key_problem(text) if info.field_name == "api_key" else _control_problem(text)
        if problem:
            raise ValueError(problem)
        return SecretStr(text) if secret else text

    @field_validator("api_key", "username", "email", "password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if value.strip().startswith("<") and value.strip().endswith(">"):
            raise ValueError("is still a placeholder such as <your OAS API key>; put the real value there")
        return None if not value.strip() or re.fullmatch(_UNFILLED_REFERENCE, value.strip()) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The values given, alone: :meth:`load`, the way to make settings, reads the flags, the environment and the
        file itself (to tell where each value came from, and to read secret files), and gives the values that win."""
        return (init_settings,)

    def source(self, name: str) -> str:
        """Where setting ``name`` came from: its flag, ``OAS_<NAME>``, ``<name> in FILE``, or ``default``."""
        return self._sources.get(name, "default")

    @classmethod
    def load(
        cls, config_file: str | Path | None = None, flag_names: Mapping[str, str] | None = None, /, **overrides: Any
    ) -> Settings:
        """Build settings from flags (``overrides``), the environment, and a TOML file.

        The file is ``config_file``, else ``$OAS_CONFIG``, else none. ``flag_names`` says which flag set an
        override (``--sandbox``), when it is not ``--<name>``. Raises SettingsError.
        """
        path = config_file or os.environ.get(env_name("config")) or None
        file_values = _read_toml(Path(path)) if path else {}
        flags = {key: value for key, value in overrides.items() if value is not None}
        sources = _Sources(flags, flag_names or {}, EnvSettingsSource(cls)(), file_values, path)
        sources.read_secret_files()
        winning = {name: value for values in reversed(sources.layers) for name, value in values.items()}
        try:
            settings = cls(**winning)
        except ValidationError as exc:
            raise SettingsError(_describe(exc, sources)) from None
        settings._sources = {name: found for name in cls.model_fields if (found := sources.where(name))}
        return settings


def _marked(kind: type[T]) -> dict[str, T]:
    """Each setting whose field is annotated with a ``kind``, and that annotation, in the order of the fields."""
    fields = Settings.model_fields.items()
    return {name: mark for name, field in fields for mark in field.metadata if isinstance(mark, kind)}


FLAGS = _marked(Flag)
"""The settings that have a flag, and how it looks."""
CREDENTIALS = _marked(Credential)
"""The settings that sign in to the OAS API: the API key, and what login sends."""
HTTP_SETTINGS = tuple(_marked(HTTPOnly))
"""How the server is served over HTTP: what ``oas-mcp config`` never puts in a stdio client's configuration."""
SECRET_FILES = {mark.secret: name for name, mark in _marked(SecretFile).items()}
"""Each secret that may be read from a file, and the setting naming that file (``api_key``: ``api_key_file``)."""


def flag_name(name: str) -> str:
    """The flag that sets setting ``name``: the one its field names, else ``--<name with dashes>``."""
    flag = FLAGS.get(name)
    return flag.name if flag is not None and flag.name else f"--{name.replace('_', '-')}"


def is_secret(name: str) -> bool:
    """Whether setting ``name`` holds a secret (a ``SecretStr``: never shown, never written out)."""
    annotation = Settings.model_fields[name].annotation
    return annotation is SecretStr or SecretStr in get_args(annotation)


def token_weakness(token: str) -> str | None:
    """Why ``token`` is too easy to guess to be the client token, or None when it is not obviously so."""
    if len(token) < MIN_TOKEN_LENGTH:
        return f"must be at least {MIN_TOKEN_LENGTH} characters"
    if token.startswith("<") and token.endswith(">"):
        return "is still the example's placeholder"
    steps = {ord(right) - ord(left) for left, right in itertools.pairwise(token)}
    if min(len(set(token)), len(steps)) < MIN_TOKEN_VARIETY:
        return (
            f"is too easy to guess: a token needs {MIN_TOKEN_VARIETY} different characters or more, "
            "and no pattern such as aaaa, abcabc or 1234"
        )
    return None


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an OAS API key (it goes in an HTTP header), or None: a control character, a space, a
    character other than visible ASCII, or more than :data:`MAX_KEY_LENGTH` characters. Never shows the key."""
    if problem := _control_problem(key):
        return problem
    if " " in key:
        return "has a space inside, which no API key has: paste the key alone"
    if not (key.isascii() and key.isprintable()):
        return "has a character other than ASCII letters, digits and punctuation, which no API key has"
    if len(key) > MAX_KEY_LENGTH:
        return f"is longer than {MAX_KEY_LENGTH} characters, which no API key is"
    return None


def _control_problem(text: str) -> str | None:
    if _CONTROL.search(text):
        return "has a line break, tab or other control character inside: paste it again, on one line"
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, without brackets) is this machine's loopback."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- What may go with what ------------------------------------------------------------------------------------------

OAUTH_ONLY = (
    "public_url",
    "oauth_scopes",
    "oauth_client_id",
    "oauth_client_secret",
    "accounts_key_file",
    "database_url",
    "accounts_path",
)
"""Settings that mean something only with OAuth on (when serving: linked accounts are for people signed in)."""
Use = Literal["serve", "accounts"]
"""What the settings are for: serving MCP (over ``settings.transport``), or the linked accounts' store."""


def check_combination(settings: Settings, use: Use, *, insecure_no_auth: bool = False) -> None:
    """Raises SettingsError, in one line saying what to change, when settings each valid alone do not go together
    for ``use``: they contradict each other, or would serve MCP over HTTP to anyone (``insecure_no_auth``: the
    ``--insecure-no-auth`` flag, a proxy in front authenticates clients)."""
    if use == "accounts":
        if settings.database_url is not None and settings.accounts_path is not None:
            raise SettingsError(
                f"set {settings.source('database_url')} or {settings.source('accounts_path')}, not both"
            )
        return
    if settings.transport != "http":
        if settings.per_request_credentials:
            raise SettingsError("per-request credentials need --transport http: stdio requests carry no headers")
        return
    token = settings.mcp_token
    if settings.oauth_issuer is None:
        if stray := next((name for name in OAUTH_ONLY if getattr(settings, name)), None):
            raise SettingsError(f"{env_name(stray)} is only used with OAuth: set OAS_OAUTH_ISSUER too, or drop it")
    else:
        _check_oauth(settings, insecure_no_auth=insecure_no_auth)
    if token is not None and insecure_no_auth:
        raise SettingsError("--insecure-no-auth contradicts the client token that is set; drop one of them")
    host = settings.host
    if is_loopback(host):
        return
    if token is None and settings.oauth_issuer is None and not insecure_no_auth:
        raise SettingsError(
            f"refusing to serve MCP on {host} without authenticating clients: anyone who reaches the port "
            "could use the OAS account; set OAS_OAUTH_ISSUER (OAuth), or OAS_MCP_TOKEN or OAS_MCP_TOKEN_FILE "
            "(one shared token), or pass --insecure-no-auth when a proxy in front authenticates clients"
        )
    if not settings.allowed_hosts and settings.public_url is None:
        raise SettingsError(
            f"serving MCP on {host} needs the host names clients reach it by (DNS-rebinding protection): "
            "pass --allowed-host NAME for each, e.g. --allowed-host mcp.example.com, or set OAS_ALLOWED_HOSTS"
        )


def _check_oauth(settings: Settings, *, insecure_no_auth: bool) -> None:
    """OAuth's own: one way to authenticate clients, the URL its tokens name, and introspection's two settings."""
    if settings.mcp_token is not None:
        raise SettingsError(
            "OAS_OAUTH_ISSUER and a client token (OAS_MCP_TOKEN or OAS_MCP_TOKEN_FILE) are two ways to "
            "authenticate clients; set one of them"
        )
    if insecure_no_auth:
        raise SettingsError("--insecure-no-auth contradicts OAS_OAUTH_ISSUER; drop one of them")
    if settings.public_url is None:
        raise SettingsError(
            "OAS_OAUTH_ISSUER needs OAS_PUBLIC_URL, the URL clients reach the MCP endpoint at "
            "(e.g. https://mcp.example.com/mcp): tokens must name it in their aud"
        )
    if (settings.oauth_client_id is None) != (settings.oauth_client_secret is None):
        raise SettingsError("introspection needs both OAS_OAUTH_CLIENT_ID and OAS_OAUTH_CLIENT_SECRET; set both")
    if settings.accounts_key_file is not None and settings.oauth_client_id is None:
        raise SettingsError(
            "linked accounts (OAS_ACCOUNTS_KEY_FILE) need OAS_OAUTH_CLIENT_ID and OAS_OAUTH_CLIENT_SECRET (or "
            "OAS_OAUTH_CLIENT_SECRET_FILE): the link page signs people in as that client of the issuer, with "
            f"redirect URI {origin_of(settings.public_url)}{LINK_PAGE_PATH}/callback"
        )


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _read_toml(path: Path) -> dict[str, Any]:
    """The settings in the config file ``path``, read as a secret's file is (it may hold secrets): a regular file
    after symlinks, of at most :data:`MAX_CONFIG_FILE_BYTES`, named in a warning once when it holds a secret and
    others can read it. Raises SettingsError."""
    try:
        raw, mode = _file_bytes(path, MAX_CONFIG_FILE_BYTES, "which no config file is")
        data = tomllib.loads(raw.decode())
    except tomllib.TOMLDecodeError as exc:  # a ValueError too
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot read config file {path}: {_unreadable(exc)}") from None
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        known = ", ".join(Settings.model_fields)
        raise SettingsError(f"config file {path}: unknown setting {unknown[0]!r}; known settings are {known}")
    if held := [name for name in data if is_secret(name)]:
        _warn_if_others_read(f"config file {path}, which holds {', '.join(held)},", path, mode)
    return data


@dataclass(frozen=True)
class _Sources:
    """Which source gave each setting: a flag, the environment, or the file (None: the default); and the secrets
    read from the files their ``_file`` settings name."""

    flags: dict[str, Any]
    flag_names: Mapping[str, str]
    env_values: dict[str, Any]  # the OAS_* variables set and not empty
    file_values: dict[str, Any]
    path: object
    files: dict[str, tuple[str, Path]] = field(default_factory=dict)  # secret: (its file setting, the file)

    @property
    def layers(self) -> tuple[dict[str, Any], ...]:
        """The values of each source, the one that wins first."""
        return self.flags, self.env_values, self.file_values

    def where(self, name: str) -> str | None:
        """Where setting ``name`` was given, as messages name it (see :meth:`Settings.source`); None: nowhere."""
        if name in self.files:
            file_setting, secret_file = self.files[name]
            return f"{secret_file} via {self.where(file_setting)}"
        if name in self.flags:
            return self.flag_names.get(name) or flag_name(name)
        if name in self.env_values:
            return env_name(name)
        if name in self.file_values:
            return f"{name} in {self.path}"
        return None

    def read_secret_files(self) -> None:
        """Put each secret whose ``_file`` setting is set in that setting's source, read from its file; raises
        SettingsError when the file cannot be read or is empty, or the secret is set too (a flag's, such as
        ``--sandbox``'s, wins: the file is not read)."""
        for secret, file_setting in SECRET_FILES.items():
            source = next((values for values in self.layers if values.get(file_setting) is not None), None)
            if source is None or secret in self.flags or not isinstance(source[file_setting], str | os.PathLike):
                continue  # not set, overridden by a flag, or not a path (which validating it will say)
            if any(_given(values.get(secret)) for values in self.layers):
                raise SettingsError(f"set {self.where(secret)} or {self.where(file_setting)}, not both")
            secret_file = Path(source[file_setting]).expanduser()
            source[secret] = _read_secret(secret_file, self.where(file_setting))
            self.files[secret] = (file_setting, secret_file)


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _unreadable(exc: OSError | ValueError) -> str:
    """Why a file could not be read, in a few words."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)


def _read_secret(path: Path, source: object) -> str:
    """The text of a secret's file, without its surrounding blanks; raises SettingsError."""
    text = read_secret_file(path, f"{path} ({source})").strip()
    if not text:
        raise SettingsError(f"{path} ({source}) is empty")
    return text


def read_secret_file(path: Path, where: str) -> str:
    """The text of ``path``, a file holding a secret (or a few keys), named ``where`` in messages (the file and
    the setting that names it). Symlinks are followed (Kubernetes mounts its secrets through them), but what they
    lead to must be a regular file of at most :data:`MAX_SECRET_FILE_BYTES`; a file that others than its owner can
    read is named in a warning, once. Raises SettingsError, never quoting the file."""
    try:
        data, mode = _file_bytes(path, MAX_SECRET_FILE_BYTES, "which no secret is")
        text = data.decode()
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot read {where}: {_unreadable(exc)}") from None
    _warn_if_others_read(where, path, mode)
    return text


def _warn_if_others_read(where: str, path: Path, mode: int) -> None:
    """Name ``where`` (the file ``path``, holding a secret) in a warning, once, when others than its owner can read
    it."""
    if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH) and where not in _LOOSE_FILES_TOLD:
        _LOOSE_FILES_TOLD.add(where)
        logger.warning("%s can be read by others than its owner (mode %04o): chmod 600 %s", where, mode & 0o777, path)


def _file_bytes(path: Path, limit: int, too_large: str) -> tuple[bytes, int]:
    """The bytes in ``path``, a regular file (symlinks followed) of at most ``limit`` bytes, and its mode; raises
    OSError, or ValueError saying why it is not read (``too_large`` ends the sentence about its size)."""

    def check(mode: int) -> int:
        if not stat.S_ISREG(mode):
            raise ValueError(f"it is {file_kind(mode)}, not a file")
        return mode

    check(path.stat().st_mode)  # before opening it: opening a device may do something
    # Not blocking: a named pipe swapped in after the check would wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    with open(os.open(path, flags), "rb") as file:
        mode = check(os.fstat(file.fileno()).st_mode)  # what was opened, had it been swapped meanwhile
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"it is larger than {limit // 1024} KiB, {too_large}")
    return data, mode


_LOOSE_FILES_TOLD: set[str] = set()
"""The secret files already named in a warning for their mode, so that each is named once."""


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, from its ``st_mode``: "a folder", "a named pipe", "a symlink"..."""
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISFIFO: "a named pipe",
        stat.S_ISSOCK: "a socket",
        stat.S_ISLNK: "a symlink",  # as lstat sees it
    }
    return next((kind for test, kind in kinds.items() if test(mode)), "not a regular file")


def _describe(exc: ValidationError, sources: _Sources) -> str:
    """One line naming the first bad setting, where it came from, and what is wrong (never its value)."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "settings"
    message = str(error["msg"]).removeprefix("Value error, ")
    if name in sources.files:
        file_setting, secret_file = sources.files[name]
        return f"invalid setting {sources.where(file_setting)}: the value in {secret_file} {message}"
    return f"invalid setting {sources.where(name) or env_name(name)}: {message}"

"""Settings: defaults < TOML file < environment (``OAS_*``) < command-line flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from oas_mcp import DEFAULT_BASE_URL

MAX_LIST_LIMIT = 10_000
MAX_PAGE_CONCURRENCY = 32
ENV_PREFIX = "OAS_"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SettingsError(Exception):
    """A setting is missing, malformed or unreadable; the message is one line naming it."""


class Settings(BaseSettings):
    """Everything oas-mcp can be configured with; each field is also ``OAS_<NAME>`` and ``name`` in TOML."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        validate_default=True,
    )

    base_url: str = Field(DEFAULT_BASE_URL, description="Root URL of the OAS API.")
    api_key: SecretStr | None = Field(None, description="API key from the welcome email, sent as X-Api-Key.")
    username: str | None = Field(None, description="Username used by the login tool.")
    email: str | None = Field(None, description="Email address used by the login tool.")
    password: SecretStr | None = Field(None, description="Password used by the login tool.")
    timeout: float = Field(30.0, gt=0, le=600, description="Seconds to wait for each HTTP request.")
    read_only: bool = Field(False, description="Register only the tools that read (no create, no activate).")
    log_level: LogLevel = Field("INFO", description="Log level; logs go to stderr.")
    list_limit: int = Field(
        100, ge=1, le=MAX_LIST_LIMIT, description="Default number of organisations list_organisations returns."
    )
    page_concurrency: int = Field(
        8, ge=1, le=MAX_PAGE_CONCURRENCY, description="Most pages of a list fetched at once (1: one after another)."
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL such as https://oas-beta.ottomate.me")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        path = parts.path.rstrip("/")
        # The guide names .../api/docs/ as "the base URL"; the routes live beside it, at the root.
        for suffix in ("/api/docs", "/api"):
            path = path.removesuffix(suffix)
        return f"{parts.scheme}://{parts.netloc}{path}"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("username", "email", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_key", "password", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def has_login_credentials(self) -> bool:
        return self.password is not None and (self.username is not None or self.email is not None)

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Build settings from flags (``overrides``), the environment, and a TOML file.

        The file is ``config_file``, else ``$OAS_CONFIG``, else none. Raises SettingsError.
        """
        path = config_file or os.environ.get(f"{ENV_PREFIX}CONFIG") or None
        file_values = _read_toml(Path(path)) if path else {}
        flags = {key: value for key, value in overrides.items() if value is not None}
        sources: tuple[PydanticBaseSettingsSource, ...] = (
            InitSettingsSource(cls, init_kwargs=flags),
            EnvSettingsSource(cls),
            InitSettingsSource(cls, init_kwargs=file_values),
        )
        try:
            return cls(_build_sources=(sources, flags))
        except ValidationError as exc:
            raise SettingsError(_describe(exc, flags, file_values, path)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when a file is given: start-up stays lean without one

    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        known = ", ".join(Settings.model_fields)
        raise SettingsError(f"config file {path}: unknown setting {unknown[0]!r}; known settings are {known}")
    return data


def _describe(exc: ValidationError, flags: dict[str, Any], file_values: dict[str, Any], path: object) -> str:
    """One line naming the first bad setting, where it came from, and what is wrong (never its value)."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "settings"
    env_name = f"{ENV_PREFIX}{name.upper()}"
    if name in flags:
        origin = f"--{name.replace('_', '-')}"
    elif env_name in os.environ:
        origin = env_name
    elif name in file_values:
        origin = f"{name} in {path}"
    else:
        origin = env_name
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"invalid setting {origin}: {message}"

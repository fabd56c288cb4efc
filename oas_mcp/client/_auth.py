"""Credentials and the session token: what goes in the headers, and signing in again when it expires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from oas_mcp.client._errors import Credential, CredentialsError
from oas_mcp.client._models import User
from oas_mcp.client._routes import API_KEY_HEADER
from oas_mcp.redact import remember


def _secret(value: str | SecretStr | None) -> SecretStr | None:
    if value is None or isinstance(value, SecretStr):
        return value
    return SecretStr(value) if value.strip() else None


@dataclass(frozen=True, repr=False)
class Credentials:
    """What the client may authenticate with. Secrets stay wrapped; ``repr`` says only which are set."""

    api_key: SecretStr | None = None
    username: str | None = None
    email: str | None = None
    password: SecretStr | None = None

    @classmethod
    def of(
        cls,
        api_key: str | SecretStr | None = None,
        username: str | None = None,
        email: str | None = None,
        password: str | SecretStr | None = None,
    ) -> Credentials:
        """Credentials from configured values: blank ones count as not set, secrets are wrapped.

        A client made with them has their secrets masked (see :meth:`OASClient.with_credentials`)."""
        return cls(_secret(api_key), username or None, email or None, _secret(password))

    def secrets(self) -> list[str]:
        """The secret values: the API key and the password, those set."""
        return [secret.get_secret_value() for secret in (self.api_key, self.password) if secret is not None]

    @property
    def can_login(self) -> bool:
        return self.password is not None and (self.username is not None or self.email is not None)

    def missing_for_login(self) -> tuple[str, ...]:
        """The fields to set before login can work: ``username``/``email`` (either), ``password``."""
        missing = [] if self.username or self.email else ["username", "email"]
        return (*missing, *([] if self.password else ["password"]))

    def login_body(self) -> dict[str, str]:
        if not self.can_login or self.password is None:
            missing = self.missing_for_login()
            raise CredentialsError(f"login needs {' and '.join(missing)}", missing)
        body = {"username": self.username, "email": self.email, "password": self.password.get_secret_value()}
        return {key: value for key, value in body.items() if value is not None}

    def __repr__(self) -> str:
        names = ("api_key", "username", "email", "password")
        configured = [name for name in names if getattr(self, name) is not None]
        return f"Credentials(configured={configured})"


@dataclass(frozen=True, repr=False)
class Token:
    """A sign-in: its access token, who signed in, when, and when the token expires (from its JWT ``exp``: None when
    it does not say). Times are aware, in UTC."""

    access: SecretStr
    user: User
    obtained_at: datetime
    expires_at: datetime | None

    @classmethod
    def from_login(cls, access: str, refresh: str | None, user: User) -> Token:
        remember(access, refresh, transient=True)
        return cls(SecretStr(access), user, datetime.now(UTC), _jwt_expiry(access))

    def renewal_due(self, share: float = 0.8) -> bool:
        """Whether ``share`` of the token's lifetime is over (never, when it does not say when it expires)."""
        if self.expires_at is None:
            return False
        return datetime.now(UTC) >= self.obtained_at + share * (self.expires_at - self.obtained_at)

    def __repr__(self) -> str:
        return f"Token(user={self.user.username!r}, expires={self.expires_at})"


def _jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` claim, read without verifying (we are not the audience); None for opaque tokens."""
    # On the first sign-in: pyjwt loads cryptography, a twentieth of the server's start-up (bench/startup.py).
    import jwt  # noqa: PLC0415

    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return _readable_time(claims.get("exp"))


def _readable_time(claim: object) -> datetime | None:
    """A JWT time claim as a time, or None when it cannot be one: not a number, NaN, not after 1970, or past what a
    date can hold (an ``exp`` in milliseconds is in the year 58,000). Such a token counts as of unknown expiry: it
    is renewed on a 401."""
    if not isinstance(claim, int | float) or isinstance(claim, bool) or not claim > 0:
        return None
    try:
        return datetime.fromtimestamp(claim, UTC)
    except (OverflowError, ValueError, OSError):
        return None


def headers_for(credentials: Credentials, token: Token | None) -> tuple[dict[str, str], tuple[Credential, ...]]:
    """The auth headers for a request, and which credentials they carry."""
    headers: dict[str, str] = {}
    carried: list[Credential] = []
    if credentials.api_key is not None:
        headers[API_KEY_HEADER] = credentials.api_key.get_secret_value()
        carried.append("api_key")
    if token is not None:
        headers["Authorization"] = f"Bearer {token.access.get_secret_value()}"
        carried.append("token")
    return headers, tuple(carried)

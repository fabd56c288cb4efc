"""The sandbox's in-memory state: users, organisations, active organisations, and its JWTs."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

AuthMode = Literal["either", "api_key", "bearer", "both"]
LinkStyle = Literal["absolute", "relative", "cursor", "loop"]

DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@sandbox.oas.invalid"
DEMO_PASSWORD = "sandbox-demo-password"
DEMO_API_KEY = "Sandbox0.DemoKeyForTheOasMcpSandboxOnly01"
DEMO_ORGANISATIONS = (
    ("Acme Corp", "USD", ["USD", "EUR", "MXN"]),
    ("Globex", "EUR", ["EUR", "GBP"]),
    ("Initech", "USD", ["USD", "CAD"]),
    ("Umbrella Holdings", "JPY", ["JPY", "USD"]),
    ("Stark Industries", "USD", ["USD"]),
)
# A second user, with organisations of its own: for trying per-request credentials (one key per user).
DEMO2_USERNAME = "demo2"
DEMO2_EMAIL = "demo2@sandbox.oas.invalid"
DEMO2_PASSWORD = "sandbox-demo2-password"
DEMO2_API_KEY = "Sandbox0.SecondKeyForTheOasMcpSandbox0002"
DEMO2_ORGANISATIONS = (
    ("Wonka Industries", "GBP", ["GBP", "EUR"]),
    ("Tyrell Corporation", "USD", ["USD", "JPY"]),
)


@dataclass
class User:
    id: int
    username: str
    email: str
    password: str
    api_key: str
    is_staff: bool = False
    is_superuser: bool = False
    is_active: bool = True
    last_login: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "last_login": self.last_login,
            "is_superuser": self.is_superuser,
            "username": self.username,
            "email": self.email,
            "is_staff": self.is_staff,
            "is_active": self.is_active,
        }


@dataclass
class Store:
    """Everything the sandbox knows. Tests may read and change it directly between requests."""

    token_lifetime: float = 900.0
    refresh_lifetime: float = 86_400.0
    users: dict[int, User] = field(default_factory=dict)
    organisations: dict[int, dict[str, Any]] = field(default_factory=dict)
    active: dict[int, int] = field(default_factory=dict)
    logins: int = 0
    _secret: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    _next_id: int = 1

    def add_user(self, username: str, email: str, password: str, api_key: str, *, is_active: bool = True) -> User:
        user = User(len(self.users) + 1, username, email, password, api_key, is_active=is_active)
        self.users[user.id] = user
        return user

    def add_organisation(
        self, owner: User, name: str, base_currency: str, currencies: list[str], image: str | None = None
    ) -> dict[str, Any]:
        organisation = {
            "id": self._next_id,
            "owner": {"id": owner.id, "username": owner.username, "email": owner.email},
            "name": name,
            "base_currency": base_currency,
            "currencies": list(currencies),
            "image": image,
        }
        self.organisations[self._next_id] = organisation
        self._next_id += 1
        return organisation

    def organisations_of(self, user: User) -> list[dict[str, Any]]:
        return [org for org in self.organisations.values() if org["owner"]["id"] == user.id]

    def by_api_key(self, key: str) -> User | None:
        return next((u for u in self.users.values() if secrets.compare_digest(u.api_key, key)), None)

    def by_login(self, username: str, email: str, password: str) -> User | None:
        for user in self.users.values():
            if user.username == username and user.email.lower() == email.lower():
                return user if secrets.compare_digest(user.password, password) and user.is_active else None
        return None

    def issue_tokens(self, user: User) -> dict[str, str]:
        # On the first sign-in: pyjwt loads cryptography, a twentieth of start-up (bench/startup.py).
        import jwt  # noqa: PLC0415

        self.logins += 1
        now = time.time()
        user.last_login = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
        tokens = {}
        for kind, life in (("access", self.token_lifetime), ("refresh", self.refresh_lifetime)):
            claims = {"token_type": kind, "exp": now + life, "iat": int(now), "jti": uuid.uuid4().hex}
            tokens[kind] = jwt.encode({**claims, "user_id": user.id}, self._secret, algorithm="HS256")
        return tokens

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far, as a key rotation on the server would."""
        self._secret = secrets.token_hex(32)

    def by_access_token(self, token: str) -> User | None:
        import jwt  # noqa: PLC0415 - see issue_tokens

        try:  # exp checked below: PyJWT cuts it to whole seconds, and a token may live for less than one
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], options={"verify_exp": False})
        except jwt.PyJWTError:
            return None
        if claims.get("token_type") != "access" or not claims.get("exp", 0) > time.time():
            return None
        user = self.users.get(claims.get("user_id", -1))
        return user if user is not None and user.is_active else None


def demo_store(token_lifetime: float = 900.0, organisations: int = len(DEMO_ORGANISATIONS)) -> Store:
    """A store with the demo user and ``organisations`` organisations (ids 1 to that): the demo ones first, then
    generated ones ("Organisation 00006", ...) for trying big accounts; then demo2 with two of its own."""
    store = Store(token_lifetime=token_lifetime)
    demo = store.add_user(DEMO_USERNAME, DEMO_EMAIL, DEMO_PASSWORD, DEMO_API_KEY)
    for name, base, currencies in DEMO_ORGANISATIONS[:organisations]:
        store.add_organisation(demo, name, base, currencies)
    for number in range(len(DEMO_ORGANISATIONS) + 1, organisations + 1):
        _, base, currencies = DEMO_ORGANISATIONS[number % len(DEMO_ORGANISATIONS)]
        store.add_organisation(demo, f"Organisation {number:05d}", base, currencies)
    demo2 = store.add_user(DEMO2_USERNAME, DEMO2_EMAIL, DEMO2_PASSWORD, DEMO2_API_KEY)
    for name, base, currencies in DEMO2_ORGANISATIONS:
        store.add_organisation(demo2, name, base, currencies)
    return store

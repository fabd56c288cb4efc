"""The sandbox's routes: every route of the OAS quick-start guide, answered as the guide describes."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from oas_mcp.sandbox._faults import Dropped, Fault, SandboxTransport, Unreachable
from oas_mcp.sandbox._store import AuthMode, LinkStyle, Store, User, demo_store

SANDBOX_URL = "http://sandbox.oas.invalid"
KEPT_REQUESTS = 1000
NOT_AUTHENTICATED = "Authentication credentials were not provided or are invalid."
_CURRENCY = re.compile(r"^[A-Z]{3}$")


async def _discard(message: Message) -> None:
    """Where a reply goes when the connection was lost after the API processed the request."""


def _error(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


class Sandbox:
    """The OAS API in memory: an ASGI app over a :class:`Store` (the demo store by default).

    ``page_size`` is the number of organisations per page; ``auth`` is what a protected route accepts
    (the key, a bearer token, either, or both); ``link_style`` is how ``next``/``previous`` are written
    (absolute page-number links by default); ``link_origin`` replaces the scheme and host in those links,
    as a misconfigured proxy would; ``page_latency`` delays each list page, in seconds. ``requests`` holds the
    last :data:`KEPT_REQUESTS` requests (method, URL), oldest first, so a sandbox that serves for weeks stays the
    same size, and ``served`` counts them all; :meth:`inject` makes the sandbox misbehave.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        page_size: int = 2,
        auth: AuthMode = "either",
        link_style: LinkStyle = "absolute",
        link_origin: str | None = None,
        page_latency: float = 0.0,
    ) -> None:
        self.store = store or demo_store()
        self.page_size = page_size
        self.auth = auth
        self.link_style = link_style
        self.link_origin = link_origin
        self.page_latency = page_latency
        self.requests: deque[tuple[str, str]] = deque(maxlen=KEPT_REQUESTS)
        self.served = 0
        self.faults: list[Fault] = []
        self.app = Starlette(
            routes=[
                Route("/helloworld", self.hello, methods=["GET"]),
                Route("/api/auth/login/", self.login, methods=["POST"]),
                Route("/api/auth/register/", self.register, methods=["POST"]),
                Route("/api/organisations/", self.list_organisations, methods=["GET"]),
                Route("/api/organisations/", self.create_organisation, methods=["POST"]),
                Route("/api/organisations/{id}/make_active/", self.make_active, methods=["POST"]),
            ],
            exception_handlers={HTTPException: self._http_error},
        )

    def transport(self) -> httpx2.ASGITransport:
        """An httpx2 transport that serves requests from this sandbox in-process, with no socket."""
        return SandboxTransport(app=self)

    def inject(self, *faults: Fault) -> None:
        """Misbehave on the next matching requests (see :class:`Fault`); faults are tried in order."""
        self.faults.extend(faults)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        self.requests.append((request.method, str(request.url)))
        self.served += 1
        target = f"{request.method} {request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        fault = next((f for f in self.faults if f.matches(target)), None)
        if fault is None:
            await self.app(scope, receive, send)
            return
        fault.hits += 1
        if fault.action is not None:
            fault.action()
        if fault.delay:
            await anyio.sleep(fault.delay)
        if fault.drop == "before":
            raise Unreachable
        if fault.drop == "after":
            await self.app(scope, receive, _discard)
            raise Dropped
        if fault.status is None and fault.body is None:
            await self.app(scope, receive, send)
            return
        response = Response(fault.body, fault.status or 200, fault.headers, fault.content_type)
        await response(scope, receive, send)

    @staticmethod
    async def _http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = {404: "Not found.", 405: f'Method "{request.method}" not allowed.'}.get(exc.status_code, exc.detail)
        return _error(exc.status_code, detail)

    def _user(self, request: Request) -> User | None:
        key = request.headers.get("x-api-key")
        by_key = self.store.by_api_key(key) if key else None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        by_token = self.store.by_access_token(token.strip()) if scheme.lower() == "bearer" and token else None
        match self.auth:
            case "api_key":
                return by_key
            case "bearer":
                return by_token
            case "both":
                return by_key if by_key is not None and by_token is not None and by_key.id == by_token.id else None
            case _:
                if by_key and by_token and by_key.id != by_token.id:
                    return None
                return by_key or by_token

    def _unauthorised(self) -> JSONResponse:
        return _error(401, NOT_AUTHENTICATED, **{"WWW-Authenticate": 'Bearer realm="api"'})

    async def hello(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return self._unauthorised()
        return PlainTextResponse(f"Hello world @{user.username}")

    async def login(self, request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        errors = {
            name: ["This field is required."]
            for name in ("username", "email", "password")
            if not isinstance(body.get(name), str) or not body[name].strip()
        }
        if errors:
            return JSONResponse(errors, status_code=400)
        user = self.store.by_login(body["username"], body["email"], body["password"])
        if user is None:
            return _error(401, "Unable to log in with the provided credentials.")
        return JSONResponse({**self.store.issue_tokens(user), "user": user.public()})

    async def register(self, request: Request) -> Response:
        return _error(501, "This route is not yet available.")

    async def list_organisations(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return self._unauthorised()
        if self.page_latency:
            await anyio.sleep(self.page_latency)
        organisations = self.store.organisations_of(user)
        pages = max(1, math.ceil(len(organisations) / self.page_size))
        number = self._page_number(request)
        if number is None or not 1 <= number <= pages:
            return _error(404, "Invalid page.")
        start = (number - 1) * self.page_size
        return JSONResponse(
            {
                "count": len(organisations),
                "next": self._link(request, number + 1) if number < pages else self._loop_link(request),
                "previous": self._link(request, number - 1) if number > 1 else None,
                "results": organisations[start : start + self.page_size],
            }
        )

    def _page_number(self, request: Request) -> int | None:
        raw = request.query_params.get("page", "1")
        if "cursor" in request.query_params:
            try:
                raw = base64.urlsafe_b64decode(request.query_params["cursor"].encode()).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
        return int(raw) if raw.isdigit() and len(raw) <= 9 else None  # page 10**100000: not found, no crash

    def _link(self, request: Request, number: int) -> str:
        if self.link_style == "cursor":
            query = "cursor=" + base64.urlsafe_b64encode(str(number).encode()).decode()
        else:
            query = f"page={number}"
        if self.link_style == "relative":
            return f"{request.url.path}?{query}"
        origin = self.link_origin or f"{request.url.scheme}://{request.url.netloc}"
        return f"{origin.rstrip('/')}{request.url.path}?{query}"

    def _loop_link(self, request: Request) -> str | None:
        return self._link(request, 1) if self.link_style == "loop" else None

    async def create_organisation(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return self._unauthorised()
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        errors = _organisation_errors(body)
        if errors:
            return JSONResponse(errors, status_code=400)
        organisation = self.store.add_organisation(
            user, body["name"].strip(), body["base_currency"], body["currencies"], body.get("image") or None
        )
        return JSONResponse(organisation, status_code=201)

    async def make_active(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return self._unauthorised()
        raw_id = request.path_params["id"]
        organisation = self.store.organisations.get(int(raw_id)) if raw_id.isdigit() else None
        if organisation is None or organisation["owner"]["id"] != user.id:
            return _error(404, "Organization not found.")
        self.store.active[user.id] = organisation["id"]
        return JSONResponse({"message": f"Organization {organisation['name']} is now the active organization."})


async def _json_object(request: Request) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "JSON parse error - the request body is not valid JSON.")
    if not isinstance(body, dict):
        return _error(400, "Invalid data. Expected a dictionary.")
    return body


def _organisation_errors(body: dict[str, Any]) -> dict[str, list[str]]:
    """Server-side validation of the create body, in Django REST framework's shape."""
    errors: dict[str, list[str]] = {}
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["This field is required." if name is None else "This field may not be blank."]
    elif len(name.strip()) > 255:
        errors["name"] = ["Ensure this field has no more than 255 characters."]
    base = body.get("base_currency")
    if not isinstance(base, str) or not _CURRENCY.match(base):
        errors["base_currency"] = ["This field is required." if base is None else "Enter a valid currency code."]
    currencies = body.get("currencies")
    if not isinstance(currencies, list) or not currencies:
        errors["currencies"] = ["This field is required." if currencies is None else "This list may not be empty."]
    elif not all(isinstance(code, str) and _CURRENCY.match(code) for code in currencies):
        errors["currencies"] = ["Enter valid currency codes."]
    elif "base_currency" not in errors and base not in currencies:
        errors["base_currency"] = ["The base currency must be one of the currencies."]
    image = body.get("image")
    if image not in (None, ""):
        parts = urlsplit(image) if isinstance(image, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            errors["image"] = ["Enter a valid URL."]
    return errors

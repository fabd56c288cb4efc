"""What the server offers besides tools: resources to read (the session, the organisations) and a prompt."""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from pydantic import BaseModel, Field

from oas_mcp import __version__
from oas_mcp.client import MAX_ORGANISATION_ID
from oas_mcp.server.result_text import as_json, shared_owner
from oas_mcp.server.results import OrganisationResult, Organisations, SignedIn
from oas_mcp.server.state import client_of
from oas_mcp.settings import Settings
from oas_mcp.untrusted import clean

if TYPE_CHECKING:
    from oas_mcp.client import OASClient

JSON = "application/json"
ORGANISATION_TEMPLATE = "oas://organisations/{organisation_id}"
ONBOARD_PROMPT = "onboard_organisation"
MAX_ID_DIGITS = len(str(MAX_ORGANISATION_ID))  # 19: longer digit strings are not even converted

reading: ContextVar[Context[Any, Any] | None] = ContextVar("oas_mcp_reading", default=None)
"""The request a resource is being read for, set by :meth:`Server.read_resource`: static resources get no Context
parameter, so they look here."""


class Configured(BaseModel):
    """Which credentials the server has (never their values)."""

    api_key: bool
    username: bool
    email: bool
    password: bool


class Session(BaseModel):
    server: str
    base_url: str
    read_only: Annotated[bool, Field(description="True when create and activate are not offered.")]
    credentials: Configured
    signed_in: Annotated[SignedIn | None, Field(description="The current sign-in; null until a tool signs in.")]
    active_organisation_id: Annotated[
        int | None,
        Field(
            description="The organisation last activated through this server; null when none was (the API has "
            "no way to read the active one back)."
        ),
    ]


async def _client() -> OASClient:
    context = reading.get()
    if context is None:
        raise ResourceError("oas-mcp can read its resources only for a connected MCP client.")
    try:
        return await client_of(context)
    except ToolError as exc:  # per-request credentials, and the request brought no usable key
        raise ResourceError(str(exc)) from None


def add_resources(server: MCPServer[Any], settings: Settings) -> None:
    """``oas://session``, ``oas://organisations`` and ``oas://organisations/{organisation_id}``."""

    @server.resource("oas://session", name="session", title="OAS session", mime_type=JSON)
    async def session() -> str:
        """The API address, which credentials are configured, who is signed in until when, the active
        organisation (as last set through this server) and whether the server is read-only."""
        oas = await _client()
        token = oas.session
        credentials = oas.credentials
        return Session(
            server=f"oas-mcp {__version__}",
            base_url=oas.base_url,
            read_only=settings.read_only,
            credentials=Configured(
                api_key=credentials.api_key is not None,
                username=credentials.username is not None,
                email=credentials.email is not None,
                password=credentials.password is not None,
            ),
            signed_in=SignedIn.of(token) if token else None,
            active_organisation_id=oas.active_organisation,
        ).model_dump_json()

    @server.resource("oas://organisations", name="organisations", title="OAS organisations", mime_type=JSON)
    async def organisations() -> str:
        """The user's organisations, every page flattened (up to the server's list limit), as JSON; their owner
        once, beside them, when they all have the same one."""
        oas = await _client()
        listing = await oas.list_organisations(limit=settings.list_limit)
        return as_json(shared_owner(Organisations.of(listing).model_dump(mode="json")))

    @server.resource(ORGANISATION_TEMPLATE, name="organisation", title="One OAS organisation", mime_type=JSON)
    async def organisation(organisation_id: str) -> str:
        """One organisation, by the id list_organisations gives it, as JSON."""
        wanted = _organisation_id(organisation_id)
        oas = await _client()
        async for found in oas.iter_organisations():
            if found.id == wanted:
                return as_json(OrganisationResult.of(found).model_dump(mode="json"))
        raise ResourceNotFoundError(
            f"Organisation {wanted} not found; read oas://organisations (or call list_organisations) for valid ids."
        )


def _organisation_id(raw: str) -> int:
    """The id in ``oas://organisations/{raw}``; ResourceNotFoundError, quoting it cleaned and capped, unless it is
    a positive 64-bit integer in ASCII digits (what the API's ids are)."""
    if raw.isascii() and raw.isdigit() and len(raw) <= MAX_ID_DIGITS and 0 < int(raw) <= MAX_ORGANISATION_ID:
        return int(raw)
    shown = clean(raw.encode("ascii", "backslashreplace").decode(), 40)  # a bidi override shows as \u202e
    raise ResourceNotFoundError(
        f"oas://organisations/{shown} is not an organisation: ids are positive integers; "
        "read oas://organisations for them."
    )


def add_prompts(server: MCPServer[Any]) -> None:
    """``onboard_organisation``: the create-and-activate conversation, step by step."""

    @server.prompt(name=ONBOARD_PROMPT, title="Onboard an organisation")
    def onboard_organisation(
        name: Annotated[str, Field(description="The new organisation's display name.")],
        base_currency: Annotated[str, Field(description="ISO 4217 code for its sales reports, e.g. USD.")],
        currencies: Annotated[str, Field(description="The ISO 4217 codes it uses, comma-separated, e.g. USD, EUR.")],
    ) -> str:
        """Set up a new OAS organisation: check the connection, create it, make it active, confirm."""
        codes = [code.strip().upper() for code in currencies.replace(";", ",").split(",") if code.strip()]
        name, base_currency = json.dumps(name.strip()), json.dumps(base_currency.strip().upper())
        return f"""Set up a new organisation in OAS for me, step by step, with the oas-mcp tools:

1. Check: call hello to make sure the OAS API is reachable and accepts the credentials. If it fails, stop and \
tell me its message: it says what to fix.
2. Look for duplicates: call list_organisations with name_contains={name}. If one already has that \
name, show it to me and ask whether to use it instead of creating another.
3. Create: call create_organisation once, with name={name}, base_currency={base_currency} \
and currencies={json.dumps(codes)}. If it fails, show me the error and do not retry on your own.
4. Activate: call activate_organisation with the id that create_organisation returned.
5. Confirm: tell me the organisation's id, name, base currency and currencies, and that it is now active \
(the resource oas://session shows it as active_organisation_id)."""

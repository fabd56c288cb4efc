"""The tools: what each takes, does with the OAS client and returns, in the order a conversation uses them."""

from typing import TYPE_CHECKING, Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BeforeValidator, Field

from oas_mcp.client import CurrencyCode, ImageURL, NotFoundError, OrganisationName
from oas_mcp.settings import MAX_LIST_LIMIT, Settings
from oas_mcp.tools.results import Activated, CreatedOrganisationResult, Greeting, Organisations, SignedIn
from oas_mcp.tools.state import State, client_of

if TYPE_CHECKING:
    from oas_mcp.client import Progress


def _whole(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


WHOLE = BeforeValidator(_whole)
"""With ``Field(strict=True)``, an integer argument as JSON Schema's integer type has it: 3, or 3.0 (JSON does not
tell them apart), never true or "3". Last in the ``Annotated``, or the schema loses its minimum and maximum."""


def hints(title: str, *, read_only: bool, idempotent: bool) -> ToolAnnotations:
    """Every tool talks to the OAS API (open world) and none deletes anything."""
    return ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=False,
        idempotent_hint=idempotent,
        open_world_hint=True,
    )


def progress_to(ctx: Context[Any, Any]) -> "Progress":
    """Reports flattening as MCP progress, when the caller asked for it: pages read of pages in all."""

    async def report(pages: int, total: int | None, kept: int) -> None:
        of = f" of {total}" if total is not None else ""
        await ctx.report_progress(pages, total, f"Read page {pages}{of}; {kept} organisations so far.")

    return report


def add_read_tools(server: MCPServer[Any], settings: Settings) -> None:
    """``hello``, ``login`` (unless each user brings an API key only: there is no password to sign in with) and
    ``list_organisations``."""

    @server.tool(annotations=hints("Check the connection", read_only=True, idempotent=True))
    async def hello(ctx: Context[State, Any]) -> Greeting:
        """Check that the OAS API is reachable and accepts the credentials; returns its greeting.

        With an API key, checks the key alone (signing in would hide a wrong key); without one, the sign-in.
        `checked` says which.
        """
        client = client_of(ctx)
        return Greeting.of(await client.hello(), "session" if client.credentials.api_key is None else "api_key")

    if not settings.per_request_credentials:

        @server.tool(annotations=hints("Sign in", read_only=True, idempotent=True))
        async def login(ctx: Context[State, Any]) -> SignedIn:
            """Sign in with the configured username, email and password; returns the user and when the session expires.

            Takes no arguments: credentials come from the server's settings, never from the conversation.
            Other tools sign in by themselves when needed.
            """
            return SignedIn.of(await client_of(ctx).login())

    @server.tool(annotations=hints("List organisations", read_only=True, idempotent=True))
    async def list_organisations(
        ctx: Context[State, Any],
        limit: Annotated[
            int, Field(strict=True, ge=1, le=MAX_LIST_LIMIT, description="Most organisations to return."), WHOLE
        ] = settings.list_limit,
        name_contains: Annotated[
            str | None, Field(max_length=255, description="Keep names containing this text (any case).")
        ] = None,
        currency: Annotated[
            CurrencyCode | None,
            Field(description="Keep organisations using this ISO 4217 code, e.g. EUR."),
        ] = None,
    ) -> Organisations:
        """List the user's organisations across all pages, up to `limit`, optionally filtered.

        `count` is the API's total; `truncated` is true when more may match (raise limit or filter).
        Use the ids with activate_organisation.
        """
        listing = await client_of(ctx).list_organisations(
            limit=limit, name_contains=name_contains, currency=currency, progress=progress_to(ctx)
        )
        return Organisations.of(listing)


def add_write_tools(server: MCPServer[Any]) -> tuple[str, ...]:
    """``create_organisation`` and ``activate_organisation``: the tools that change the account; returns their names."""

    @server.tool(annotations=hints("Create an organisation", read_only=False, idempotent=False))
    async def create_organisation(
        ctx: Context[State, Any],
        name: Annotated[OrganisationName, Field(min_length=1, max_length=255, description="Display name.")],
        base_currency: Annotated[
            CurrencyCode,
            Field(description="ISO 4217 code for sales reports, e.g. USD."),
        ],
        currencies: Annotated[
            list[CurrencyCode],
            Field(min_length=1, max_length=200, description="ISO 4217 codes it uses, e.g. USD and EUR."),
        ],
        image: Annotated[ImageURL | None, Field(description="http(s) URL of a logo.")] = None,
    ) -> CreatedOrganisationResult:
        """Create an organisation and return it with its new id. Each call creates one: call it only when
        the user asked to, and never again to retry a failure. Codes are case-insensitive; base_currency is
        added to currencies when missing.
        """
        created = await client_of(ctx).create_organisation(name, base_currency, currencies, image)
        return CreatedOrganisationResult.of_created(created)

    @server.tool(annotations=hints("Activate an organisation", read_only=False, idempotent=True))
    async def activate_organisation(
        ctx: Context[State, Any],
        organisation_id: Annotated[int, Field(strict=True, gt=0, description="An id from list_organisations."), WHOLE],
    ) -> Activated:
        """Make an organisation the user's active one (the one used for sales reports). Safe to repeat."""
        try:
            message = await client_of(ctx).activate_organisation(organisation_id)
        except NotFoundError:
            raise ToolError(
                f"Organisation {organisation_id} not found; call list_organisations for valid ids."
            ) from None
        return Activated(organisation_id=organisation_id, message=message)

    return create_organisation.__name__, activate_organisation.__name__

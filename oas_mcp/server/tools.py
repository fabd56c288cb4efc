"""The tools: what each takes, does with the OAS client and returns, in the order a conversation uses them."""

from typing import TYPE_CHECKING, Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BeforeValidator, Field

from oas_mcp.client import MAX_ORGANISATION_ID, CurrencyCode, ImageURL, NotFoundError, OrganisationName
from oas_mcp.server.credentials import LINKED_WITHOUT_LOGIN
from oas_mcp.server.duplicates import CreateAnother, Existing, confirmation, refusal, same_named
from oas_mcp.server.results import Activated, CreatedOrganisationResult, Greeting, Organisations, SignedIn
from oas_mcp.server.state import State, client_of
from oas_mcp.settings import MAX_LIST_LIMIT, Settings
from oas_mcp.untrusted import clean

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
        """Check the OAS API and the credentials work."""
        client = await client_of(ctx)
        return Greeting.of(await client.hello(), "session" if client.credentials.api_key is None else "api_key")

    if not settings.per_request_credentials:

        @server.tool(annotations=hints("Sign in", read_only=True, idempotent=True))
        async def login(ctx: Context[State, Any]) -> SignedIn:
            """Sign in with the configured credentials; never ask the user for them. Other tools sign in themselves."""
            client = await client_of(ctx)
            if ctx.request_context.lifespan_context.linked is not None and not client.credentials.can_login:
                raise ToolError(LINKED_WITHOUT_LOGIN)
            return SignedIn.of(await client.login())

    @server.tool(annotations=hints("List organisations", read_only=True, idempotent=True))
    async def list_organisations(
        ctx: Context[State, Any],
        limit: Annotated[int, Field(strict=True, ge=1, le=MAX_LIST_LIMIT), WHOLE] = settings.list_limit,
        name_contains: Annotated[str | None, Field(max_length=255, description="Name part, any case.")] = None,
        currency: Annotated[
            CurrencyCode | None,
            Field(description="ISO 4217 code used."),
        ] = None,
    ) -> Organisations:
        """List the user's organisations, up to limit."""
        client = await client_of(ctx)
        listing = await client.list_organisations(
            limit=limit, name_contains=name_contains, currency=currency, progress=progress_to(ctx)
        )
        return Organisations.of(listing)


def add_write_tools(server: MCPServer[Any]) -> tuple[str, ...]:
    """``create_organisation`` and ``activate_organisation``: the tools that change the account; returns their names."""

    @server.tool(annotations=hints("Create an organisation", read_only=False, idempotent=False))
    async def create_organisation(
        ctx: Context[State, Any],
        name: Annotated[OrganisationName, Field(max_length=255)],
        base_currency: Annotated[
            CurrencyCode,
            Field(description="ISO 4217 code for sales reports."),
        ],
        currencies: Annotated[
            list[CurrencyCode],
            Field(max_length=200, description="ISO 4217 codes; base_currency is added."),
        ],
        image: Annotated[ImageURL | None, Field(description="Logo URL.")] = None,
        *,
        existing: Annotated[Existing, Resolve(same_named)],  # filled before the call, by the check (not arguments)
        answer: Annotated[ElicitationResult[CreateAnother], Resolve(confirmation)],
    ) -> CreatedOrganisationResult:
        """Create one organisation per call: only when the user asks, never to retry a failure."""
        if refused := refusal(answer, existing):
            raise ToolError(refused)
        client = await client_of(ctx)
        created = await client.create_organisation(
            name, base_currency, currencies, image, same_named=existing.organisations
        )
        return CreatedOrganisationResult.of_created(created, existing.ids)

    @server.tool(annotations=hints("Activate an organisation", read_only=False, idempotent=True))
    async def activate_organisation(
        ctx: Context[State, Any],
        organisation_id: Annotated[int, Field(strict=True, gt=0, description="From list_organisations."), WHOLE],
    ) -> Activated:
        """Make an organisation the user's active one (for sales reports)."""
        shown = clean(str(organisation_id), 24)
        not_found = ToolError(f"Organisation {shown} not found; call list_organisations for valid ids.")
        if organisation_id > MAX_ORGANISATION_ID:  # 1e300 is a whole number, but no id: not sent to the API
            raise not_found
        client = await client_of(ctx)
        try:
            message = await client.activate_organisation(organisation_id)
        except NotFoundError:
            raise not_found from None
        return Activated(organisation_id=organisation_id, message=message)

    return create_organisation.__name__, activate_organisation.__name__

"""The check before ``create_organisation`` creates: does an organisation with that name (trimmed, any case) exist?

When one does and the client can ask its user (form elicitation), the user is asked whether to create another; the
organisation is created only if they accept. When the client cannot ask, it is created as asked, and the result
names those that already had the name. Both run as the SDK's resolvers (``Resolve``), which ask the user in either
protocol era: mid-call on handshake connections, through an input-required round on 2026-07-28 ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult, Resolve
from mcp_types.version import MODERN_PROTOCOL_VERSIONS, is_version_at_least
from pydantic import BaseModel, ConfigDict

from oas_mcp.server.state import State, client_of
from oas_mcp.untrusted import clean_data

if TYPE_CHECKING:
    from oas_mcp.client import Organisation

SHOWN = 3
"""Same-named organisations the question names; it counts the others."""


@dataclass(frozen=True)
class Existing:
    """The organisations already named as the one to create, from one listing: for the question to the user, and
    for the create's own record of what existed before it."""

    organisations: list[Organisation]

    @property
    def ids(self) -> list[int]:
        return [organisation.id for organisation in self.organisations]

    def exist(self) -> str:
        """``Globex (id 2, EUR) already exists``, naming the first few and counting the others."""
        shown = [_described(organisation) for organisation in self.organisations[:SHOWN]]
        rest = len(self.organisations) - SHOWN
        verb = "already exists" if len(self.organisations) == 1 else "already exist"
        return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "") + f" {verb}"


class CreateAnother(BaseModel):
    # The question's form: nothing to fill in, accepting it creates the organisation. (A docstring here would be
    # the form's description, shown to the user.)
    model_config = ConfigDict(title="Create another organisation")


async def same_named(ctx: Context[State, Any], name: str) -> Existing:
    """Resolver: the organisations already named ``name``. Raises OASError when the listing fails."""
    client = await client_of(ctx)
    return Existing(await client.same_named(name))


async def confirmation(
    ctx: Context[State, Any], existing: Annotated[Existing, Resolve(same_named)]
) -> Elicit[CreateAnother] | None:
    """Resolver: the question to the user when the name is taken and their client can ask; else no question
    (the SDK then hands on an accepted answer)."""
    if not existing.organisations or not can_ask(ctx):
        return None
    return Elicit(f"{existing.exist()}. Create another organisation with the same name?", CreateAnother)


def can_ask(ctx: Context[State, Any]) -> bool:
    """Whether the client can show its user a form (form elicitation declared, or elicitation from before modes
    existed), and the connection can carry the question now (a 2026-07-28 round, or a back channel)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    version = ctx.protocol_version
    modern = version is not None and is_version_at_least(version, MODERN_PROTOCOL_VERSIONS[0])
    return modern or ctx.request_context.session.can_send_request


def refusal(answer: ElicitationResult[CreateAnother], existing: Existing) -> str | None:
    """Why nothing is created: the user declined or dismissed the question; None when it may be created."""
    if isinstance(answer, AcceptedElicitation):
        return None
    what = "declined creating" if answer.action == "decline" else "dismissed the question about creating"
    return (
        f"Not created: {existing.exist()}, and the user {what} another with the same name. Use the existing one, "
        "or ask the user before calling create_organisation again."
    )


def _described(organisation: Organisation) -> str:
    currency = f", {organisation.base_currency}" if organisation.base_currency else ""
    return f"{clean_data(organisation.name, 60)} (id {organisation.id}{currency})"

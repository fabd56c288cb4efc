"""Completions: what a client offers while the user types an argument of the prompt or of the resource template.

``onboard_organisation``'s ``base_currency`` and ``currencies`` complete to ISO 4217 codes (from a code's start or a
currency's name, in any case); ``oas://organisations/{organisation_id}`` completes to the ids of the user's
organisations, best matches first (the id, then the name). The ids come from the tools' client for the request, listed
at most once per :data:`FRESH_FOR` seconds per client; when the API fails, completions are empty and it is not asked
again for a while, so a user typing never becomes a storm of failing requests.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CompleteRequestParams, CompleteResult, Completion, PromptReference, ResourceTemplateReference

from oas_mcp.client import CURRENCY_NAMES, ISO_4217, OASError
from oas_mcp.server.resources import ONBOARD_PROMPT, ORGANISATION_TEMPLATE
from oas_mcp.server.state import client_for
from oas_mcp.settings import Settings

if TYPE_CHECKING:
    from oas_mcp.client import OASClient

MAX_VALUES = 100
"""The most values one completion may hold (the protocol's limit)."""
FRESH_FOR = 30.0
"""Seconds one listing of a client's organisations serves its completions."""
CACHED_CLIENTS = 64
"""Clients whose listing is kept at most, the most recently used."""
FIRST_BACKOFF, MAX_BACKOFF = 5.0, 60.0
"""After a failed listing, seconds before the next try: 5, doubling up to a minute."""
ID = "organisation_id"
_SEPARATORS = re.compile("[,;]")

Completer = Callable[[ServerRequestContext[Any, Any], CompleteRequestParams], Awaitable[CompleteResult]]


def currency_codes(typed: str) -> list[str]:
    """ISO 4217 codes for ``typed``: those starting with it (any case), then those whose currency's name has a
    word starting with it ("euro" → EUR, "dollar" → AUD, CAD, ...)."""
    text = typed.strip().casefold()
    by_code = sorted(code for code in ISO_4217 if code.casefold().startswith(text))
    by_name = sorted(code for code, name in CURRENCY_NAMES.items() if text and _has_word_starting(name, text))
    return list(dict.fromkeys([*by_code, *by_name]))


def currency_list(typed: str) -> list[str]:
    """``typed``, a comma-separated list of codes, with its last item completed (codes already listed left out)."""
    cut = max((found.end() for found in _SEPARATORS.finditer(typed)), default=0)
    head, last = typed[:cut], typed[cut:]
    space = last[: len(last) - len(last.lstrip())]
    listed = {code.strip().upper() for code in _SEPARATORS.split(head)}
    return [f"{head}{space}{code}" for code in currency_codes(last) if code not in listed]


def organisation_ids(typed: str, organisations: list[tuple[int, str]]) -> list[str]:
    """The ids of ``organisations`` (id, name) that match ``typed``, best first: the id itself, ids starting with it,
    names starting with it, names with a word starting with it, names containing it (any case); else listing order."""
    text = typed.strip().casefold()

    def rank(identifier: int, name: str) -> int | None:
        folded = name.casefold()
        tests = (
            str(identifier) == text,
            str(identifier).startswith(text),
            folded.startswith(text),
            _has_word_starting(folded, text),
            text in folded,
        )
        return next((place for place, passed in enumerate(tests) if passed), None)

    ranked = [
        (place, order, identifier)
        for order, (identifier, name) in enumerate(organisations)
        if (place := rank(identifier, name)) is not None
    ]
    return [str(identifier) for _, _, identifier in sorted(ranked)]


def _has_word_starting(name: str, text: str) -> bool:
    return any(word.startswith(text) for word in re.split(r"\W+", name.casefold()))


@dataclass
class _Listing:
    """One client's organisations as completions last listed them, or when to try again after a failure."""

    lock: anyio.Lock = field(default_factory=anyio.Lock)
    organisations: list[tuple[int, str]] = field(default_factory=list)
    more: bool = False
    listed_at: float = -FRESH_FOR
    retry_at: float = 0.0
    backoff: float = FIRST_BACKOFF


class OrganisationIndex:
    """Each client's organisations (ids and names, up to ``limit``) for completions: listed again once older than
    :data:`FRESH_FOR` seconds, one listing at a time per client, for the :data:`CACHED_CLIENTS` most recently used
    clients. After a failed listing none is tried before the backoff (5 s, doubling up to a minute) has passed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._listings: OrderedDict[OASClient, _Listing] = OrderedDict()

    async def organisations(self, client: OASClient) -> tuple[list[tuple[int, str]], bool]:
        """The client's organisations (id, name) and whether more exist past the limit; none while backing off."""
        listing = self._listing(client)
        async with listing.lock:  # a burst of keystrokes waits for one listing, not one each
            now = time.monotonic()
            if now - listing.listed_at < FRESH_FOR or now < listing.retry_at:
                return listing.organisations, listing.more
            try:
                found = await client.list_organisations(limit=self.limit)
            except OASError:
                listing.retry_at = time.monotonic() + listing.backoff
                listing.backoff = min(MAX_BACKOFF, listing.backoff * 2)
                listing.organisations, listing.more = [], False
                return [], False
            listing.organisations = [(organisation.id, organisation.name) for organisation in found.organisations]
            listing.more, listing.listed_at, listing.backoff = found.truncated, time.monotonic(), FIRST_BACKOFF
            return listing.organisations, listing.more

    def _listing(self, client: OASClient) -> _Listing:
        listing = self._listings.get(client)
        if listing is None:
            listing = self._listings[client] = _Listing()
            if len(self._listings) > CACHED_CLIENTS:
                self._listings.popitem(last=False)
        self._listings.move_to_end(client)
        return listing


def completer(settings: Settings) -> Completer:
    """The ``completion/complete`` handler: values for the prompt's currencies (when it is offered) and the
    template's organisation ids; none for anything else."""
    index = OrganisationIndex(settings.list_limit)

    async def complete(request: ServerRequestContext[Any, Any], params: CompleteRequestParams) -> CompleteResult:
        ref, argument = params.ref, params.argument
        values: list[str] = []
        more = False
        if isinstance(ref, PromptReference) and ref.name == ONBOARD_PROMPT and not settings.read_only:
            typed = {"base_currency": currency_codes, "currencies": currency_list}.get(argument.name)
            values = typed(argument.value) if typed else []
        elif isinstance(ref, ResourceTemplateReference) and (ref.uri, argument.name) == (ORGANISATION_TEMPLATE, ID):
            organisations, more = await _organisations(index, request)
            values = organisation_ids(argument.value, organisations)
        return CompleteResult(
            completion=Completion(
                values=values[:MAX_VALUES], total=len(values), has_more=more or len(values) > MAX_VALUES
            )
        )

    return complete


async def _organisations(
    index: OrganisationIndex, request: ServerRequestContext[Any, Any]
) -> tuple[list[tuple[int, str]], bool]:
    try:
        client = await client_for(request, ask=False)
    except ToolError:  # no usable key, or no linked account: nothing to list
        return [], False
    return await index.organisations(client)

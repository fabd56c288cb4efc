"""Linked accounts, the MCP side: each person signed in through OAuth acts as the OAS account they linked.

A call from a subject who linked none is answered with a link to the link page (URL-mode elicitation where the
client declared it, else a tool error carrying the same URL), and nothing else: the operator's account is never
used on their behalf. Once the link is used (on this replica or another: the store says so), the session that was
asked is told (``notifications/elicitation/complete``). The link page itself is the HTTP host's
(:mod:`oas_mcp.accounts.page`); this module only makes the links, and reads and deletes what the page stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import UrlElicitationRequiredError
from mcp_types import (
    ElicitCompleteNotification,
    ElicitCompleteNotificationParams,
    ElicitRequestURLParams,
    ToolAnnotations,
)

from oas_mcp.accounts import LINK_TTL, AccountsError, AccountStore, LinkedAccount, Subject
from oas_mcp.accounts.store import PENDING_PER_SUBJECT
from oas_mcp.server._sdk import connection_of

if TYPE_CHECKING:
    from mcp.server.connection import Connection
    from mcp.server.context import ServerRequestContext

    from oas_mcp.client import OASClient
    from oas_mcp.server.credentials import Clients

logger = logging.getLogger("oas_mcp.server")

POLL_INTERVAL = 0.5
"""Seconds between asking the store which of the links this replica handed out were used meanwhile."""
MAX_WATCHED = 10_000
"""Most elicitations watched at once on one replica; past it, the oldest is no longer watched. Each subject's are
fewer: its newest :data:`PENDING_PER_SUBJECT` (the store keeps no more of its links: older ones cannot complete).
A session is its caller's (the SDK binds it to its token's subject), so that bounds each session's too."""
NOTIFY_TIMEOUT = 2.0
"""Seconds a session is given to take a completion notice; a stalled one is not told, and holds nothing up."""
VALIDITY = f"valid {LINK_TTL // 60} minutes, for you alone"
ELICITATION_MESSAGE = (
    f"Link your OAS account: open this page, sign in, and paste your OAS API key ({VALIDITY}). "
    "Your assistant then acts as that account."
)
NO_SUBJECT = (
    "This server acts for each person with the OAS account they linked, and this call carries no OAuth subject "
    "to look one up by; sign in through OAuth."
)
NO_PERSON = (
    "This call's OAuth token names no person but a service (a client_credentials token: its sub is its own client "
    "ID, or it has none), and linked OAS accounts are each a person's; sign in as a person through OAuth."
)
LINK_SHOWN = f"Link your OAS account first: open the link your client shows ({VALIDITY}), then call again."
NOT_LINKED = "You have not linked an OAS account yet: call any tool to get the link."
STORE_FAILED = "The linked accounts' database failed; try again in a minute (the server's log has the details)."


def link_required(url: str) -> str:
    """The tool error for a client that cannot open a URL elicitation: the link, in one line."""
    return f"Link your OAS account first: open {url} ({VALIDITY}), then call again."


@dataclass(frozen=True)
class _Watched:
    connection: Connection  # the session's, which lasts as long as it (the SDK makes a ServerSession per request)
    subject: Subject
    until: float  # anyio.current_time() after which the link has expired: no completion can come


class LinkedAccounts:
    """The linked accounts of the people signed in through OAuth, in ``store``; ``link_url(token)`` is the URL of
    the link page for a link's token. :meth:`run` must run while serving (it tells sessions their links were
    used)."""

    def __init__(self, store: AccountStore, link_url: Callable[[str], str]) -> None:
        self.store = store
        self._link_url = link_url
        self._watched: dict[str, _Watched] = {}  # by elicitation id, oldest first
        self._of_subject: dict[Subject, list[str]] = {}  # the elicitation ids watched for each subject, oldest first
        self._of_connection: dict[Connection, set[str]] = {}  # and for each session's connection, until it ends
        self._clients: Clients | None = None  # where the clients of linked accounts are cached, once one is made
        self._wake = anyio.Event()

    async def client(self, request: ServerRequestContext[Any, Any], clients: Clients, *, ask: bool = True) -> OASClient:
        """The client for the caller's linked account, looked up now (an unlink elsewhere counts at once).

        Raises UrlElicitationRequiredError (the client can open a URL) or ToolError (it cannot) carrying a link
        when the caller linked none (``ask=False``: ToolError, and no link is made); ToolError without an OAuth
        subject, or when the store fails.
        """
        subject = caller()
        try:
            account = await self.store.get(subject)
        except AccountsError as exc:
            logger.error("cannot read the account linked by %s: %s", subject, exc)
            raise ToolError(STORE_FAILED) from None
        if account is None:
            if not ask:
                raise ToolError(NOT_LINKED)
            await self._ask_to_link(subject, request)
        self._clients = clients
        return clients.for_account(subject, account)

    async def remove(self, subject: Subject) -> LinkedAccount | None:
        """Delete the account ``subject`` linked, and drop its client now (rather than when newer ones push it out);
        the account, or None when none was linked. Raises AccountsError."""
        account = await self.store.get(subject)
        if account is None or not await self.store.unlink(subject):
            return None
        if self._clients is not None:
            self._clients.forget_account(subject, account)
        return account

    async def unlink(self) -> str:
        """Delete the caller's linked account; what was done, in a sentence. Raises ToolError (as :meth:`client`)."""
        subject = caller()
        try:
            account = await self.remove(subject)
        except AccountsError as exc:
            logger.error("cannot unlink the account linked by %s: %s", subject, exc)
            raise ToolError(STORE_FAILED) from None
        if account is None:
            return "No OAS account is linked to you here: nothing was deleted. Your next call asks you to link one."
        return (
            f"Unlinked OAS account @{account.oas_username}: its credentials are deleted from this server; your OAS "
            "account itself is unchanged. Your next call asks you to link again."
        )

    async def _ask_to_link(self, subject: Subject, request: ServerRequestContext[Any, Any]) -> NoReturn:
        try:
            link = await self.store.start_link(subject)
        except AccountsError as exc:
            logger.error("cannot make a link for %s: %s", subject, exc)
            raise ToolError(STORE_FAILED) from None
        url = self._link_url(link.token)
        if not _opens_urls(request):
            raise ToolError(link_required(url))
        self._watch(link.elicitation_id, subject, connection_of(request))
        params = ElicitRequestURLParams(message=ELICITATION_MESSAGE, url=url, elicitation_id=link.elicitation_id)
        raise UrlElicitationRequiredError([params], message=LINK_SHOWN)

    def _watch(self, elicitation_id: str, subject: Subject, connection: Connection) -> None:
        """Tell the session on ``connection`` when the link is used, until it expires or the session ends: no more
        than the newest :data:`PENDING_PER_SUBJECT` of ``subject``'s, and :data:`MAX_WATCHED` in all."""
        if connection not in self._of_connection:
            self._of_connection[connection] = set()
            connection.exit_stack.callback(self._ended, connection)  # once per connection, however many requests
        self._watched[elicitation_id] = _Watched(connection, subject, anyio.current_time() + LINK_TTL)
        self._of_connection[connection].add(elicitation_id)
        subjects = self._of_subject.setdefault(subject, [])
        subjects.append(elicitation_id)
        while len(subjects) > PENDING_PER_SUBJECT:
            self._unwatch(subjects[0])
        while len(self._watched) > MAX_WATCHED:
            self._unwatch(next(iter(self._watched)))
        self._wake.set()

    def _unwatch(self, elicitation_id: str) -> _Watched | None:
        """Stop watching ``elicitation_id``; what was watched, if it was."""
        watched = self._watched.pop(elicitation_id, None)
        if watched is None:
            return None
        self._of_connection.get(watched.connection, set()).discard(elicitation_id)
        subjects = self._of_subject[watched.subject]
        subjects.remove(elicitation_id)
        if not subjects:
            del self._of_subject[watched.subject]
        return watched

    def _ended(self, connection: Connection) -> None:
        """The session on ``connection`` ended: nobody is left to tell of its links."""
        for elicitation_id in self._of_connection.pop(connection, set()):
            self._unwatch(elicitation_id)

    async def notify_completed(self, elicitation_id: str) -> None:
        """The link of ``elicitation_id`` was just used: tell the session it was shown in
        (``notifications/elicitation/complete``), if that session is on this replica, waiting at most
        :data:`NOTIFY_TIMEOUT` seconds for it."""
        watched = self._unwatch(elicitation_id)
        if watched is None:
            return
        params = ElicitCompleteNotificationParams(elicitation_id=elicitation_id)
        notice = ElicitCompleteNotification(params=params).model_dump(by_alias=True, mode="json", exclude_none=True)
        with anyio.move_on_after(NOTIFY_TIMEOUT) as waited:
            # On the session's own stream, as ServerSession.send_elicit_complete sends it (dropped once it is gone).
            await watched.connection.notify(notice["method"], notice.get("params"))
        if waited.cancelled_caught:
            logger.debug("the session asked to link by %s did not take its completion notice", watched.subject)

    async def run(self) -> None:
        """While there are links being watched, ask the store every :data:`POLL_INTERVAL` seconds which were used
        (on any replica), and tell their sessions (all at once: a stalled one holds up no other). Runs until
        cancelled."""
        while True:
            if not self._watched:
                self._wake = anyio.Event()
                await self._wake.wait()
            await anyio.sleep(POLL_INTERVAL)
            now = anyio.current_time()
            for elicitation_id in [key for key, watched in self._watched.items() if watched.until < now]:
                self._unwatch(elicitation_id)
            try:
                used = await self.store.completed_links(list(self._watched))
            except AccountsError as exc:
                logger.warning("cannot ask the accounts database which links were used: %s", exc)
                continue
            async with anyio.create_task_group() as group:
                for elicitation_id in used:
                    group.start_soon(self.notify_completed, elicitation_id)


def add_unlink_tool(server: MCPServer[Any], linked: LinkedAccounts) -> None:
    """``unlink_account``: the caller deletes the account they linked."""

    @server.tool(
        annotations=ToolAnnotations(
            title="Unlink your OAS account",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=False,
        )
    )
    async def unlink_account() -> str:
        """Delete the OAS credentials you linked to this server (your OAS account itself is unchanged); your next
        call asks you to link an account again. Call only when the user asks."""
        return await linked.unlink()


def caller() -> Subject:
    """Who makes the current request: its OAuth token's issuer and subject, when that is a person. Raises ToolError
    without one, and for a service's token (see :func:`names_no_person`)."""
    token = get_access_token()
    claims = (token.claims or {}) if token is not None else {}
    issuer, sub = claims.get("iss"), claims.get("sub")
    if token is None or not isinstance(issuer, str):
        raise ToolError(NO_SUBJECT)
    if not isinstance(sub, str) or names_no_person(claims):
        raise ToolError(NO_PERSON)
    return Subject(issuer, sub)


def names_no_person(claims: dict[str, Any]) -> bool:
    """Whether a token with these claims is a service's own, with no person behind it (a client_credentials token):
    it has no subject, or its subject is its own client (RFC 9068 makes ``sub`` the ``client_id`` then, as
    node-oidc-provider and Okta do), or it says so (Auth0's ``gty``, Entra ID's ``idtyp``). Such a subject is never
    taken for a person: else a person who signs in under the same name would link an account for the service, and
    the service act as them."""
    sub = claims.get("sub")
    return (
        not isinstance(sub, str)
        or not sub
        or sub in (claims.get("client_id"), claims.get("azp"))
        or claims.get("gty") == "client-credentials"
        or claims.get("idtyp") == "app"
    )


def _opens_urls(request: ServerRequestContext[Any, Any]) -> bool:
    """Whether the client declared URL-mode elicitation."""
    capabilities = request.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and elicitation.url is not None

"""The link page refusing a request: :class:`PageRefusal`, raised wherever the page refuses (a link that cannot be
used, a sign-in that failed, a form not sent from the page, the accounts database failing), and answered by the one
handler around every route (:meth:`oas_mcp.accounts.page.LinkPage.routes`) with the page that says why."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from oas_mcp.accounts import AccountsError, LinkRefused
from oas_mcp.accounts.page.html import error, page
from oas_mcp.accounts.page.texts import REFUSALS, STORE_FAILED

if TYPE_CHECKING:
    from starlette.responses import HTMLResponse

    from oas_mcp.accounts.store import Refusal

logger = logging.getLogger("oas_mcp.accounts.page")


class PageRefusal(Exception):
    """The page refuses the request: the ``status`` of its answer, and the ``title`` and ``text`` the person
    reads."""

    def __init__(self, status: int, title: str, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.title = title
        self.text = text

    def response(self) -> HTMLResponse:
        """The page saying why, as the answer to the request."""
        return page(self.title, error(self.text), self.status)


def link_refused(reason: Refusal) -> PageRefusal:
    """The page refusing a link the store refuses, for ``reason``."""
    status, text = REFUSALS[reason]
    return PageRefusal(status, "This link cannot be used", text)


@contextmanager
def store_refusals() -> Iterator[None]:
    """Raises PageRefusal for what the accounts store raises in the block: LinkRefused (the link cannot be used), or
    AccountsError (the database failed: logged, and the page says no more)."""
    try:
        yield
    except LinkRefused as refused:
        raise link_refused(refused.reason) from None
    except AccountsError as exc:
        logger.error("the link page cannot use the accounts database: %s", exc)
        raise PageRefusal(503, "Try again soon", STORE_FAILED) from None

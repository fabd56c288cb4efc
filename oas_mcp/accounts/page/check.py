"""Checking the credentials posted on the link page with the OAS API, before they are linked: the key with
``/helloworld``, then, when given, the username, email and password of the ``login`` tool, as the same account.
What is wrong on the form alone (no key, or not one; part of the login) is found before the API is asked."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import SecretStr

from oas_mcp.accounts import LinkedAccount
from oas_mcp.accounts.page.texts import API_FAILED, KEY_REFUSED, LOGIN_INCOMPLETE, LOGIN_REFUSED, NOT_A_KEY
from oas_mcp.settings import key_problem

if TYPE_CHECKING:
    from oas_mcp.client import Credentials, OASClient

logger = logging.getLogger("oas_mcp.accounts.page")


@dataclass(frozen=True)
class Checked:
    """What the OAS API said of the credentials given on the form: an account to link, or why not (``counts``:
    the credentials were refused, which only so many times are for one link; else the API could not say)."""

    account: LinkedAccount | None = None
    error: str | None = None
    status: int = 400
    counts: bool = False


def not_checkable(form: dict[str, str]) -> str | None:
    """What is wrong with the form that the API need not be asked about: no key, or not one; some of the login
    tool's credentials without the others."""
    key, username, email, password = _given(form)
    if not key or key_problem(key):
        return NOT_A_KEY
    if any((username, email, password)) and not all((username, email, password)):
        return LOGIN_INCOMPLETE
    return None


async def check(shared: OASClient, form: dict[str, str]) -> Checked:
    """The account the form's credentials are, once the OAS API accepts them (asked on ``shared``'s pool): the key
    with ``/helloworld``, then, when given, the username, email and password with ``login`` (as the same account).
    The form is one :func:`not_checkable` found nothing wrong with."""
    from oas_mcp.client import AuthenticationError, Credentials, OASError

    key, username, email, password = _given(form)
    try:
        owner = _owner(await shared.with_credentials(Credentials.of(api_key=key)).hello())
    except AuthenticationError:
        return Checked(error=KEY_REFUSED, counts=True)
    except OASError as exc:
        logger.warning("cannot check an API key on the link page: %s", exc)
        return Checked(error=API_FAILED, status=502)
    if owner is None:
        return Checked(error=API_FAILED, status=502)
    if password:
        login = Credentials.of(username=username, email=email, password=password)
        refused = await _check_login(shared, login, owner)
        if refused is not None:
            return refused
    account = LinkedAccount(
        oas_username=owner,
        api_key=SecretStr(key),
        username=username or None,
        email=email or None,
        password=SecretStr(password) if password else None,
    )
    return Checked(account)


def _given(form: dict[str, str]) -> tuple[str, str, str, str]:
    """The form's key, username, email and password; empty when not given."""
    return form.get("api_key", ""), form.get("username", ""), form.get("email", ""), form.get("password", "")


async def _check_login(shared: OASClient, login: Credentials, owner: str) -> Checked | None:
    """None when the ``login`` credentials sign in (on ``shared``'s pool) as ``owner``, the key's account; else why
    not, in one message for every refusal. Another account's are refused before the API is asked: the page must not
    tell anyone whether a password of someone else's is right. (The API tells a key's username, not its email: the
    email is checked once signed in.)"""
    from oas_mcp.client import AuthenticationError, OASError

    if (login.username or "").casefold() != owner.casefold():
        return Checked(error=LOGIN_REFUSED, counts=True)
    try:
        user = (await shared.with_credentials(login).login()).user
    except AuthenticationError:
        return Checked(error=LOGIN_REFUSED, counts=True)
    except OASError as exc:
        logger.warning("cannot check a sign-in on the link page: %s", exc)
        return Checked(error=API_FAILED, status=502)
    if user.username != owner or (user.email is not None and user.email.casefold() != (login.email or "").casefold()):
        return Checked(error=LOGIN_REFUSED, counts=True)
    return None


def _owner(greeting: str) -> str | None:
    """Whom ``Hello world @username`` greets."""
    from oas_mcp.server.results import Greeting

    return Greeting.of(greeting, "api_key").username

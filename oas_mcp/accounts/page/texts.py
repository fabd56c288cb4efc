"""What the link page says: each sentence a person may read on it, when a link or a sign-in is refused, the
credentials given are not linked, or the server cannot do what was asked. None quotes what a browser or the issuer
sent: whoever sends a browser here may have written that."""

from __future__ import annotations

from oas_mcp.accounts import LINK_TTL
from oas_mcp.accounts.store import CHECKS_WINDOW, MAX_FAILED_CHECKS, MAX_SUBJECT_CHECKS, Refusal

ASK_AGAIN = "Ask your assistant again for a new link."
REFUSALS: dict[Refusal, tuple[int, str]] = {
    "unknown": (404, f"This link is not known here: it may be mistyped, or so old that it was removed. {ASK_AGAIN}"),
    "used": (410, f"This link was already used: each link works once. {ASK_AGAIN}"),
    "expired": (410, f"This link has expired: links work for {LINK_TTL // 60} minutes. {ASK_AGAIN}"),
    "someone else": (
        403,
        "This link was made for someone else: sign in as the person who asked for it, or ask your assistant for a "
        "link of your own. Nothing was changed.",
    ),
    "tried too often": (
        410,
        f"This link no longer works: the credentials given on it were refused {MAX_FAILED_CHECKS} times, so it was "
        f"given up to protect your accounts. Nothing was stored. {ASK_AGAIN}",
    ),
    "checked too often": (
        429,
        f"Credentials given on your links were checked {MAX_SUBJECT_CHECKS} times within {CHECKS_WINDOW // 60} "
        f"minutes without linking an account, so checking is paused for up to {CHECKS_WINDOW // 60} minutes to "
        "protect your accounts. Nothing was stored. Ask your assistant again for a new link then.",
    ),
}
"""The status and the sentence of each reason the store refuses a link for."""
SIGN_IN_ERRORS = {
    "access_denied": "The sign-in was declined, at the identity provider.",
    "login_required": "The identity provider needs you to sign in, and could not ask you.",
    "interaction_required": "The identity provider needs something of you, and could not ask you.",
    "consent_required": "The identity provider needs your consent, and could not ask you.",
    "account_selection_required": "The identity provider needs you to choose an account, and could not ask you.",
    "temporarily_unavailable": "The identity provider is busy or down for a moment.",
    "server_error": "The identity provider failed.",
}
"""What the page says of each OAuth error code the issuer may send back (RFC 6749 4.1.2.1, OpenID Connect 3.1.2.6);
never the text sent with it, which whoever sends a browser here may have written."""
SIGN_IN_ERROR = "The identity provider did not complete the sign-in."
RETRY = "Nothing was changed, and your link still works: open it again to try again."
NOT_THIS_SIGN_IN = f"This sign-in is not the one this page started. {ASK_AGAIN}"
NO_AUTHORIZATION = "Signing in is not available yet: the identity provider has not answered. Try again in a minute."
ISSUER_DOWN = (
    "The identity provider could not complete your sign-in right now. Nothing was changed, and your link still "
    "works: open it again in a moment."
)
SIGN_IN_REFUSED = f"The identity provider's answer could not be verified, so you are not signed in here. {RETRY}"
SIGNED_OUT = "Your sign-in on this page is missing or has expired. Open the link from your assistant again."
FORM_TOO_LARGE = "This form is larger than the page sends."
NOT_FROM_THIS_PAGE = (
    "This form was not sent from this page (its security token is missing or wrong), so nothing was stored. "
    "Open the link from your assistant again."
)
KEY_REFUSED = (
    "The API refused this key: copy the whole key from your OAS welcome email (41 characters). Nothing was stored."
)
NOT_A_KEY = "This is not an API key: paste the 41-character key from your OAS welcome email. Nothing was stored."
LOGIN_REFUSED = (
    "The API refused this username, email and password for the login tool: give those of the key's account. "
    "Nothing was stored."
)
"""Whatever was wrong with them (another account's, a wrong password): the page tells no more than this."""
LOGIN_INCOMPLETE = (
    "For the login tool, give your username, email and password together (the API asks for all three), or leave "
    "all three empty. Nothing was stored."
)
API_FAILED = "The OAS API could not check this right now; nothing was stored. Try again in a minute."
STORE_FAILED = "The server's database of linked accounts failed; nothing was stored. Try again in a minute."
NOTHING_TO_UNLINK = "No OAS account is linked to you here: nothing was deleted."


def unlinked_account(oas_username: str) -> str:
    """What the page says once the account ``oas_username`` was unlinked."""
    return (
        f"Unlinked OAS account @{oas_username}: its credentials are deleted from this server. "
        "Your OAS account itself is unchanged."
    )


def sign_ins_paused(seconds: float) -> str:
    """What the page says when a person's links were signed in with too often: to wait ``seconds``."""
    return (
        f"Your links were signed in with too often in a short time. Nothing was changed: wait {seconds:.0f} "
        "seconds, then open the link again."
    )

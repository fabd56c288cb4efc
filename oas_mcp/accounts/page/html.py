"""The link page's HTML: its style, the headers every answer carries (a strict policy that lets in that style and
nothing else: no script, no frame, forms sent only here, no referrer), and the pages themselves: the page around a
body, an error in it, the form, and what the page shows once an account is linked or unlinked."""

from __future__ import annotations

import base64
import hashlib
from html import escape

from starlette.responses import HTMLResponse

MAX_FIELD = 512
"""Longest value a form field may have."""

STYLE = """
body{margin:0;background:#f4f5f7;color:#1d2330;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:32rem;margin:3rem auto;padding:2rem 2.25rem;background:#fff;border-radius:12px;
box-shadow:0 1px 3px rgba(20,30,50,.12),0 8px 24px rgba(20,30,50,.06)}
h1{font-size:1.35rem;margin:0 0 .75rem}
p{margin:.5rem 0}
.who{color:#4a5468;font-size:.95rem}
label{display:block;margin:1rem 0 .25rem;font-weight:600}
input{box-sizing:border-box;width:100%;padding:.6rem .7rem;border:1px solid #c4cad6;border-radius:8px;font:inherit}
input:focus{outline:2px solid #3d6fd8;outline-offset:1px;border-color:#3d6fd8}
fieldset{border:1px solid #e1e5ec;border-radius:10px;margin:1.25rem 0 0;padding:.25rem 1rem 1rem}
legend{padding:0 .35rem;color:#4a5468;font-size:.95rem}
button{margin-top:1.5rem;padding:.65rem 1.4rem;border:0;border-radius:8px;background:#2f5fc4;color:#fff;
font:inherit;font-weight:600;cursor:pointer}
button.quiet{background:#fff;color:#a12c2c;border:1px solid #d9a5a5}
.error{padding:.6rem .8rem;border-radius:8px;background:#fdecec;color:#8a1f1f}
.done{padding:.6rem .8rem;border-radius:8px;background:#e8f5ec;color:#1d5b33;font-weight:600}
small{display:block;margin-top:1.5rem;color:#6b7589}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the link's URL holds its token: never sent on to the issuer
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · oas-mcp</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}<small>oas-mcp · linked OAS accounts</small></main></body></html>"
    )
    return HTMLResponse(html, status, headers=HEADERS)


def error(text: str) -> str:
    return f'<p class="error" id="error">{escape(text)}</p>'


def form(
    action: str,
    signed_in: dict[str, str],
    problem: str | None = None,
    given: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The form, sent to ``action``: the key, then the optional sign-in of the login tool; ``problem``, what was
    wrong with the credentials ``given`` before. A key or password is never shown again."""
    given = given or {}

    def field(name: str, label: str, kind: str, *, required: bool = False, keep: bool = False) -> str:
        value = f' value="{escape(given.get(name, "")[:MAX_FIELD])}"' if keep and given.get(name) else ""
        return (
            f'<label for="{name}">{escape(label)}</label><input id="{name}" name="{name}" type="{kind}"'
            f'{value}{" required" if required else ""} autocomplete="off" maxlength="{MAX_FIELD}">'
        )

    body = (
        f'<p class="who">Signed in as <strong>{escape(signed_in["sub"])}</strong>.</p>'
        "<p>Paste the API key from your OAS welcome email. oas-mcp checks it with the OAS API, then keeps it "
        "encrypted, for your calls alone.</p>"
        f"{error(problem) if problem else ''}"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="csrf" value="{escape(signed_in["csrf"])}">'
        f"{field('api_key', 'OAS API key', 'password', required=True)}"
        "<fieldset><legend>For the login tool (optional)</legend>"
        f"{field('username', 'Username', 'text', keep=True)}"
        f"{field('email', 'Email', 'email', keep=True)}"
        f"{field('password', 'Password', 'password')}"
        '</fieldset><button type="submit" id="link">Link account</button></form>'
    )
    return page("Link your OAS account", body, status)


def linked(oas_username: str, csrf: str, unlink: str) -> HTMLResponse:
    """The account ``oas_username`` is linked: say so, with a button that unlinks it (posted to ``unlink``)."""
    body = (
        f'<p class="done" id="linked">Linked: Hello world @{escape(oas_username)}</p>'
        "<p>Your assistant now acts as this OAS account. You can close this page, and go back to the conversation.</p>"
        f'<form method="post" action="{escape(unlink)}"><input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button type="submit" class="quiet" id="unlink">Unlink</button></form>'
    )
    return page("OAS account linked", body)


def unlinked(text: str) -> HTMLResponse:
    """What was unlinked, in ``text``."""
    body = f'<p class="done" id="unlinked">{escape(text)}</p><p>Your assistant asks you to link again next time.</p>'
    return page("Unlinked", body)

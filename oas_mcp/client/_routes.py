"""The API's routes the client uses, the template a request's path is an instance of, and its API key header."""

from __future__ import annotations

import re

API_KEY_HEADER = "X-Api-Key"
HELLO = "/helloworld"
LOGIN = "/api/auth/login/"
ORGANISATIONS = "/api/organisations/"
ACTIVATE = ORGANISATIONS + "{id}/make_active/"
TEMPLATES = frozenset({HELLO, LOGIN, ORGANISATIONS, ACTIVATE})
OTHER = "other"
"""The template of any other path (a ``next`` link of the API's own making): it says nothing of the path."""

_ID = re.compile(r"(?<=/)\d+(?=/|$)")


def template(path: str) -> str:
    """The route ``path`` (no query) belongs to, ids as ``{id}``: ``/api/organisations/{id}/make_active/`` for
    ``/api/organisations/7/make_active/``; :data:`OTHER` for a path of none of the routes above."""
    found = _ID.sub("{id}", path)
    return found if found in TEMPLATES else OTHER

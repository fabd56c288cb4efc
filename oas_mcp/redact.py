"""Secrets this process holds, and text with them masked: the last line of defence for logs."""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

MASK = "[redacted]"
_SHORTEST = 4
"""Shorter values are not masked: masking every "ab" would garble all text and hide nothing worth hiding."""
RECENT = 64
"""Transient values (session tokens, per-user credentials) masked by name: the latest remembered (or remembered
again) this many."""
_SHAPES = (  # compiled (and cached by re) when first used, not at start-up
    r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*"  # a JWT
    r"|\b[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}\b"  # an API key as the guide shows them (8 + 1 + 32 characters)
    r"|(?i:(?<=authorization: )bearer \S+|(?<=authorization': ')bearer [^']+)"  # an Authorization header value
    r"|(?i:(?<=x-api-key: )\S+|(?<=x-api-key': ')[^']+)"  # an X-Api-Key header value
)
_LINK_TOKEN = r"(?<=/link/)[\w-]{43}(?![\w-])"
"""The token of a link to the link page (``secrets.token_urlsafe(32)``), in its path: masked as ``/link/…``, so that
the route stays readable."""


class _Vault:
    """Credentials are kept for the life of the process; session tokens, only the latest few.

    Remembering costs the same however many values are known (no pattern is built of them all): masking looks for
    each known value in the text, and they are few (the configured credentials, and :data:`RECENT`)."""

    def __init__(self) -> None:
        self._lasting: set[str] = set()
        self._transient: OrderedDict[str, None] = OrderedDict()  # least recently remembered first
        self._longest_first: tuple[str, ...] | None = None  # what scrub looks for, once asked after a change

    def remember(self, values: tuple[str | None, ...], transient: bool) -> None:
        for value in values:
            if not value or len(value) < _SHORTEST or value in self._lasting:
                continue
            if not transient:
                self._lasting.add(value)
                self._transient.pop(value, None)
            elif value in self._transient:
                self._transient.move_to_end(value)  # still in use: among the latest again
                continue
            else:
                self._transient[value] = None
                if len(self._transient) > RECENT:
                    self._transient.popitem(last=False)
            self._longest_first = None

    def known(self) -> frozenset[str]:
        return frozenset({*self._lasting, *self._transient})

    def scrub(self, text: str, shapes: bool) -> str:
        if self._longest_first is None:  # longest first: a secret holding another is masked whole
            self._longest_first = tuple(sorted(self.known(), key=len, reverse=True))
        for value in self._longest_first:
            if value in text:
                text = text.replace(value, MASK)
        for values in _in_flight.get():
            for value in values:
                if len(value) >= _SHORTEST:
                    text = text.replace(value, MASK)
        return re.sub(_LINK_TOKEN, "…", re.sub(_SHAPES, MASK, text)) if shapes else text


_vault = _Vault()
_in_flight: ContextVar[tuple[Sequence[str], ...]] = ContextVar("oas_mcp_secrets_in_flight", default=())


@contextmanager
def masking(values: Sequence[str]) -> Iterator[None]:
    """Mask ``values`` in whatever :func:`scrub` sees in this context (tasks started in it included) until the
    block ends, whatever their shape and however many other secrets there are. ``values`` is read at each scrub,
    so the caller may change it meanwhile (a session token renewed mid-call)."""
    held = _in_flight.get()
    if any(entry is values for entry in held):
        yield
        return
    token = _in_flight.set((*held, values))
    try:
        yield
    finally:
        _in_flight.reset(token)


def remember(*values: str | None, transient: bool = False) -> None:
    """Mask these values wherever :func:`scrub` sees them from now on (``transient``: only while recent)."""
    _vault.remember(values, transient)


def remembered() -> frozenset[str]:
    """The values :func:`scrub` masks by name (it also masks JWTs and key- or header-shaped text)."""
    return _vault.known()


def scrub(text: str, *, shapes: bool = True) -> str:
    """``text`` with every remembered secret and those in flight (see :func:`masking`) replaced by a mask, and with
    ``shapes``, JWTs, API-key-shaped text, credential header values and the tokens of links to the link page too (not
    in data: a name may look like one).
    """
    return _vault.scrub(text, shapes)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, exception text and stack before the handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = scrub(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True

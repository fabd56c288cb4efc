"""Untrusted text (from the API or the network) made safe to show: one line, no markup, no secret, bounded."""

from __future__ import annotations

import re
import unicodedata

from oas_mcp.redact import scrub

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
# Cc: controls; Cf: format characters (zero-width, bidi overrides); Co, Cs, Cn: private, surrogate, unassigned.
_DROP = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})


def clean(text: str, limit: int = 200) -> str:
    """For messages and logs: strip control and invisible characters, mask secrets (known ones and any text shaped
    like a credential), collapse whitespace, cap at ``limit`` characters."""
    return _tidy(text, limit, shapes=True)


def clean_data(text: str, limit: int = 200) -> str:
    """Like :func:`clean`, for a data field such as a name: known secrets are masked, but text merely shaped like
    a credential is kept, since it may be the real value."""
    return _tidy(text, limit, shapes=False)


def _tidy(text: str, limit: int, shapes: bool) -> str:
    if not text.isprintable() or "  " in text:
        kept = (" " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch) not in _DROP)
        text = _SPACE.sub(" ", "".join(kept))
    text = scrub(text, shapes=shapes).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def plain(text: str, limit: int = 200) -> str:
    """Like :func:`clean`, for text that may be HTML: tags are removed first."""
    return clean(_TAG.sub(" ", text), limit)

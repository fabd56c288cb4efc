"""What a model reads of a result (the text block beside the structured content) and of a resource: each fact said
once, in as few bytes as keep everything a user would ask about.

- One thing (a greeting, a sign-in, an organisation) is its JSON, compact, with nulls and empty values left out.
- A listing grows with the account, so it is a table: a line saying how many there are in all and whether more
  may match, the owner once when every organisation has the same one, then a header row and one tab-separated
  row per organisation, with only the columns some organisation fills. The structured content is the same data
  field by field, for programs.

Everything here reads the structured content, as JSON: what the client receives, so the text cannot say otherwise.
Its strings were cleaned on the way in (see :mod:`oas_mcp.server.results`), so a name holds no tab or newline to
break a row.
"""

from __future__ import annotations

import json
from typing import Any

from oas_mcp import counted

COLUMNS = ("id", "name", "base_currency", "currencies", "image", "owner")
"""A listing's columns, in order; a column no organisation fills is left out."""


def compact(value: Any) -> Any:
    """``value`` (JSON) without nulls and empty strings, lists or objects, at any depth (``false`` and 0 stay)."""
    if isinstance(value, list):
        return [compact(item) if isinstance(item, dict | list) else item for item in value]
    if not isinstance(value, dict):
        return value
    kept = {}
    for key, item in value.items():
        if isinstance(item, dict | list):
            if inner := compact(item):
                kept[key] = inner
        elif item is not None and item != "":
            kept[key] = item
    return kept


def as_json(value: Any) -> str:
    """``value`` as compact JSON, nulls and empty values left out, non-ASCII text as itself (not ``\\u`` escapes)."""
    return json.dumps(compact(value), ensure_ascii=False, separators=(",", ":"))


def shared_owner(listing: dict[str, Any]) -> dict[str, Any]:
    """A listing (as :class:`~oas_mcp.server.results.Organisations` dumps it) with the owner said once, as ``owner``
    beside ``organisations``, when every organisation has the same one; as it is otherwise."""
    organisations = listing["organisations"]
    owner = _owner_of_all(organisations)
    if owner is None:
        return listing
    each = [{key: value for key, value in organisation.items() if key != "owner"} for organisation in organisations]
    return {**listing, "owner": owner, "organisations": each}


def text_of(result: dict[str, Any]) -> str:
    """The text a model reads of a tool's structured ``result``: a table for a listing, else compact JSON."""
    if isinstance(result.get("organisations"), list):
        return _table(result)
    return as_json(result)


def _owner_of_all(organisations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The owner every organisation has; None when they differ, or there are none."""
    owner = organisations[0].get("owner") if organisations else None
    return owner if owner and all(organisation.get("owner") == owner for organisation in organisations) else None


def _table(listing: dict[str, Any]) -> str:
    organisations: list[dict[str, Any]] = listing["organisations"]
    lines = [_summary(listing)]
    if note := listing.get("note"):
        lines.append(f"Note: {note}")
    owner = _owner_of_all(organisations)
    if owner is not None and (who := _person(owner)):
        lines.append(f"Owner of all: {who}.")
    names = [name for name in COLUMNS if not (name == "owner" and owner is not None)]
    columns = {name: cells for name in names if any(cells := _column(name, organisations))}
    if organisations:
        lines.append("\t".join(columns))
        lines += ("\t".join(row) for row in zip(*columns.values(), strict=True))
    return "\n".join(lines)


def _summary(listing: dict[str, Any]) -> str:
    count, returned = listing["count"], listing["returned"]
    more = "; more may match: raise limit or filter" if listing.get("truncated") else ""
    return f"{counted(count, 'organisation')} in the account; {returned} listed{more}."


def _column(name: str, organisations: list[dict[str, Any]]) -> list[str]:
    """The cells of column ``name``, one per organisation; an empty string where it has no value."""
    values = [organisation.get(name) for organisation in organisations]
    if name == "currencies":
        return [", ".join(value) if value else "" for value in values]
    if name == "owner":
        return [_person(value) if value else "" for value in values]
    return ["" if value is None else str(value) for value in values]


def _person(owner: dict[str, Any]) -> str:
    """An owner as one short phrase, ``demo (id 1, demo@example.com)``; empty when it has no field set."""
    named = [str(owner[key]) for key in ("username", "email") if owner.get(key)]
    numbered = [f"id {owner['id']}"] if owner.get("id") is not None else []
    parts = named[:1] + numbered + named[1:]
    return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else "".join(parts)

"""Tool schemas as clients read them best: every ``$ref`` inlined, and "or null" as a type list.

Pydantic writes ``{"anyOf": [{"type": "string"}, {"type": "null"}]}`` and ``{"$ref": "#/$defs/OwnerResult"}``; the same
schema written ``{"type": ["string", "null"]}`` with the definition in place means the same, is read by clients
that do not follow references, and is about twice as fast to check a result against.
"""

from __future__ import annotations

from typing import Any

NULL = {"type": "null"}


def portable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without ``$defs``/``$ref`` (our models are not recursive) and with nullable types as lists."""
    simplified = _simplify(schema, schema.get("$defs", {}))
    assert isinstance(simplified, dict)
    return simplified


def _simplify(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_simplify(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{key: value for key, value in node.items() if key != "$ref"}}
    node = {key: _simplify(value, definitions) for key, value in node.items() if key != "$defs"}
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and NULL in options:
        other = options[0] if options[1] == NULL else options[1]
        if isinstance(other, dict) and isinstance(other.get("type"), str):
            rest = {key: value for key, value in node.items() if key != "anyOf"}
            return {**other, **rest, "type": [other["type"], "null"]}
    return node

"""Tool schemas as clients read them best: every ``$ref`` inlined, "or null" as a type list, and nothing that says
no more than the name beside it.

Pydantic writes ``{"anyOf": [{"type": "string"}, {"type": "null"}]}`` and ``{"$ref": "#/$defs/OwnerResult"}``; the same
schema written ``{"type": ["string", "null"]}`` with the definition in place means the same, is read by clients
that do not follow references, and is about twice as fast to check a result against. Pydantic also gives each
property a title made from its name (``"limit": {"title": "Limit"}``) and an optional one ``"default": null``: a
model reads both in every tool definition, and they tell it nothing.
"""

from __future__ import annotations

from typing import Any

NULL = {"type": "null"}


def input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's input ``schema`` as a model reads it, in every conversation: portable, without its title (which only
    names the function, "helloArguments"), and an optional argument's type without "or null" (left out, it is
    none). The server still accepts null for it, and refuses arguments not listed, naming those it takes."""
    lean = {key: value for key, value in portable(schema).items() if key != "title"}
    required = set(lean.get("required", ()))
    properties = lean.get("properties", {})
    lean["properties"] = {name: value if name in required else _not_null(value) for name, value in properties.items()}
    return lean


def _not_null(schema: Any) -> Any:
    """A property's ``schema`` with ``"type": [T, "null"]`` as ``"type": T``."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, list) and len(kind) == 2 and "null" in kind:
        return {**schema, "type": next(item for item in kind if item != "null")}
    return schema


def portable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without ``$defs``/``$ref`` (our models are not recursive), with nullable types as lists, and
    without generated property titles and null defaults."""
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
    if isinstance(node.get("properties"), dict):
        node["properties"] = {name: _without_made_title(name, value) for name, value in node["properties"].items()}
    if "default" in node and node["default"] is None:
        del node["default"]
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and NULL in options:
        other = options[0] if options[1] == NULL else options[1]
        if isinstance(other, dict) and isinstance(other.get("type"), str):
            rest = {key: value for key, value in node.items() if key != "anyOf"}
            return {**other, **rest, "type": [other["type"], "null"]}
    return node


def _without_made_title(name: str, schema: Any) -> Any:
    """A property's ``schema`` without the title pydantic makes from its ``name`` ("base_currency": "Base Currency")."""
    if isinstance(schema, dict) and schema.get("title") == name.replace("_", " ").title():
        return {key: value for key, value in schema.items() if key != "title"}
    return schema

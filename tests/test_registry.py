"""The MCP Registry's entry (server.json, as .ci/build writes it out with the version) is valid against the
registry's schema (tests/server.schema.json: the 2025-12-11 schema, copied from the registry's repository) and agrees
with the package: its name and version, the README's ownership marker, and the settings the bundle asks for."""

from __future__ import annotations

import json
import tomllib
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft7Validator

from oas_mcp import __version__

from support import ROOT, released

SCHEMA: dict[str, Any] = json.loads((ROOT / "tests" / "server.schema.json").read_text())
SERVER = released("server.json")
PACKAGE: dict[str, Any] = SERVER["packages"][0]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FIELDS: dict[str, dict[str, Any]] = json.loads((ROOT / "bundle" / "manifest.json").read_text())["user_config"]


def problems(document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in Draft7Validator(SCHEMA).iter_errors(document)
    ]


def test_server_json_is_valid_against_the_registry_schema_it_names() -> None:
    assert (
        SERVER["$schema"]
        == SCHEMA["$id"]
        == "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
    )
    assert problems(SERVER) == []


@pytest.mark.parametrize(
    ("change", "rejected"),
    [
        ({"description": "x" * 101}, "description"),  # the registry's 100-character limit
        ({"name": "oas-mcp"}, "name"),  # reverse-DNS, with one slash
        ({"packages": [{**PACKAGE, "version": "latest"}]}, "packages/0/version"),
    ],
)
def test_the_schema_rejects_what_the_registry_would(change: dict[str, Any], rejected: str) -> None:
    assert [problem.split(":")[0] for problem in problems({**SERVER, **change})] == [rejected]


def test_the_entry_is_this_pypi_package_at_this_version_run_over_stdio() -> None:
    owner, name = urlsplit(PROJECT["urls"]["Repository"]).path.strip("/").split("/")

    assert SERVER["name"] == f"io.github.{owner}/{name}"
    assert SERVER["repository"] == {"url": PROJECT["urls"]["Repository"], "source": "github"}
    assert SERVER["version"] == PACKAGE["version"] == __version__
    assert (PACKAGE["registryType"], PACKAGE["identifier"], PACKAGE["runtimeHint"]) == ("pypi", PROJECT["name"], "uvx")
    assert PACKAGE["transport"] == {"type": "stdio"}
    assert "version" not in json.loads((ROOT / "server.json").read_text())  # written in by the build


def test_the_readme_carries_the_ownership_marker_near_the_top() -> None:
    # The registry looks for `mcp-name: NAME` in the README as PyPI shows it (the package's long description).
    head = (ROOT / "README.md").read_text().splitlines()[:5]

    assert f"<!-- mcp-name: {SERVER['name']} -->" in head


def test_the_variables_are_the_settings_the_bundle_asks_for_with_the_secrets_marked() -> None:
    variables = {variable["name"]: variable for variable in PACKAGE["environmentVariables"]}
    expected = {
        f"OAS_{name.upper()}": {
            "name": f"OAS_{name.upper()}",
            "description": field["description"],
            **({"isRequired": True} if field["required"] else {}),
            **({"isSecret": True} if field.get("sensitive") else {}),
            **({"format": "boolean", "default": str(field["default"]).lower()} if field["type"] == "boolean" else {}),
            **({"default": field["default"]} if field["type"] == "string" and "default" in field else {}),
        }
        for name, field in FIELDS.items()
    }

    assert variables == expected

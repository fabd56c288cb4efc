"""The Claude Desktop bundle's manifest (bundle/manifest.json) agrees with the code: its version (written in by the
build), its tools, the settings its fields become, and its listing (icon, links). tests/interop/test_packages.py
builds, validates, unpacks and launches the bundle."""

from __future__ import annotations

import json
import re
import struct
import tomllib
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr

from oas_mcp import __version__
from oas_mcp.sandbox import Sandbox
from oas_mcp.settings import Settings

from support import DOCS, ROOT, command, error_text, released, server_for, structured

MANIFEST: dict[str, Any] = json.loads((ROOT / "bundle" / "manifest.json").read_text())
FIELDS: dict[str, dict[str, Any]] = MANIFEST["user_config"]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_bundle_has_the_package_version_license_and_python() -> None:
    assert "version" not in MANIFEST  # the version is written once, in oas_mcp/__init__.py
    assert released("bundle/manifest.json") == {**MANIFEST, "version": __version__}
    assert MANIFEST["license"] == PROJECT["license"]
    assert MANIFEST["compatibility"]["runtimes"]["python"] == PROJECT["requires-python"]


def test_the_bundle_is_listed_with_its_icon_and_the_project_links() -> None:
    icon = (ROOT / "bundle" / MANIFEST["icon"]).read_bytes()

    assert icon[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", icon[16:24]) == (512, 512)  # the IHDR's width and height, the size mcpb recommends
    assert MANIFEST["repository"] == {"type": "git", "url": PROJECT["urls"]["Repository"]}
    assert (MANIFEST["homepage"], MANIFEST["support"]) == (PROJECT["urls"]["Homepage"], PROJECT["urls"]["Issues"])
    # manifest 0.4's `uv` type; no minimum is published, and this release is the first known to run it
    assert MANIFEST["compatibility"]["claude_desktop"] == ">=1.1617.0"


def test_the_bundle_lists_the_tools_the_server_lists() -> None:
    listed = [line.split(maxsplit=1) for line in command("tools", "--sandbox").stdout.splitlines()]

    assert [[tool["name"], tool["description"]] for tool in MANIFEST["tools"]] == listed


def test_the_bundle_runs_the_console_script_with_each_field_as_its_setting() -> None:
    config = MANIFEST["server"]["mcp_config"]

    assert config["args"][-1] in PROJECT["scripts"]
    assert config["env"] == {f"OAS_{name.upper()}": f"${{user_config.{name}}}" for name in FIELDS}
    assert set(FIELDS) <= set(Settings.model_fields)


def test_secrets_are_sensitive_and_each_field_is_required_or_has_the_settings_default() -> None:
    for name, field in FIELDS.items():
        setting = Settings.model_fields[name]
        assert field.get("sensitive", False) is (setting.annotation == SecretStr | None), name
        assert field["required"] is ("default" not in field), name
        assert field.get("default", setting.default) == setting.default, name


def test_the_docs_name_the_packages_without_a_version_to_keep_in_step() -> None:
    named = re.findall(r"oas[-_]mcp-([\w.*]+?)(?:-py3-none-any\.whl|\.tar\.gz|\.mcpb)", "".join(DOCS.values()))

    assert named
    assert set(named) <= {"VERSION", "*"}


# The credentials the bundle requires: the API key, which the API guide asks for on every request, and what signing in
# (POST /api/auth/login/) needs by the guide: username, email and password, each "required" (the sandbox follows it).
SIGN_IN = ("username", "email", "password")


def test_the_bundle_requires_the_api_key_and_what_signing_in_needs() -> None:
    assert {name for name, field in FIELDS.items() if field["required"]} == {"api_key", *SIGN_IN}


@pytest.mark.anyio
@pytest.mark.parametrize("missing", SIGN_IN)
async def test_signing_in_fails_without_any_one_of_the_fields_it_needs(sandbox: Sandbox, missing: str) -> None:
    async with Client(server_for(sandbox, **{missing: ""})) as client:
        failed = error_text(await client.call_tool("login", {}))
    async with Client(server_for(sandbox)) as client:
        signed_in = structured(await client.call_tool("login", {}))

    assert missing in failed.lower()
    assert signed_in["user"]["username"] == "demo"

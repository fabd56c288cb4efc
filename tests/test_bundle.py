"""The Claude Desktop bundle's manifest (bundle/manifest.json) agrees with the code: its version, its tools, and the
settings its fields become. tests/interop/test_packages.py builds, validates, unpacks and launches the bundle."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from oas_mcp import __version__
from oas_mcp.settings import Settings

from support import DOCS, run

ROOT = Path(__file__).parent.parent
MANIFEST: dict[str, Any] = json.loads((ROOT / "bundle" / "manifest.json").read_text())
FIELDS: dict[str, dict[str, Any]] = MANIFEST["user_config"]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_bundle_has_the_package_version_license_and_python() -> None:
    assert MANIFEST["version"] == __version__
    assert MANIFEST["license"] == PROJECT["license"]
    assert MANIFEST["compatibility"]["runtimes"]["python"] == PROJECT["requires-python"]


def test_the_bundle_lists_the_tools_the_server_lists() -> None:
    listed = [line.split(maxsplit=1) for line in run("tools", "--sandbox").stdout.splitlines()]

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

"""What oas-mcp installs: every package it imports is declared, with a tested upper bound, and the tests run on
the exact versions of a lock file with hashes, so a new release elsewhere cannot break a green main overnight."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support import readme_command

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
OPTIONAL = PROJECT["optional-dependencies"]
# What the server may import: its dependencies, and the PostgreSQL driver of the `postgres` extra (imported only when
# OAS_DATABASE_URL is set); the otel extra is oas_mcp.observability.telemetry's alone (see TELEMETRY).
SERVER = [*PROJECT["dependencies"], *OPTIONAL["postgres"]]
BUILD_BACKEND = PYPROJECT["build-system"]["requires"]
# Each lock, and what it pins: the README's test command installs the first; its build command the second, which
# .ci/run adds for the package tests.
LOCKS = {
    "tests/requirements.lock": [*SERVER, *OPTIONAL["test"], *OPTIONAL["otel"], *BUILD_BACKEND],
    ".ci/release.lock": [*OPTIONAL["release"], *BUILD_BACKEND],
}
PROVIDERS = packages_distributions()
TELEMETRY = ROOT / "oas_mcp" / "observability" / "telemetry.py"
"""The one module that imports the otel extra's packages (the SDK and its exporters)."""
PINNED = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)(?: ;[^\\]*)? \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", re.M
)


def imported_modules(paths: list[Path]) -> set[str]:
    """The modules the code in ``paths`` imports, by full name (the standard library and oas_mcp aside); from a
    namespace package many distributions share, the modules imported from it."""
    modules: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                shared = len(PROVIDERS.get(node.module, ())) > 1  # from opentelemetry import trace
                modules |= {f"{node.module}.{alias.name}" for alias in node.names} if shared else {node.module}
    return {name for name in modules if name.split(".")[0] not in {*sys.stdlib_module_names, "oas_mcp", "__future__"}}


def owners(module: str) -> set[str]:
    """The distributions that provide ``module``: for a namespace package that many share (``opentelemetry``), the
    ones whose files are under the module's own path."""
    top = module.split(".", maxsplit=1)[0]
    candidates = PROVIDERS.get(top, [top])
    if len(candidates) == 1:
        return {canonicalize_name(candidates[0])}
    parts = tuple(module.split("."))
    as_file = (*parts[:-1], f"{parts[-1]}.py")
    return {
        canonicalize_name(name)
        for name in candidates
        if any(file.parts[: len(parts)] == parts or file.parts == as_file for file in distribution(name).files or ())
    }


def imported_distributions(paths: list[Path]) -> set[str]:
    return {owner for module in imported_modules(paths) for owner in owners(module)}


def declared(requirements: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(req.name): req for req in map(Requirement, requirements)}


def test_every_package_the_server_imports_is_declared() -> None:
    code = [path for path in (ROOT / "oas_mcp").rglob("*.py") if path != TELEMETRY]
    missing = imported_distributions(code) - set(declared(SERVER))

    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"


def test_only_the_telemetry_module_imports_the_otel_extra_and_it_declares_all_it_imports() -> None:
    dependencies = declared([*PROJECT["dependencies"], *OPTIONAL["otel"]])

    missing = imported_distributions([TELEMETRY]) - set(dependencies)

    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"
    assert "opentelemetry-sdk" in imported_distributions([TELEMETRY])


def test_every_dependency_has_an_upper_bound_on_its_major() -> None:
    requirements = [requirement for locked in LOCKS.values() for requirement in locked]

    unbounded = [
        str(req) for req in map(Requirement, requirements) if not any(s.operator == "<" for s in req.specifier)
    ]

    assert not unbounded, f"no tested upper bound: {unbounded}"


def pins(lock: str) -> dict[str, str]:
    """The version ``lock`` pins each distribution to, by canonical name; fails unless every pin has hashes."""
    text = (ROOT / lock).read_text()
    found: dict[str, str] = {canonicalize_name(name): version for name, version, _ in PINNED.findall(text)}
    assert len(found) == len(re.findall(r"^\S+==", text, re.M)), f"every pinned line of {lock} carries sha256 hashes"
    return found


@pytest.mark.parametrize("lock", LOCKS)
def test_the_lock_pins_every_requirement_within_its_range_with_hashes(lock: str) -> None:
    pinned = pins(lock)

    for name, requirement in declared(LOCKS[lock]).items():
        assert name in pinned, f"{name} is not in {lock}; run .ci/lock"
        assert requirement.specifier.contains(pinned[name]), f"{name}=={pinned[name]} is outside {requirement}"


def test_the_release_lock_changes_no_version_the_tests_ran_on() -> None:
    tested, release = (pins(lock) for lock in LOCKS)
    shared = tested.keys() & release.keys()

    assert shared
    assert {name: release[name] for name in shared} == {name: tested[name] for name in shared}


def test_the_readme_test_command_installs_from_the_lock_with_hashes() -> None:
    command = readme_command("test-command")

    assert "pip install --require-hashes -r tests/requirements.lock" in command
    assert "--no-deps" in command.split("-e .")[0].rsplit("&&", 1)[-1]

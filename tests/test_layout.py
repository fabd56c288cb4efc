"""The package is navigable: its modules import each other one way only, each layer only what it may, and the
tools' result models are never mistaken for the client's."""

from __future__ import annotations

import ast
import inspect
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import TypeGuard

import pytest
from pydantic import BaseModel

import oas_mcp.client
import oas_mcp.server.results
from oas_mcp.server._sdk import PRIVATE

PACKAGE = Path(oas_mcp.__file__).parent
# What each layer may import, besides itself and the standard library: a prefix of a module name, or an exact name.
# The client reports to OpenTelemetry through its API alone (no-ops without the SDK the otel extra brings).
OTEL_API = ("opentelemetry.trace", "opentelemetry.metrics")
# Linked accounts as kept: encrypted in SQLite or PostgreSQL, knowing nothing of MCP, HTTP, the client or the tools.
# (The rest of oas_mcp.accounts is the glue: the link page is HTTP, oas_mcp.accounts.mcp the MCP side, and the
# command the CLI's.)
ACCOUNT_STORAGE = ("oas_mcp.accounts.store", "oas_mcp.accounts.databases", "oas_mcp.accounts.keys")
STORAGE_DEPENDENCIES = ("oas_mcp.settings", "anyio", "pydantic", "cryptography", "psycopg", "psycopg_pool")
LAYERS = {
    "oas_mcp.client": (
        "oas_mcp",
        "oas_mcp.redact",
        "oas_mcp.untrusted",
        "httpx2",
        "anyio",
        "pydantic",
        "jwt",
        *OTEL_API,
    ),
    "oas_mcp.sandbox": ("starlette", "anyio", "httpx2", "jwt"),
    **{module: (*ACCOUNT_STORAGE, *STORAGE_DEPENDENCIES) for module in ACCOUNT_STORAGE},
}
# Only the command line imports the command line; nothing below the MCP layer knows of MCP.
NOT_BELOW = ("oas_mcp.cli", "oas_mcp.accounts.command")
NEVER = {
    # The MCP layer knows nothing of HTTP: the link page and the app are the HTTP host's.
    "oas_mcp.server": ("httpx2", "starlette", "uvicorn", "oas_mcp.hosting", "oas_mcp.accounts.page", *NOT_BELOW),
    "oas_mcp.accounts.mcp": ("httpx2", "starlette", "uvicorn", "oas_mcp.hosting", "oas_mcp.accounts.page"),
    "oas_mcp.hosting": NOT_BELOW,
    # The OAuth resource server knows nothing of the app around it, the MCP layer, linked accounts or the OAS API;
    # the issuer's metadata and keys know nothing of what is checked with them, nor the resource server of the link
    # page's sign-in.
    "oas_mcp.hosting.oauth": ("starlette", "uvicorn", "oas_mcp.server", "oas_mcp.accounts", "oas_mcp.client"),
    "oas_mcp.hosting.oauth.issuer": ("oas_mcp.hosting.oauth.verifier", "oas_mcp.hosting.oauth.client", "mcp"),
    "oas_mcp.hosting.oauth.verifier": ("oas_mcp.hosting.oauth.client",),
    "oas_mcp.hosting.oauth.budgets": ("oas_mcp.hosting.oauth.issuer", "oas_mcp.hosting.oauth.verifier", "mcp"),
    "oas_mcp.accounts.page": NOT_BELOW,  # the link page's package, each of its modules
    # Its parts, one concept each: only signin speaks to the issuer, only check asks the OAS API.
    **{
        f"oas_mcp.accounts.page.{part}": ("oas_mcp.hosting", "oas_mcp.client", "oas_mcp.server", "mcp")
        for part in ("html", "texts", "cookie", "refusal")
    },
    "oas_mcp.accounts.page.signin": ("oas_mcp.client", "oas_mcp.server", "mcp"),
    "oas_mcp.accounts.page.check": ("oas_mcp.hosting", "starlette"),
    "oas_mcp.observability": ("oas_mcp.hosting", "oas_mcp.accounts", *NOT_BELOW),
    "oas_mcp.settings": ("mcp", "oas_mcp.client", "oas_mcp.server", "oas_mcp.hosting", "oas_mcp.accounts", *NOT_BELOW),
}

# The layers in CONTRIBUTING's order, each by its modules (a module belongs to the longest prefix that names it): a
# module imports oas-mcp's modules of its own layer and the layers before it only.
ORDER = (
    ("Shared", ("oas_mcp", "oas_mcp.untrusted", "oas_mcp.redact", "oas_mcp.tls")),
    ("Settings", ("oas_mcp.settings",)),
    ("The OAS client", ("oas_mcp.client",)),
    ("The sandbox", ("oas_mcp.sandbox",)),
    ("Failures", ("oas_mcp.problems",)),
    ("Linked accounts' storage", ("oas_mcp.accounts", *ACCOUNT_STORAGE)),
    ("The MCP layer", ("oas_mcp.server", "oas_mcp.accounts.mcp")),
    ("Observability", ("oas_mcp.observability",)),
    ("HTTP hosting and OAuth", ("oas_mcp.hosting", "oas_mcp.accounts.page")),
    ("The command line", ("oas_mcp.cli", "oas_mcp.accounts.command", "oas_mcp.__main__")),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports anywhere: at the top, under TYPE_CHECKING and in functions; for
    ``from package import name``, both the package and ``package.name`` (which may be a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


MODULES = {module_name(path): imports(path) for path in PACKAGE.rglob("*.py")}


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = {module: {name for name in names if name in MODULES} for module, names in MODULES.items()}

    try:
        TopologicalSorter(graph).prepare()
    except CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None


def layer_of(module: str) -> int:
    """The position in :data:`ORDER` of the layer ``module`` belongs to."""
    found = [
        (len(prefix), position)
        for position, (_, prefixes) in enumerate(ORDER)
        for prefix in prefixes
        if (module == prefix if prefix == "oas_mcp" else within(module, (prefix,)))
    ]
    assert found, f"{module} is in no layer of ORDER (and of CONTRIBUTING's table)"
    return max(found)[1]


def test_a_module_imports_only_its_own_layer_and_those_before_it() -> None:
    strays = {
        f"{module} ({ORDER[layer_of(module)][0]}) imports {name} ({ORDER[layer_of(name)][0]})"
        for module, names in MODULES.items()
        for name in names
        if name in MODULES and layer_of(name) > layer_of(module)
    }

    assert not strays


@pytest.mark.parametrize("layer", sorted({*LAYERS, *NEVER}))
def test_each_rule_is_about_modules_that_exist(layer: str) -> None:
    assert any(within(module, (layer,)) for module in MODULES)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_layer_imports_only_what_it_may(layer: str) -> None:
    allowed = (layer, *LAYERS[layer])
    strays = {
        f"{module} imports {name}"
        for module, names in MODULES.items()
        if within(module, (layer,))
        for name in names
        if name.split(".")[0] not in sys.stdlib_module_names and not within(name, allowed) and name not in ("oas_mcp",)
    }

    assert not strays


@pytest.mark.parametrize("layer", sorted(NEVER))
def test_a_layer_never_imports_what_is_not_its_business(layer: str) -> None:
    strays = {
        f"{module} imports {name}"
        for module, names in MODULES.items()
        if within(module, (layer,))
        for name in names
        if within(name, NEVER[layer])
    }

    assert not strays


def test_only_the_fence_reaches_into_the_sdks_private_internals() -> None:
    """No module but :mod:`oas_mcp.server._sdk` reads an SDK attribute it names, nor spells one out (as ``getattr``
    would); a module's own attribute of the same name (``self._connection``, assigned there) is its own."""
    strays = set()
    for path in PACKAGE.rglob("*.py"):
        if module_name(path) == "oas_mcp.server._sdk":
            continue
        tree = ast.parse(path.read_text())
        nodes = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute | ast.Constant)]
        own = {node.attr for node in nodes if _of_self(node) and isinstance(node.ctx, ast.Store)}
        strays |= {
            f"{module_name(path)} line {node.lineno}: {name}"
            for node in nodes
            if (name := node.attr if isinstance(node, ast.Attribute) else node.value) in PRIVATE
            and not (_of_self(node) and name in own)
        }

    assert not strays


def test_no_call_passes_a_library_a_private_keyword_argument() -> None:
    """An underscore keyword (pydantic-settings' ``_build_sources``) is a library's internals; its public hooks
    (``settings_customise_sources``) serve instead."""
    strays = {
        f"{module_name(path)} line {node.lineno}: {node.arg}="
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.keyword) and node.arg is not None and node.arg.startswith("_")
    }

    assert not strays


def _of_self(node: ast.AST) -> TypeGuard[ast.Attribute]:
    """Whether ``node`` is an attribute of ``self``."""
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def test_no_tool_result_is_named_like_a_client_model() -> None:
    results = {name for name, value in vars(oas_mcp.server.results).items() if inspect.isclass(value)}
    models = {name for name in results if issubclass(getattr(oas_mcp.server.results, name), BaseModel)}

    assert models & set(oas_mcp.client.__all__) == set()

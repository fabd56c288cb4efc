"""The tools package is navigable: its modules import each other one way only, and its result models are never
mistaken for the client's."""

from __future__ import annotations

import ast
import inspect
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from pydantic import BaseModel

import oas_mcp.client
import oas_mcp.tools.results

TOOLS = Path(oas_mcp.tools.results.__file__).parent


def imported_tools_modules(path: Path) -> set[str]:
    """The ``oas_mcp.tools`` modules ``path`` imports anywhere, under TYPE_CHECKING and in functions included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("oas_mcp.tools."):
            found.add(str(node.module).removeprefix("oas_mcp.tools."))
    return found


def test_the_tools_modules_import_each_other_without_a_cycle() -> None:
    graph = {path.stem: imported_tools_modules(path) for path in TOOLS.glob("*.py") if path.stem != "__init__"}

    try:
        TopologicalSorter(graph).prepare()
    except CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None


def test_no_tool_result_is_named_like_a_client_model() -> None:
    results = {name for name, value in vars(oas_mcp.tools.results).items() if inspect.isclass(value)}
    models = {name for name in results if issubclass(getattr(oas_mcp.tools.results, name), BaseModel)}

    assert models & set(oas_mcp.client.__all__) == set()

"""What the model reads when a tool fails: one short, actionable line per failure, never a traceback or a secret."""

from __future__ import annotations

import difflib
import inspect
import logging
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from contextvars import ContextVar
from typing import Any

from mcp.server import MCPServer
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedResourceError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, GetPromptResult, Icon, InputRequiredResult, ToolAnnotations
from mcp_types import Tool as MCPTool
from pydantic import AnyUrl, ValidationError

from oas_mcp.client import OASError
from oas_mcp.problems import failure_of
from oas_mcp.settings import env_name
from oas_mcp.text import clean
from oas_mcp.tools.schema import portable

logger = logging.getLogger("oas_mcp.tools")

API_KEY_SETTING = env_name("api_key")
MAX_MESSAGE = 480


def describe(error: OASError, api_key: str = API_KEY_SETTING) -> str:
    """The message for an API client error, with what was retried; ``api_key`` names where the key came from."""
    tried = f" Tried {error.attempts} times in {error.elapsed:.0f} s." if error.attempts > 1 else ""
    return clean(failure_of(error).text(error, api_key) + tried, MAX_MESSAGE)


def invalid_arguments(tool: str, error: ValidationError) -> str:
    """The message for arguments that fail the tool's input schema."""
    problems = []
    for item in error.errors(include_url=False):
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]).lstrip(".")
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required"
        elif not item["type"].startswith("value_error") and "input" in item:
            message = f"{message} (got {clean(repr(item['input']), 40)})"
        problems.append(f"{where or 'arguments'}: {message}")
    return clean(f"Invalid arguments for {tool}: {'; '.join(problems)}. Nothing was sent to the OAS API.", MAX_MESSAGE)


def unknown_arguments(tool: str, unknown: list[str], accepted: list[str]) -> str:
    """The message for arguments the tool does not take: the first few, each with the closest accepted name."""
    named = []
    for name in unknown[:3]:
        close = difflib.get_close_matches(name[:64], accepted, n=1)
        named.append(clean(repr(name), 40) + (f" (did you mean {close[0]}?)" if close else ""))
    if len(unknown) > len(named):
        named.append(f"and {len(unknown) - len(named)} more")
    which = f"argument {named[0]}" if len(unknown) == 1 else f"arguments {', '.join(named)}"
    takes = f"it takes {', '.join(accepted)}" if accepted else "it takes no arguments"
    return clean(
        f"Invalid arguments for {tool}: unknown {which}; {takes}. Nothing was sent to the OAS API.", MAX_MESSAGE
    )


reading: ContextVar[Context[Any, Any] | None] = ContextVar("oas_mcp_reading", default=None)
"""The request a resource is being read for: static resources get no Context parameter, so they look here."""


class Server(MCPServer[Any]):
    """MCPServer whose tool and resource failures all read as one actionable line (see :func:`describe`)."""

    async def list_tools(self) -> list[MCPTool]:
        """As MCPServer's, with the schemas in their most portable form (see :func:`portable`), and no arguments
        but those listed (:meth:`call_tool` refuses others)."""
        return [
            tool.model_copy(
                update={
                    "input_schema": {**portable(tool.input_schema), "additionalProperties": False},
                    "output_schema": portable(tool.output_schema) if tool.output_schema else None,
                }
            )
            for tool in await super().list_tools()
        ]

    def add_tool(  # noqa: PLR0917 - the SDK's own signature
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        """As MCPServer's, with the docstring's indentation removed from the description a model reads."""
        description = description or inspect.cleandoc(fn.__doc__ or "")
        super().add_tool(fn, name, title, description, annotations, icons, meta, structured_output)

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[Any, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        """As MCPServer's, all of it within one call budget, its failures one clean, capped line."""
        from oas_mcp.client import budget

        token = reading.set(context)
        try:
            # Set here, not in an async generator (where it would not hold): it covers the whole read.
            with budget(self.call_budget) if self.call_budget is not None else nullcontext():
                return await super().read_resource(uri, context)
        except UnexpectedResourceError as exc:
            if isinstance(exc.__cause__, OASError):
                raise ResourceError(describe(exc.__cause__, self.api_key_source)) from exc
            raise
        except ResourceError as exc:  # the SDK's own texts quote the URI as the client sent it
            raise type(exc)(clean(str(exc), MAX_MESSAGE)) from exc
        finally:
            reading.reset(token)

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context[Any, Any] | None = None
    ) -> GetPromptResult | InputRequiredResult:
        try:
            return await super().get_prompt(name, arguments, context)
        except ValueError as exc:  # an unknown prompt or missing arguments: the caller's mistake, not a crash
            message = clean(f"{exc}; list the prompts to see their arguments.", MAX_MESSAGE)
            raise MCPError(code=INVALID_PARAMS, message=message) from exc

    api_key_source = API_KEY_SETTING
    """Where the API key comes from, as error texts name it (a setting, or a request header)."""
    call_budget: float | None = None
    """Seconds reading one resource may take in all, like a tool call (``OAS_CALL_BUDGET``); None: no limit."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | Any:
        """As MCPServer's, with every failure one actionable line; raises ToolError."""
        self._refuse_unknown(name, arguments)
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            raise ToolError(self._message(name, exc)) from exc

    def _refuse_unknown(self, name: str, arguments: dict[str, Any]) -> None:
        """ToolError when ``arguments`` has names the tool does not take: the SDK would drop them unseen."""
        schema = self._tool_input_schema(name)
        accepted = list(schema.get("properties", {})) if schema is not None else []
        unknown = [key for key in arguments if key not in accepted]
        if schema is not None and unknown:
            raise ToolError(unknown_arguments(name, unknown, accepted))

    def _message(self, name: str, exc: ToolError) -> str:
        cause = exc.__cause__
        if isinstance(cause, ValidationError) and not isinstance(exc, UnexpectedToolError):
            return invalid_arguments(name, cause)
        if isinstance(cause, OASError):
            return describe(cause, self.api_key_source)
        if isinstance(cause, ToolError):
            return str(cause)
        if cause is None and str(exc).startswith("Unknown tool"):
            return f"Unknown tool {clean(name, 60)!r}; list the tools to see what this server offers."
        logger.error("tool %s failed unexpectedly", name, exc_info=cause or exc)
        return f"oas-mcp failed internally in {name}; this is a bug, and its log has the details."

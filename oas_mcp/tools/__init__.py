"""The MCP side of oas-mcp: tools, their results and their error texts. It knows nothing of HTTP."""

from oas_mcp.tools.server import INSTRUCTIONS, State, build_server

__all__ = ["INSTRUCTIONS", "State", "build_server"]

"""The MCP side of oas-mcp: tools, their results and their error texts. It knows nothing of HTTP."""

from oas_mcp.tools.server import INSTRUCTIONS, build_server
from oas_mcp.tools.state import State

__all__ = ["INSTRUCTIONS", "State", "build_server"]

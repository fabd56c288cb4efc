"""The MCP side of oas-mcp: the server, its tools, resources and prompt, their results and their error texts.

It makes no HTTP request and serves none: the OAS client (:mod:`oas_mcp.client`) and the host
(:mod:`oas_mcp.hosting.app`) do. Of the transport it reads only what MCP hands a call, the request's headers (None
on stdio), and of those only ``X-Api-Key``, the caller's own OAS API key when per-request credentials are on
(see :mod:`oas_mcp.server.credentials`).
"""

from oas_mcp.server.server import INSTRUCTIONS, build_server
from oas_mcp.server.state import State

__all__ = ["INSTRUCTIONS", "State", "build_server"]

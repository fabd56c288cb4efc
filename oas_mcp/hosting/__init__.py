"""Serving over HTTP: the Starlette app around the SDK's Streamable HTTP transport, its access policy, and the
OAuth resource server (:mod:`oas_mcp.hosting.oauth`). The MCP layer (:mod:`oas_mcp.server`) knows nothing of it."""

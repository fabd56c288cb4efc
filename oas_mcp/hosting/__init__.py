"""Serving over HTTP, around the SDK's Streamable HTTP transport: who may call (:mod:`~oas_mcp.hosting.policy`), the
OAuth resource server (:mod:`~oas_mcp.hosting.oauth`), the ASGI wrappers (:mod:`~oas_mcp.hosting.middleware`), the
app they make up (:mod:`~oas_mcp.hosting.app`), and running it (:mod:`~oas_mcp.hosting.run`). The MCP layer
(:mod:`oas_mcp.server`) knows nothing of it."""

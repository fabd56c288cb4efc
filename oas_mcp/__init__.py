"""oas-mcp: an MCP server that gives AI assistants typed, safe access to the OAS API."""

__version__ = "0.1.0"

DEFAULT_BASE_URL = "https://oas-beta.ottomate.me"
"""The OAS API's address, unless configured otherwise."""

"""The start-up floor: a bare MCPServer with one tool, served on stdio (what bench/startup.py compares with)."""

from mcp.server import MCPServer

server = MCPServer("bare")


@server.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


if __name__ == "__main__":
    server.run()

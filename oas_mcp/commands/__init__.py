"""The oas-mcp subcommands besides ``serve``: each module adds its parser with ``register(commands)``."""

from __future__ import annotations

from oas_mcp.settings import Settings


def quiet_logs(settings: Settings) -> None:
    """Logs to stderr at WARNING, so stdout stays clean, unless a log level was set on purpose."""
    from oas_mcp.logs import configure

    configure(settings.log_level if settings.origin("log_level") != "default" else "WARNING", settings.log_format)

"""The command line: `oas-mcp [serve]` (:mod:`oas_mcp.cli.main`) and its other commands, one module each; each adds
its parser with ``register(commands)``."""

from __future__ import annotations

from oas_mcp.observability.logs import configure
from oas_mcp.settings import Settings


def quiet_logs(settings: Settings) -> None:
    """Logs to stderr at WARNING, so stdout stays clean, unless a log level was set on purpose."""
    configure(settings.log_level if settings.source("log_level") != "default" else "WARNING", settings.log_format)

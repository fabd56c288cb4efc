"""Log notifications: the server's own log records (retries and waits, sign-ins, listing summaries, warnings) sent
to the MCP client whose request they were logged for, masked as on stderr, at or above the level that client set
with ``logging/setLevel`` (before it sets one, the server's log level). Stderr logging is unchanged.

Connections on 2026-07-28 or later, which deprecates protocol logging, get none.

The client logs through the ``logging`` module only: :class:`ClientLogHandler` on the ``oas_mcp`` logger hands
each record to the request it is logged in (found through a context variable that :class:`ForwardLogs`, a server
middleware, sets for each request that can log: see :data:`LOGGING`), and a task of that request sends it, before the
request's response.
"""

from __future__ import annotations

import logging
import threading
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp_types import (
    EmptyResult,
    LoggingLevel,
    LoggingMessageNotification,
    LoggingMessageNotificationParams,
    SetLevelRequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS, is_version_at_least

from oas_mcp.redact import scrub
from oas_mcp.server._sdk import connection_of

LOGGER = "oas_mcp"
LEVELS: dict[LoggingLevel, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO + 5,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL + 5,
    "emergency": logging.CRITICAL + 10,
}
"""Each MCP log level as a ``logging`` level."""
LOGGING = frozenset({"tools/call", "resources/read", "completion/complete"})
"""The requests whose handling runs oas-mcp's code that logs (API requests, sign-ins, listings, failures). The others
(``initialize``, ``ping``, the lists, the prompt, ``logging/setLevel``) log nothing, and are served without a sender."""
MAX_PENDING = 64
"""Log messages a request may have waiting to be sent; more are dropped (stderr still has them)."""
_LEVEL_KEY = "oas_mcp.log_level"
_FIRST_UNLOGGED = MODERN_PROTOCOL_VERSIONS[0]


@dataclass(frozen=True)
class _Outbox:
    """Where the log records of one request go: to its sender, when at or above ``level``, from its own thread."""

    level: int
    send: MemoryObjectSendStream[LoggingMessageNotificationParams]
    thread: int


_outbox: ContextVar[_Outbox | None] = ContextVar("oas_mcp_client_log", default=None)


class ClientLogHandler(logging.Handler):
    """Hands each record logged while a request is served to that request's sender, masked like stderr's lines
    (:class:`~oas_mcp.redact.RedactingFilter`'s masking; a traceback stays on stderr). Outside a request, or below
    the client's level, it does nothing."""

    def emit(self, record: logging.LogRecord) -> None:
        outbox = _outbox.get()
        if outbox is None or record.levelno < outbox.level or threading.get_ident() != outbox.thread:
            return
        message = LoggingMessageNotificationParams(
            level=_level_of(record.levelno), logger=record.name, data=scrub(record.getMessage())
        )
        # When the client reads slower than the server logs, or is gone, the line is dropped (stderr has it).
        with suppress(anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            outbox.send.send_nowait(message)


def _level_of(number: int) -> LoggingLevel:
    """The MCP level of a ``logging`` level: the highest it reaches."""
    return next((name for name, floor in reversed(LEVELS.items()) if number >= floor), "debug")


def install() -> None:
    """Attach one :class:`ClientLogHandler` to the ``oas_mcp`` logger (again: no second one), and have it make
    records at every level, for clients that ask for more than stderr shows (whose handler has its own level)."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    if not any(isinstance(handler, ClientLogHandler) for handler in logger.handlers):
        logger.addHandler(ClientLogHandler())


def _connection_state(request: ServerRequestContext[Any, Any]) -> dict[str, Any]:
    """The state the SDK keeps per connection (``Connection.state``), across its requests."""
    return connection_of(request).state


class ForwardLogs:
    """Server middleware: while a request is served, its log records go to its client (see the module)."""

    def __init__(self, default: str) -> None:
        self.default = logging.getLevelNamesMapping()[default.upper()]
        """The level before the client sets one: the server's log level."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method not in LOGGING or is_version_at_least(ctx.protocol_version, _FIRST_UNLOGGED):
            return await call_next(ctx)
        send, receive = anyio.create_memory_object_stream[LoggingMessageNotificationParams](MAX_PENDING)
        level = _connection_state(ctx).get(_LEVEL_KEY, self.default)
        failure: Exception | None = None
        result: HandlerResult = None
        async with anyio.create_task_group() as group:
            group.start_soon(_deliver, ctx, receive)
            with send:
                token = _outbox.set(_Outbox(level, send, threading.get_ident()))
                try:
                    result = await call_next(ctx)
                except Exception as exc:  # raised below as it is: out of the task group, it would be an ExceptionGroup
                    failure = exc
                finally:
                    _outbox.reset(token)
        if failure is not None:
            raise failure
        return result


async def _deliver(
    request: ServerRequestContext[Any, Any], receive: MemoryObjectReceiveStream[LoggingMessageNotificationParams]
) -> None:
    """Send each message on the request's own stream, until the request is served; stop at the first failure."""
    async with receive:
        async for message in receive:
            try:
                await request.session.send_notification(
                    LoggingMessageNotification(params=message), related_request_id=request.request_id
                )
            except Exception:  # the client went away: what is left is on stderr
                return


async def set_level(request: ServerRequestContext[Any, Any], params: SetLevelRequestParams) -> EmptyResult:
    """``logging/setLevel``: this connection's log notifications from now on are at ``params.level`` or above."""
    _connection_state(request)[_LEVEL_KEY] = LEVELS[params.level]
    return EmptyResult()

"""When to try a request again, how long to wait, and the time budget of one call."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

import anyio

import oas_mcp.client._telemetry as telemetry
from oas_mcp.client._errors import (
    APIConnectionError,
    APITimeoutError,
    BudgetExhaustedError,
    OASError,
    RateLimitError,
    ServerError,
)

logger = logging.getLogger("oas_mcp.client")

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({502, 503, 504})

slow_down: ContextVar[Callable[[], None] | None] = ContextVar("oas_mcp_slow_down", default=None)
"""Called, when set, each time a request is retried because the API said it is overloaded (429, or 503): what
sends several requests at once (the pager's prefetch) sets it, to send fewer."""


@dataclass(frozen=True)
class Deadline:
    """When a call's time budget runs out (``at``, on the monotonic clock), and its length in ``seconds``.

    It is handed to what the call does (each request, each wait between retries) as an argument.
    """

    at: float
    seconds: float

    def left(self, method: str, path: str) -> float:
        """Seconds left for ``method path``; raises BudgetExhaustedError (nothing sent) once there are none."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise self._exhausted("before", method, path, request_sent=False)
        return left

    def fits(self, wait: float) -> bool:
        """Whether waiting ``wait`` seconds from now still leaves time before the deadline."""
        return time.monotonic() + wait < self.at

    def ran_out(self, method: str, path: str, request_sent: bool) -> BudgetExhaustedError:
        """The error for ``method path`` cut short because the budget ran out while it was under way."""
        return self._exhausted("during", method, path, request_sent)

    def _exhausted(self, when: str, method: str, path: str, request_sent: bool) -> BudgetExhaustedError:
        return BudgetExhaustedError(
            f"the call's {self.seconds:g} s budget ran out {when} {method} {path}",
            method=method,
            path=path,
            request_sent=request_sent,
            budget=self.seconds,
        )


_enclosing: ContextVar[Deadline | None] = ContextVar("oas_mcp_budget", default=None)
"""The budget a block runs in: read by :func:`budget` and :func:`enclosing_deadline` only, which hand it on."""


@contextmanager
def budget(seconds: float) -> Iterator[Deadline]:
    """Give everything inside (requests, retries, waits) ``seconds`` in all; an enclosing budget wins.

    Yields the deadline to pass to what the block does; calls made inside, by code that cannot be handed it,
    find it with their own ``budget`` (or :func:`enclosing_deadline`).
    """
    deadline = _enclosing.get()
    if deadline is not None:
        yield deadline
        return
    deadline = Deadline(time.monotonic() + seconds, seconds)
    token = _enclosing.set(deadline)
    try:
        yield deadline
    finally:
        _enclosing.reset(token)


def _overloaded(error: OASError) -> bool:
    return isinstance(error, RateLimitError) or (isinstance(error, ServerError) and error.status_code == 503)


def enclosing_deadline() -> Deadline | None:
    """The deadline of the :func:`budget` the caller runs in, if any."""
    return _enclosing.get()


@dataclass(frozen=True)
class RetryPolicy:
    """Retry transient failures with full-jitter exponential backoff, honouring Retry-After.

    Any request is retried when it certainly never reached the API (connection refused, DNS, connect
    timeout). Idempotent requests are also retried after a reset or lost connection, 429, 502, 503 and 504.
    A wait that would not fit in the budget is not started: the last error is raised instead.
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0

    def retryable(self, error: OASError, idempotent: bool) -> bool:
        if isinstance(error, APIConnectionError):
            return not error.request_sent or (idempotent and not isinstance(error, APITimeoutError))
        if isinstance(error, RateLimitError):
            return idempotent
        return idempotent and isinstance(error, ServerError) and error.status_code in RETRYABLE_STATUS

    def delay(self, retry: int, error: OASError) -> float:
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            return error.retry_after
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**retry))

    async def run(
        self, attempt: Callable[[], Awaitable[T]], *, idempotent: bool, what: str, deadline: Deadline | None
    ) -> T:
        """``attempt()`` until it succeeds, the error is not retryable, retries run out, or a wait would not end
        before ``deadline`` (None: no deadline). Raises the last attempt's OASError."""
        started = time.monotonic()
        retry = 0
        while True:
            resent = telemetry.resends.set(retry)
            try:
                return await attempt()
            except OASError as error:
                error.attempts = retry + 1
                error.elapsed = time.monotonic() - started
                if retry == self.max_retries or not self.retryable(error, idempotent):
                    raise
                wait = self.delay(retry, error)
                if deadline is not None and not deadline.fits(wait):
                    telemetry.gave_up(what, error, wait)
                    raise
                retry += 1
                if _overloaded(error) and (told := slow_down.get()) is not None:
                    told()
                logger.info("%s failed (%s); retry %d of %d in %.2f s", what, error, retry, self.max_retries, wait)
                telemetry.retrying(what, error, retry, wait)
                await anyio.sleep(wait)
            finally:
                telemetry.resends.reset(resent)

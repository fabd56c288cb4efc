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


@dataclass(frozen=True)
class _Deadline:
    at: float
    seconds: float


_deadline: ContextVar[_Deadline | None] = ContextVar("oas_mcp_deadline", default=None)


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Give everything inside (requests, retries, waits) ``seconds`` in all; an enclosing budget wins."""
    if _deadline.get() is not None:
        yield
        return
    token = _deadline.set(_Deadline(time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left(method: str, path: str) -> tuple[float, float] | None:
    """Seconds left in the current budget and its length (None: no budget); raises once it has run out."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    left = deadline.at - time.monotonic()
    if left <= 0:
        raise BudgetExhaustedError(
            f"the call's {deadline.seconds:g} s budget ran out before {method} {path}",
            method=method,
            path=path,
            request_sent=False,
            budget=deadline.seconds,
        )
    return left, deadline.seconds


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

    async def run(self, attempt: Callable[[], Awaitable[T]], *, idempotent: bool, what: str) -> T:
        """``attempt()`` until it succeeds, the error is not retryable, retries run out, or the budget would."""
        started = time.monotonic()
        retry = 0
        while True:
            try:
                return await attempt()
            except OASError as error:
                error.attempts = retry + 1
                error.elapsed = time.monotonic() - started
                if retry == self.max_retries or not self.retryable(error, idempotent):
                    raise
                wait = self.delay(retry, error)
                deadline = _deadline.get()
                if deadline is not None and time.monotonic() + wait >= deadline.at:
                    raise
                retry += 1
                logger.info("%s failed (%s); retry %d of %d in %.2f s", what, error, retry, self.max_retries, wait)
                await anyio.sleep(wait)

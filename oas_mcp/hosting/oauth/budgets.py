"""Budgets of requests to the issuer made for strangers: introspections of the tokens one address sends (see
:mod:`~oas_mcp.hosting.oauth.verifier`), codes one person's links have redeemed (the link page's sign-in). Spent, a
budget refuses until it refills, so made-up tokens or sign-ins cost the issuer a few requests and this server's
client is not throttled or locked out there.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

KEPT_BUDGETS = 4096
"""Budgets of addresses (or of people, see :class:`Budgets`) kept at most, the most recently used (one that is
dropped starts afresh)."""


class Budget:
    """A budget of requests: at most ``most`` shares, one more each ``refill`` seconds of ``clock`` (monotonic)."""

    def __init__(self, most: int, refill: float, clock: Callable[[], float]) -> None:
        self.most = most
        self.refill = refill
        self._clock = clock
        self.left = float(most)
        self.at = clock()

    def take(self) -> bool:
        """Take a share; False when there is none."""
        now = self._clock()
        self.left, self.at = min(self.most, self.left + (now - self.at) / self.refill), now
        if self.left < 1:
            return False
        self.left -= 1
        return True

    def give_back(self) -> None:
        self.left = min(self.most, self.left + 1)


_Key = TypeVar("_Key")


class Budgets(Generic[_Key]):
    """A :class:`Budget` for each key (an address, a person), made when first asked for; the most recently used
    :data:`KEPT_BUDGETS` are kept."""

    def __init__(self, most: int, refill: float, clock: Callable[[], float]) -> None:
        self._made = functools.partial(Budget, most, refill, clock)
        self._kept: OrderedDict[_Key, Budget] = OrderedDict()  # least recently used first

    def __getitem__(self, key: _Key) -> Budget:
        """``key``'s budget, made afresh when it has none kept."""
        budget = self._kept.pop(key, None) or self._made()
        self._kept[key] = budget
        while len(self._kept) > KEPT_BUDGETS:
            self._kept.popitem(last=False)
        return budget

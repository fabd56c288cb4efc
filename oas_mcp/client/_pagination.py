"""Page-number pagination as the guide describes it: ``{"count", "next", "previous", "results"}``.

:class:`Pager` reads a paginated list, yielding it page by page. It follows ``next`` links one by one, and once
the first page shows how many pages there are and that ``next`` is a page-number link (``?page=2``), it fetches
the pages after it concurrently instead, verifying each against what the API says and falling back to following
``next`` as soon as anything disagrees. Its reader says how many more items it wants, so no page is fetched that
the reader cannot use.

However the API links its pages, one list is never read past what its first page's count implies (see
:func:`most_pages`), so ``next`` links that go on forever cost a bounded number of requests.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urljoin, urlsplit

import anyio
import anyio.abc
import httpx2

from oas_mcp.client._errors import NotFoundError
from oas_mcp.client._responses import read_json, unexpected_shape
from oas_mcp.client._retry import slow_down

logger = logging.getLogger("oas_mcp.client")

T = TypeVar("T")
Fetch = Callable[[str], Awaitable[httpx2.Response]]
"""Sends ``GET path`` (relative to the configured base URL) and returns the response, or raises an OASError."""
Wanted = Callable[[], int | None]
"""How many more items the reader of a list wants (None: all), asked each time it asks for the next page."""
MAX_PAGES = 1_000
"""The most pages read of a list whose first page gives no count: 10,000 organisations (the most one tool call
lists) at 10 a page. Smaller pages with no count are read only this far."""


MAX_LINK_LENGTH = 8192
"""The longest ``next`` link followed (httpx2 refuses URLs over 64 KiB; real ones are under 200 characters)."""
MOST_PAGES_EVER = 10 * MAX_PAGES
"""The most pages of any list, whatever count it claims: a hostile ``count`` of 10**30 must not unbound it."""


def most_pages(count: int | None, size: int) -> int:
    """The most pages one list may take: what ``count`` items at ``size`` a page need, and a tenth more (at
    least 2 more) for items added while it is read, up to :data:`MOST_PAGES_EVER`; :data:`MAX_PAGES` when the
    first page says no count or is empty.
    """
    if count is None or size <= 0 < count:
        return MAX_PAGES
    pages = math.ceil(count / size) if count else 0
    return min(pages + max(2, pages // 10), MOST_PAGES_EVER)


@dataclass(frozen=True)
class Page:
    count: int | None
    results: list[Any]
    next: str | None


def read_page(response: httpx2.Response) -> Page:
    """A page from a paginated body; a bare JSON list is read as the one and only page."""
    data = read_json(response)
    if isinstance(data, list):
        return Page(len(data), data, None)
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        count = data.get("count")
        link = data.get("next")
        return Page(
            count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None,
            data["results"],
            link if isinstance(link, str) and link.strip() else None,
        )
    raise unexpected_shape(response, "a page of results (count, next, results)")


def rebase(link: str, current: httpx2.URL, base_path: str) -> str:
    """The path and query of a ``next`` link, relative to the configured base URL.

    The link's scheme and host are dropped, so the next request goes to the configured origin
    whatever host the API wrote (a proxy misconfiguration must not send credentials elsewhere).
    Relative links are resolved against the current page. When the API runs under a path
    prefix (``base_path``) the prefix is kept whether or not the API's link included it.
    Raises ValueError for a link that is no URL.
    """
    if not link.isprintable() or len(link) > MAX_LINK_LENGTH:
        raise ValueError("a link with control characters, or longer than any real one")
    parts = urlsplit(urljoin(str(current), link.strip()))  # ValueError for an unreadable one ("http://[::1/")
    path = parts.path or "/"
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :] or "/"
    return f"{path}?{parts.query}" if parts.query else path


@dataclass(frozen=True)
class PageNumbers:
    """The links of pages 2 to ``total``, when page 1 says how many there are and links to ``?page=2``."""

    path: str
    query: tuple[str, ...]
    at: int
    count: int
    size: int
    total: int

    @classmethod
    def of(cls, first: str, link: str, count: int | None, size: int) -> PageNumbers | None:
        """The plan for a list whose first page, fetched from ``first``, held ``size`` of ``count`` items and
        linked to ``link`` (both relative to the base URL); None unless ``link`` is ``first`` with ``page=2``."""
        if count is None or size <= 0 or count <= size:
            return None
        here, there = urlsplit(first), urlsplit(link)
        mine = [part for part in here.query.split("&") if part]
        theirs = [part for part in there.query.split("&") if part]
        if there.path != here.path or theirs.count("page=2") != 1 or mine.count("page=1") > 1:
            return None
        at = theirs.index("page=2")
        others = [part for part in mine if part != "page=1"]
        if theirs[:at] + theirs[at + 1 :] != others or any(part.startswith("page=") for part in others):
            return None
        return cls(there.path, tuple(theirs), at, count, size, math.ceil(count / size))

    def link(self, number: int) -> str:
        query = [*self.query[: self.at], f"page={number}", *self.query[self.at + 1 :]]
        return f"{self.path}?{'&'.join(query)}"

    def agrees(self, number: int, page: Page, link: str | None) -> bool:
        """Whether page ``number`` is what the plan expects: same count, full length, next link to the next page."""
        last = number == self.total
        length = self.count - (self.total - 1) * self.size if last else self.size
        following = None if last else self.link(number + 1)
        return page.count == self.count and len(page.results) == length and link == following


@dataclass(frozen=True)
class Batch(Generic[T]):
    """One page's new items, with the pages read so far and how many there are in all (None: not known)."""

    items: list[T]
    pages: int
    total: int | None


@dataclass(frozen=True)
class Summary:
    """How reading a list went: the API's count (the items seen, when it gave none), the pages read and how
    many of them were prefetched, why it stopped early (None: it did not), and whether a next page exists."""

    count: int
    pages: int
    prefetched: int
    note: str | None
    more: bool


@dataclass
class _Trail:
    """What reading has seen: the API's count (from the first page), pages read and how many there are,
    whether a next page exists, why it stopped early, the keys of the items kept."""

    count: int | None = None
    pages: int = 0
    total: int | None = None
    has_next: bool = False
    note: str | None = None
    prefetched: int = 0
    seen: set[Hashable] = field(default_factory=set)


@dataclass
class _Read:
    """One page read and accepted: its new items, the link to the next page, and whether it repeated an item."""

    items: list[Any]
    next: str | None
    repeated: bool
    page: Page


class _Window:
    """Pages being prefetched: at most ``concurrency`` requests in flight, each refilled as soon as it completes,
    at most ``2 * concurrency`` pages ahead of the one being read.

    When the API answers that it is overloaded (429, 503: see :data:`slow_down`), the window halves, down to one
    page at a time, and stays so for the rest of the list: once per round, so that the many requests of one round
    told to slow down together halve it once, as TCP's congestion control does.
    """

    def __init__(self, fetch: Fetch, plan: PageNumbers, concurrency: int, group: anyio.abc.TaskGroup) -> None:
        self._fetch = fetch
        self._plan = plan
        self._concurrency = concurrency
        self._round = 0
        self._group = group
        self._outcomes: dict[int, tuple[Page, httpx2.Response] | Exception] = {}
        self._requested = 1
        self._in_flight = 0
        self._landed = anyio.Event()

    async def page(self, number: int, needed: int) -> tuple[Page, httpx2.Response] | Exception:
        """Page ``number`` (or why it could not be read), requesting pages up to ``needed`` meanwhile."""
        last = min(self._plan.total, needed)
        while number not in self._outcomes:
            while self._requested < min(last, number + 2 * self._concurrency) and self._in_flight < self._concurrency:
                self._requested += 1
                self._in_flight += 1
                self._group.start_soon(self._get, self._requested, self._round)
            self._landed = anyio.Event()
            await self._landed.wait()
        return self._outcomes.pop(number)

    async def _get(self, number: int, sent_in: int) -> None:
        slow_down.set(lambda: self._slow_down(sent_in))
        try:
            response = await self._fetch(self._plan.link(number))
            self._outcomes[number] = (read_page(response), response)
        except Exception as exc:  # handed to the reader in page order: a page never read raises nothing
            self._outcomes[number] = exc
        finally:
            self._in_flight -= 1
            self._landed.set()

    def _slow_down(self, sent_in: int) -> None:
        """A request sent in round ``sent_in`` was told to slow down: halve the window, unless that round's
        requests already did."""
        if sent_in != self._round or self._concurrency == 1:
            return
        self._round += 1
        self._concurrency //= 2
        logger.info("the API asked to slow down: fetching at most %d pages at once", self._concurrency)


def _everything() -> None:
    return None


class Pager(Generic[T]):
    """Reads one paginated list on the configured origin, page by page, each item once (by ``key``), in the
    API's order; :meth:`summary` says how it went.

    ``fetch`` sends a GET; ``parse`` turns a page's raw results into items (raising on bad shapes);
    ``concurrency`` bounds how many pages are requested at once (1: one after another, each only when asked for).
    """

    def __init__(
        self,
        fetch: Fetch,
        base_path: str,
        parse: Callable[[list[Any], httpx2.Response], list[T]],
        key: Callable[[T], Hashable],
        concurrency: int = 1,
    ) -> None:
        self._trail = _Trail()
        self._fetch = fetch
        self._base_path = base_path
        self._parse = parse
        self._key = key
        self._concurrency = max(1, concurrency)
        self._visited: set[str] = set()
        self._size = 0
        self._most = MAX_PAGES

    async def pages(self, first: str, wanted: Wanted = _everything) -> AsyncGenerator[Batch[T]]:
        """Each page's new items in order, until the list ends or ``wanted()``, asked before each next page, is 0.

        Pages after the first are prefetched concurrently when :class:`PageNumbers` can plan them; never more
        than ``wanted()`` can still use (each page holds at most as many items as the first). Iterate it and
        close it (``aclosing``) in one task: while prefetching, it is suspended inside a task group.
        """
        read = await self._get(first)
        yield self._batch(read)
        link = read.next
        plan = PageNumbers.of(first, link, read.page.count, self._size) if link else None
        if plan is not None and self._concurrency > 1 and wanted() != 0:
            link = plan.link(2)
            async with aclosing(self._read_ahead(plan, wanted)) as reads:
                async for read in reads:
                    link = read.next
                    yield self._batch(read)
        while link is not None and wanted() != 0 and not self._used_up():
            read = await self._get(link)
            link = read.next
            yield self._batch(read)

    def summary(self) -> Summary:
        """How reading went so far: read it once the reader is done with :meth:`pages`."""
        trail = self._trail
        count = trail.count if trail.count is not None else len(trail.seen)
        return Summary(count, trail.pages, trail.prefetched, trail.note, trail.has_next)

    def _batch(self, read: _Read) -> Batch[T]:
        return Batch(read.items, self._trail.pages, self._trail.total)

    async def _get(self, link: str) -> _Read:
        self._visited.add(link)
        response = await self._fetch(link)
        return self._accept(read_page(response), response)

    def _accept(self, page: Page, response: httpx2.Response) -> _Read:
        """Count a page in, resolve its next link, keep only the items not seen before."""
        trail = self._trail
        trail.pages += 1
        if trail.pages == 1:
            self._size = len(page.results)
            self._most = most_pages(page.count, self._size)
        if trail.count is None:
            trail.count = page.count
        try:
            link = rebase(page.next, response.request.url, self._base_path) if page.next else None
        except ValueError:
            raise unexpected_shape(response, "a page whose next link is a URL") from None
        if link in self._visited:
            self._stop(f"the API's next link repeated after page {trail.pages}; stopped there")
            link = None
        trail.has_next = link is not None
        if link is None:
            trail.total = trail.pages
        elif page.count is not None and self._size:
            trail.total = max(trail.pages + 1, math.ceil(page.count / self._size))
        items = []
        for item in self._parse(page.results, response):
            key = self._key(item)
            if key not in trail.seen:
                trail.seen.add(key)
                items.append(item)
        return _Read(items, link, len(items) < len(page.results), page)

    def _stop(self, note: str) -> None:
        self._trail.note = note
        logger.warning("pagination loop: %s", note)

    def _used_up(self) -> bool:
        """Whether the list has had all the pages it may (see :func:`most_pages`); if so, the summary says so."""
        pages, count = self._trail.pages, self._trail.count
        if pages < self._most:
            return False
        needs = f"more than its count of {count} needs" if count is not None else "the most read without a count"
        self._stop(f"the API's next links went on past page {pages}, {needs}; stopped there")
        return True

    async def _read_ahead(self, plan: PageNumbers, wanted: Wanted) -> AsyncGenerator[_Read]:
        """Pages 2.. of ``plan``, up to ``concurrency`` in flight, each accepted in order.

        It ends where following ``next`` one by one must take over: after a page that disagrees with the plan
        (count changed, short page, another next link, an item seen before), taken as the API sent it like
        following ``next`` would; once ``wanted()`` is 0; or before a page that got 404 (the list shrank), for
        the same request to be sent again one by one.
        """
        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            window = _Window(self._fetch, plan, self._concurrency, group)
            left = wanted()
            try:
                for number in range(2, plan.total + 1):
                    needed = plan.total if left is None else number - 1 + math.ceil(left / plan.size)
                    outcome = await window.page(number, needed)
                    if isinstance(outcome, NotFoundError):
                        break
                    if isinstance(outcome, Exception):
                        raise outcome
                    read = self._prefetched(plan.link(number), *outcome)
                    yield read
                    left = wanted()
                    if read.repeated or not plan.agrees(number, read.page, read.next) or left == 0:
                        break
            except Exception as exc:  # raised below as it is: out of the task group, it would be an ExceptionGroup
                failure = exc
            except GeneratorExit:  # the reader stopped early: end below, where it does not become a group either
                pass
            group.cancel_scope.cancel()  # pages still in flight are not needed
        if failure is not None:
            raise failure

    def _prefetched(self, link: str, page: Page, response: httpx2.Response) -> _Read:
        self._visited.add(link)
        self._trail.prefetched += 1
        return self._accept(page, response)

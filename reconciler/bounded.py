"""Run many coroutines with only a few alive at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def gather_bounded(awaitables: Iterable[Awaitable[T]], *, limit: int) -> list[T]:
    """Like asyncio.gather, but with at most ``limit`` awaitables started at a time.

    The HTTP client already bounds the requests in flight; this bounds memory, so that
    100,000 contacts don't become 100,000 live coroutines. The first error cancels the rest.
    """
    pending = iter(enumerate(awaitables))
    results: dict[int, T] = {}

    async def worker() -> None:
        for index, awaitable in pending:
            results[index] = await awaitable

    workers = [asyncio.ensure_future(worker()) for _ in range(max(1, limit))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        raise
    return [results[index] for index in range(len(results))]

"""Running coroutines: from synchronous code, all at once, or only a few alive at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from reconciler.errors import DeadlineError, ReconcilerError

T = TypeVar("T")


async def gather_bounded(awaitables: Iterable[Awaitable[T]], *, limit: int) -> list[T]:
    """Like asyncio.gather, but with at most ``limit`` awaitables started at a time.

    The HTTP client already bounds the requests in flight; this bounds memory, so that
    100,000 contacts don't become 100,000 live coroutines. The first error cancels the rest.
    """
    pending = iter(enumerate(awaitables))
    results: dict[int, T] = {}

    async def worker(first: int, started: Awaitable[T]) -> None:
        results[first] = await started
        for index, awaitable in pending:  # the next one, from the iterator all share
            results[index] = await awaitable

    # A worker for each awaitable, up to ``limit``: one lookup is one task, not ``limit``.
    workers: list[asyncio.Future[None]] = []
    for index, awaitable in pending:
        workers.append(asyncio.ensure_future(worker(index, awaitable)))
        if len(workers) >= max(1, limit):
            break
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        raise
    return [results[index] for index in range(len(results))]


async def gather_all(coroutines: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Run all at once; on a failure, cancel the rest and raise the first error.

    A ReconcilerError leaves as itself, not wrapped in an ExceptionGroup.
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coroutine) for coroutine in coroutines]
    except BaseExceptionGroup as failures:
        first = failures.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        if isinstance(first, ReconcilerError):
            raise first from None
        raise
    return [task.result() for task in tasks]


def run(coroutine: Coroutine[Any, Any, T], *, deadline: float | None = None) -> T:
    """``asyncio.run(coroutine)``, within ``deadline`` seconds if given, without the event
    loop's main task holding the result.

    asyncio.run puts a SIGINT handler in place that holds the main task, and restoring the
    old handler formats it with ``%r`` (signal.getsignal tries it as an enum): the task's
    repr includes its result's, 0.13 s for each of two calls when that is a plan of 10,000
    contacts. Past the deadline, DeadlineError.
    """
    results: list[T] = []

    async def main() -> None:
        try:
            async with asyncio.timeout(deadline):
                results.append(await coroutine)
        except TimeoutError:
            raise DeadlineError("the run passed its deadline: nothing more was sent") from None

    try:
        asyncio.run(main())
    except asyncio.CancelledError:  # a second Ctrl-C cancelled the run: an interruption
        raise KeyboardInterrupt from None
    return results[0]


class Deadline:
    """The run's deadline (``deadline`` in reconciler.yaml), counted from the command's start."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(self._ends - time.monotonic(), 0.0)

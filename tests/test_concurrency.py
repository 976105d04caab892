"""Running coroutines: run, gather_all and gather_bounded."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.concurrency import gather_all, gather_bounded, run
from reconciler.errors import NotFoundError


class Unprintable:
    """A result whose repr must not be asked for."""

    reprs = 0

    def __repr__(self) -> str:
        Unprintable.reprs += 1
        return "Unprintable()"


def test_run_returns_the_result_without_formatting_it() -> None:
    async def make() -> Unprintable:
        await asyncio.sleep(0)
        return Unprintable()

    Unprintable.reprs = 0
    result = run(make())
    assert isinstance(result, Unprintable)
    assert Unprintable.reprs == 0  # asyncio.run itself formats the result twice on 3.11


def test_run_raises_what_the_coroutine_raises() -> None:
    async def fail() -> None:
        raise NotFoundError(404, "no such contact")

    with pytest.raises(NotFoundError, match="no such contact"):
        run(fail())


def test_gather_all_keeps_order_and_raises_the_first_error_unwrapped() -> None:
    async def value(n: int) -> int:
        await asyncio.sleep(0.001 * (5 - n))
        return n

    async def fail_after(seconds: float) -> int:
        await asyncio.sleep(seconds)
        raise NotFoundError(404, "gone")

    async def slow() -> int:
        await asyncio.sleep(10)
        return 0

    assert run(gather_all([value(n) for n in range(5)])) == [0, 1, 2, 3, 4]
    with pytest.raises(NotFoundError):  # not an ExceptionGroup; the slow one is cancelled
        run(asyncio.wait_for(gather_all([fail_after(0.01), slow()]), timeout=5))


def test_gather_bounded_keeps_order_and_its_limit() -> None:
    alive = most = 0

    async def value(n: int) -> int:
        nonlocal alive, most
        alive += 1
        most = max(most, alive)
        await asyncio.sleep(0.001 * (n % 3))
        alive -= 1
        return n

    assert run(gather_bounded((value(n) for n in range(20)), limit=3)) == list(range(20))
    assert most == 3

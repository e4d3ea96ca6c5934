"""tests.helpers.eventually: the one wait for a state that no event announces."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import eventually


@pytest.mark.asyncio
async def test_returns_the_value_another_task_makes_true() -> None:
    box: list[int] = []

    async def fill() -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        box.append(7)

    task = asyncio.ensure_future(fill())
    assert await eventually(lambda: box[:1], "box filled") == [7]
    await task


@pytest.mark.asyncio
async def test_awaits_an_async_condition() -> None:
    calls: list[None] = []

    async def third_call() -> str:
        calls.append(None)
        return "yes" if len(calls) == 3 else ""

    assert await eventually(third_call) == "yes"
    assert len(calls) == 3


@pytest.mark.asyncio
async def test_fails_with_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match="never happened within 0 s: the impossible"):
        await eventually(lambda: False, "the impossible", limit_s=0)

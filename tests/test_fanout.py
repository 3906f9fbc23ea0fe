"""A rollout step on several servers: side by side (bounded) or one after another."""

from __future__ import annotations

import asyncio

import pytest

from c66d.orchestrator.fanout import across, by_server


async def test_parallel_runs_side_by_side_bounded_serial_one_at_a_time() -> None:
    for serial, limit, most in ((False, 8, 5), (False, 2, 2), (True, 8, 1)):
        running, peak = 0, 0

        async def work(n: int) -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1
            return n * 10

        assert await across(range(5), work, serial=serial, limit=limit) == [0, 10, 20, 30, 40]
        assert peak == most


async def test_a_failure_is_raised_after_every_started_item_finished() -> None:
    finished: list[int] = []

    async def work(n: int) -> None:
        await asyncio.sleep(0.01 * n)
        if n == 0:
            raise ValueError("server 0 refused")
        finished.append(n)

    with pytest.raises(ValueError, match="server 0"):
        await across(range(3), work)
    assert sorted(finished) == [1, 2]  # the others were not left half-done
    finished.clear()
    with pytest.raises(ValueError):
        await across(range(3), work, serial=True)
    assert finished == []  # serially, the first failure stops the rest


def test_by_server_groups_plan_positions_in_server_order() -> None:
    assert by_server(["b", "a", "b", "c"]) == {"a": [1], "b": [0, 2], "c": [3]}
    assert list(by_server(["b", "a"])) == ["a", "b"]

"""Processors work in turns: other tasks run between slices of a batch."""

from __future__ import annotations

import asyncio
import itertools

from processing.chain import in_turns


def test_slices_cover_the_items_and_other_tasks_run_between_them() -> None:
    """200 items in slices of 64; a task that counts its turns advances
    between every two slices, so the writer's round trips are not held up
    for a whole batch."""

    async def run() -> tuple[list[list[int]], list[int]]:
        turns = 0
        running = True

        async def other() -> None:
            nonlocal turns
            while running:
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other())
        await asyncio.sleep(0)
        parts, seen = [], []
        async for part in in_turns(list(range(200)), 64):
            parts.append(list(part))
            seen.append(turns)
        running = False
        await task
        return parts, seen

    parts, seen = asyncio.run(run())
    assert [len(part) for part in parts] == [64, 64, 64, 8]
    assert [item for part in parts for item in part] == list(range(200))
    assert all(later > earlier for earlier, later in itertools.pairwise(seen))


def test_an_empty_batch_gives_no_slice() -> None:
    async def run() -> list[object]:
        return [part async for part in in_turns([])]

    assert asyncio.run(run()) == []

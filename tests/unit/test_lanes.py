"""_lanes.Lanes: a bounded number of holders, urgent requests admitted first."""

from __future__ import annotations

import asyncio

from wattzon_async.jobs._lanes import Lanes

from .conftest import wait_until


async def _hold(
    lanes: Lanes, name: str, order: list[str], release: asyncio.Event, **kw: object
) -> None:
    async with lanes.slot(**kw):  # type: ignore[arg-type]
        order.append(name)
        await release.wait()


async def _queue_behind_a(
    lanes: Lanes, order: list[str], gates: dict[str, asyncio.Event], hint: asyncio.Future[None]
) -> list[asyncio.Task[None]]:
    """ "a" holds the one slot; "b", then "c" (promoted when ``hint`` completes) queue."""
    tasks = [asyncio.create_task(_hold(lanes, "a", order, gates["a"], urgent=False))]
    await wait_until(lambda: order == ["a"])
    tasks.append(asyncio.create_task(_hold(lanes, "b", order, gates["b"], urgent=False)))
    tasks.append(
        asyncio.create_task(_hold(lanes, "c", order, gates["c"], urgent=False, promote_on=hint))
    )
    await wait_until(lambda: lanes.waiting(urgent=False) == 2)
    return tasks


async def test_urgent_requests_go_ahead_of_queued_ones() -> None:
    lanes = Lanes(1)
    order: list[str] = []
    gates = {name: asyncio.Event() for name in "abcd"}
    tasks = [asyncio.create_task(_hold(lanes, "a", order, gates["a"], urgent=False))]
    await wait_until(lambda: order == ["a"])
    for name, urgent in (("b", False), ("c", False), ("d", True)):
        tasks.append(asyncio.create_task(_hold(lanes, name, order, gates[name], urgent=urgent)))
    await wait_until(lambda: lanes.waiting(urgent=False) == 2 and lanes.waiting(urgent=True) == 1)
    for name in "adbc":
        gates[name].set()
    await asyncio.gather(*tasks)
    assert order == ["a", "d", "b", "c"]


async def test_a_queued_request_is_promoted_when_its_future_completes() -> None:
    lanes = Lanes(1)
    order: list[str] = []
    gates = {name: asyncio.Event() for name in "abc"}
    hint: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    tasks = await _queue_behind_a(lanes, order, gates, hint)
    hint.set_result(None)
    await wait_until(lambda: lanes.waiting(urgent=True) == 1)
    for gate in gates.values():
        gate.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "c", "b"]


async def test_at_most_limit_hold_a_slot() -> None:
    lanes = Lanes(2)
    order: list[str] = []
    release = asyncio.Event()
    tasks = [
        asyncio.create_task(_hold(lanes, str(i), order, release, urgent=i % 2 == 0))
        for i in range(5)
    ]
    await wait_until(
        lambda: len(order) == 2 and lanes.waiting(urgent=True) + lanes.waiting(urgent=False) == 3
    )
    release.set()
    await asyncio.gather(*tasks)
    assert len(order) == 5


async def test_a_cancelled_request_gives_its_turn_back() -> None:
    lanes = Lanes(1)
    order: list[str] = []
    first, second = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold(lanes, "a", order, first, urgent=False))
    await wait_until(lambda: order == ["a"])
    queued = asyncio.create_task(_hold(lanes, "b", order, second, urgent=True))
    await wait_until(lambda: lanes.waiting(urgent=True) == 1)
    queued.cancel()
    await asyncio.wait({queued})
    first.set()
    await holder
    second.set()
    await _hold(lanes, "c", order, second, urgent=False)  # the slot is free again
    assert order == ["a", "c"]


async def test_a_future_that_fails_promotes_nothing() -> None:
    lanes = Lanes(1)
    order: list[str] = []
    gates = {name: asyncio.Event() for name in "abc"}
    hint: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    tasks = await _queue_behind_a(lanes, order, gates, hint)
    hint.cancel()
    await asyncio.sleep(0)  # the callbacks of the cancelled future run
    assert lanes.waiting(urgent=True) == 0
    for gate in gates.values():
        gate.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]

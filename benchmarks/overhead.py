"""1. Request overhead: ``client.jobs.get`` against a bare httpx.AsyncClient.

The same COMPLETE job (with its raw results) is read over and over, sequentially and at
concurrency 16 and 64. The baseline is an httpx.AsyncClient with the SDK client's SSLContext and
pool limits that sends the same GET and decodes the JSON; the SDK also builds the model.
The calls run in blocks, the two sides alternating A B B A, and the figure is the median
over block pairs of SDK time / baseline time. The OpenAI SDK does the same GET as a
peer (``_peer``), measured the same way against a raw client of its own HTTP stack.

Then the same job, answered in-process by an ``httpx.MockTransport`` (no network, no
server), says what the SDK itself adds to a call in CPU time (``time.process_time``,
which other processes on the machine do not inflate): once with raw results, once with
transformed ones (strings, no token boxes); the difference between the two is the
decoding of the token boxes into typed models.

The SDK client is made with ``RateLimitPolicy(initial_rate=None)``: the state a default
client reaches once its slow start has found no limit (no rate of its own, every request
counted by the limiter as it starts). A default client would spend its first seconds
probing the rate (benchmark 8 measures that), which is not the cost of a request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal

from wattzon_async import RateLimitPolicy
from wattzon_async._httpx import httpx
from wattzon_async.emulator import Emulator

from ._common import (
    ACCEPT_JSON,
    BenchResult,
    Row,
    Settings,
    finished_job_gets,
    median,
    raw_client,
    run_concurrently,
    side_order,
)
from ._peer import peer_gets

__all__ = ["run"]

NAME = "1. Request overhead"
Results = Literal["raw", "transformed"]
_TARGET = 1.05


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Measure the SDK's per-request overhead; see the module docstring."""
    result = BenchResult(NAME)
    lone = RateLimitPolicy(initial_rate=None)
    async with emu.client(rate_limit=lone) as client, raw_client(client) as raw:
        gets = await finished_job_gets(emu, client, raw)
        for concurrency in settings.overhead_concurrencies:
            result.rows.append(
                await _pair(result, "SDK / raw httpx", gets.sdk, gets.raw, settings, concurrency)
            )
        path = gets.url.removeprefix(emu.snap_url)
        connections = client.config.max_connections
        async with peer_gets(emu.snap_url, path, client.ssl_context, connections) as peer:
            if peer is None:
                result.notes.append("the OpenAI SDK is not installed: no peer rows")
            for concurrency in settings.overhead_concurrencies if peer else ():
                assert peer is not None
                result.rows.append(
                    await _pair(
                        result, "OpenAI SDK / raw httpx2", *peer, settings, concurrency, peer=True
                    )
                )
        bodies = {
            results: (
                await raw.get(gets.url, params={"results": results}, headers=ACCEPT_JSON)
            ).content
            for results in ("raw", "transformed")
        }
    result.rows += await _in_process(emu, gets.job_id, bodies, settings)
    return result


async def _pair(
    result: BenchResult,
    label: str,
    sdk: Callable[[], Awaitable[None]],
    raw: Callable[[], Awaitable[None]],
    settings: Settings,
    concurrency: int,
    *,
    peer: bool = False,
) -> Row:
    """One row: an SDK's time over its raw client's, the two alternated in blocks."""
    ratios, sdk_times, raw_times = await _alternate(sdk, raw, settings, concurrency)
    calls = settings.overhead_calls
    where = "sequential" if concurrency == 1 else f"concurrency {concurrency}"
    result.details[f"{label}, {where}"] = {
        "concurrency": concurrency,
        "calls_per_side": calls,
        "block": settings.overhead_block,
        "sdk_block_seconds": sdk_times,
        "raw_block_seconds": raw_times,
        "pair_ratios": ratios,
    }
    sdk_total, raw_total = sum(sdk_times), sum(raw_times)
    return Row(
        NAME,
        f"{label} time, {calls} GETs, {where}",
        median(ratios),
        limit=None if peer else _TARGET,
        detail=(
            f"{sdk_total / calls * 1e3:.2f} ms/call, raw {raw_total / calls * 1e3:.2f} "
            f"ms/call; median of {len(ratios)} block pairs"
        ),
    )


async def _in_process(
    emu: Emulator, job_id: int, bodies: dict[str, bytes], settings: Settings
) -> list[Row]:
    """SDK / raw httpx CPU time of one GET answered by a MockTransport, per results kind."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = bodies[request.url.params.get("results", "raw")]
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    transport = httpx.MockTransport(answer)
    lone = RateLimitPolicy(initial_rate=None)
    rows: list[Row] = []
    async with (
        emu.client(rate_limit=lone, transport=transport) as client,
        httpx.AsyncClient(transport=transport) as raw,
    ):
        kinds: tuple[Results, ...] = ("raw", "transformed")
        for kind in kinds:
            url = f"{client.config.snap_url}jobs/{job_id}/"
            params: dict[str, str] = {} if kind == "raw" else {"results": kind}

            async def sdk_call(kind: Results = kind) -> None:
                await client.jobs.get(job_id, results=kind)

            async def raw_call(url: str = url, params: dict[str, str] = params) -> None:
                response = await raw.get(url, params=params, headers=ACCEPT_JSON)
                response.raise_for_status()
                response.json()

            ratios, sdk, base = await _alternate(
                sdk_call, raw_call, settings, 1, clock=time.process_time
            )
            calls = settings.overhead_calls
            added = (sum(sdk) - sum(base)) / calls * 1e6
            rows.append(
                Row(
                    NAME,
                    f"SDK / raw httpx CPU time in-process (mock transport), {kind} results",
                    median(ratios),
                    detail=(
                        f"SDK {sum(sdk) / calls * 1e6:.0f} us/call, raw "
                        f"{sum(base) / calls * 1e6:.0f} us/call: {added:+.0f} us a call"
                    ),
                )
            )
    return rows


async def _alternate(
    sdk_call: Callable[[], Awaitable[None]],
    raw_call: Callable[[], Awaitable[None]],
    settings: Settings,
    concurrency: int,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[float], list[float], list[float]]:
    block = settings.overhead_block
    blocks = max(1, settings.overhead_calls // block)
    warm_up = max(concurrency * 2, 20)
    await run_concurrently(sdk_call, warm_up, concurrency)
    await run_concurrently(raw_call, warm_up, concurrency)
    ratios: list[float] = []
    sdk_times: list[float] = []
    raw_times: list[float] = []
    for index in range(blocks):
        sdk_first, _ = side_order(index)
        order = ((sdk_call, sdk_times), (raw_call, raw_times))
        for call, times in order if sdk_first else reversed(order):
            started = clock()
            await run_concurrently(call, block, concurrency)
            times.append(clock() - started)
        ratios.append(sdk_times[-1] / raw_times[-1])
    return ratios, sdk_times, raw_times

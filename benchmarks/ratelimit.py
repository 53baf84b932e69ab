"""4. Rate-limit goodput: 1,000 submissions at concurrency 64 against a limit of R per second.

The emulator's token bucket allows R requests per second per tenant (burst R) and answers
the rest 429 with ``Retry-After``. Two clients submit the same small documents:

* ``sdk``: ``client.jobs.submit_many(..., concurrency=64)``: the client-wide adaptive
  limiter, Retry-After honoured, 429 retried.
* ``naive``: 64 workers on a bare httpx.AsyncClient, each POST retried on 429 by
  tenacity with a fixed wait, ignoring Retry-After.

Goodput is successful creates per second over the whole run, divided by R; the 429 share
is the emulator's count of 429 answers over all its answers.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_fixed

from wattzon_async import Submission
from wattzon_async._httpx import httpx
from wattzon_async.emulator import Emulator

from ._common import (
    EMAIL,
    PROVIDER,
    BenchResult,
    Row,
    Settings,
    document,
    raw_client,
    side_order,
)

__all__ = ["run", "run_sdk"]

NAME = "4. Rate-limit goodput"
_GOODPUT_TARGET = 0.9
_SHARE_TARGET = 0.05
_NAIVE_ATTEMPTS = 100


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Run the SDK and the naive baseline against the same limit, one after the other."""
    result = BenchResult(NAME)
    rate = settings.ratelimit_rps
    all_runs: dict[str, list[dict[str, Any]]] = {"sdk": [], "naive": []}
    for index in range(settings.ratelimit_rounds * 2):
        sdk_first, _ = side_order(index // 2)
        mode = "sdk" if sdk_first == (index % 2 == 0) else "naive"
        await emu.reset()
        await emu.configure(processing_time=3600.0)
        await emu.set_faults(rate_limit_rps=rate)
        one = await (run_sdk(emu, settings) if mode == "sdk" else _run_naive(emu, settings))
        stats = await emu.stats()
        responses: dict[str, int] = stats["responses"]
        total = sum(responses.values())
        one["responses"] = responses
        one["share_429"] = responses.get("429", 0) / total if total else 0.0
        one["goodput"] = one["ok"] / one["seconds"] / rate
        all_runs[mode].append(one)
    await emu.reset()
    await emu.configure(processing_time=3600.0)
    runs = {mode: _median_run(all_runs[mode]) for mode in all_runs}
    result.details = {"rate_limit_rps": rate, "runs": all_runs}
    n, c = settings.ratelimit_submissions, settings.ratelimit_concurrency
    sdk, naive = runs["sdk"], runs["naive"]
    result.rows.append(
        Row(
            NAME,
            f"Goodput / R, SDK (R = {rate:g}/s, {n} submissions, concurrency {c})",
            sdk["goodput"],
            limit=_GOODPUT_TARGET,
            higher_is_better=True,
            detail=_detail(sdk),
        )
    )
    result.rows.append(
        Row(
            NAME,
            "Share of requests answered 429, SDK",
            sdk["share_429"],
            unit="%",
            limit=_SHARE_TARGET,
            detail=f"{sdk['responses'].get('429', 0)} of {sum(sdk['responses'].values())}",
        )
    )
    wait = settings.ratelimit_naive_wait
    result.rows.append(
        Row(
            NAME,
            f"Goodput / R, naive (tenacity, fixed {wait:g} s wait on 429)",
            naive["goodput"],
            detail=_detail(naive),
        )
    )
    result.rows.append(
        Row(
            NAME,
            "Share of requests answered 429, naive",
            naive["share_429"],
            unit="%",
            detail=f"{naive['responses'].get('429', 0)} of {sum(naive['responses'].values())}",
        )
    )
    return result


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median goodput (runs are few; all of them are in the details)."""
    ordered = sorted(runs, key=lambda r: float(r["goodput"]))
    return ordered[(len(ordered) - 1) // 2]


def _detail(run: dict[str, Any]) -> str:
    text = f"{run['ok']} created in {run['seconds']:.1f} s"
    if run["failed"]:
        text += f", {run['failed']} failed"
    return text


def _submissions(settings: Settings) -> list[Submission]:
    data = document(2_000, 11)
    return [
        Submission(email=EMAIL, provider=PROVIDER, document=data, name=f"bill-{i}.pdf")
        for i in range(settings.ratelimit_submissions)
    ]


async def run_sdk(emu: Emulator, settings: Settings) -> dict[str, Any]:
    """Submit everything with ``submit_many``; count successes, failures and time."""
    submissions = _submissions(settings)
    ok = failed = 0
    errors: list[str] = []
    async with emu.client() as client:
        started = time.perf_counter()
        async for outcome in client.jobs.submit_many(
            submissions, concurrency=settings.ratelimit_concurrency
        ):
            if outcome.ok:
                ok += 1
            else:
                failed += 1
                if len(errors) < 3:
                    errors.append(repr(outcome.error))
        seconds = time.perf_counter() - started
    return {"ok": ok, "failed": failed, "errors": errors, "seconds": seconds}


async def _run_naive(emu: Emulator, settings: Settings) -> dict[str, Any]:
    data = base64.b64encode(document(2_000, 11)).decode("ascii")
    url = emu.snap_url + "jobs/"
    ok = failed = 0
    errors: list[str] = []
    queue = iter(range(settings.ratelimit_submissions))
    async with emu.client() as client, raw_client(client) as raw:

        async def post(index: int) -> httpx.Response:
            body = {
                "email": EMAIL,
                "provider": PROVIDER,
                "tags": [],
                "document": {"name": f"bill-{index}.pdf", "content": data},
            }
            return await raw.post(url, json=body)

        async def worker() -> None:
            nonlocal ok, failed
            for index in queue:
                retrying = AsyncRetrying(
                    retry=retry_if_result(lambda r: r.status_code == 429),
                    wait=wait_fixed(settings.ratelimit_naive_wait),
                    stop=stop_after_attempt(_NAIVE_ATTEMPTS),
                    retry_error_callback=lambda state: (
                        state.outcome.result() if state.outcome else None
                    ),
                )
                try:
                    response: httpx.Response = await retrying(post, index)
                except httpx.HTTPError as exc:
                    failed += 1
                    errors.append(repr(exc))
                    continue
                if response.status_code == 201:
                    ok += 1
                else:
                    failed += 1
                    errors.append(f"HTTP {response.status_code}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(settings.ratelimit_concurrency)))
        seconds = time.perf_counter() - started
    return {"ok": ok, "failed": failed, "errors": errors[:3], "seconds": seconds}

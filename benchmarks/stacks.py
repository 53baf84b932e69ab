"""13. HTTP stacks: the SDK and raw HTTP on httpx2 and on httpx, side by side in one run.

The SDK runs on either package (``wattzon_async._httpx``), chosen once at import, so each
stack is measured in a child process of its own (``WATTZON_HTTP_STACK``), against the same
emulator, the children taking turns (httpx2, httpx, httpx, httpx2, ...) so that a drift in
the machine's load falls on both. In each child:

- a COMPLETE job's GET, through a raw client of that package (GET, status, ``json()``) and
  through ``client.jobs.get``, at concurrency 1, 16 and 64: wall time and the child's CPU
  time a request (CPU time is what other load on the machine does not inflate), the two
  sides alternating in blocks;
- a batch's client CPU: ``submit_many`` of small bills (``wait=False``), measured with
  ``time.process_time`` in the child (the server's CPU is not counted).

Rows: each figure per stack, and the ratio httpx2 / httpx (below 1: httpx2 is cheaper).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from wattzon_async.emulator import Emulator

from ._common import (
    ACCEPT_JSON,
    EMAIL,
    PROVIDER,
    BenchResult,
    Call,
    Row,
    Settings,
    child_environment,
    document,
    median,
    python,
    run_concurrently,
)

__all__ = ["run"]

NAME = "13. HTTP stacks"
STACKS = ("httpx2", "httpx")
CONCURRENCIES = (1, 16, 64)
_CHILD_TIMEOUT = 900.0


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Measure both stacks; see the module docstring."""
    from wattzon_async import WaitPolicy

    result = BenchResult(NAME)
    await emu.configure(processing_time=0.0)
    async with emu.client() as client:
        job = await client.jobs.create(
            email=EMAIL, provider=PROVIDER, document=document(20_000, 1), name="bill.pdf"
        )
        await client.await_job(job.id, timeout=30, policy=WaitPolicy(initial_delay=0.05))
    config = {
        "snap_url": emu.snap_url,
        "ca": str(emu.ca_cert),
        "cert": str(emu.client_cert),
        "key": str(emu.client_key),
        "job_id": job.id,
        "calls": 300 if settings.quick else 1500,
        "block": 50 if settings.quick else 100,
        "bills": 40 if settings.quick else 200,
    }
    rounds = 1 if settings.quick else 2
    samples: dict[str, list[dict[str, Any]]] = {stack: [] for stack in STACKS}
    for index in range(rounds):
        order = STACKS if index % 2 == 0 else STACKS[::-1]
        for stack in order:
            samples[stack].append(await _child(stack, config))
    result.details = {"config": config, "samples": samples}
    _rows(result, samples)
    return result


def _rows(result: BenchResult, samples: dict[str, list[dict[str, Any]]]) -> None:
    def figure(stack: str, key: str) -> float:
        return median([s[key] for s in samples[stack]])

    for concurrency in CONCURRENCIES:
        sdk = {s: figure(s, f"sdk_ms_{concurrency}") for s in STACKS}
        raw = {s: figure(s, f"raw_ms_{concurrency}") for s in STACKS}
        cpu = {s: figure(s, f"sdk_cpu_ms_{concurrency}") for s in STACKS}
        label = "sequential" if concurrency == 1 else f"concurrency {concurrency}"
        result.rows.append(
            Row(
                NAME,
                f"SDK GET on httpx2 / on httpx, {label}",
                sdk["httpx2"] / sdk["httpx"],
                detail=f"httpx2 {sdk['httpx2']:.2f} ms, httpx {sdk['httpx']:.2f} ms a GET",
            )
        )
        result.rows.append(
            Row(
                NAME,
                f"SDK GET client CPU on httpx2 / on httpx, {label}",
                cpu["httpx2"] / cpu["httpx"],
                detail=f"httpx2 {cpu['httpx2'] * 1000:.0f} us, httpx {cpu['httpx'] * 1000:.0f} us",
            )
        )
        for stack in STACKS:
            result.rows.append(
                Row(
                    NAME,
                    f"SDK / raw {stack}, {label}",
                    sdk[stack] / raw[stack],
                    detail=f"SDK {sdk[stack]:.2f} ms, raw {raw[stack]:.2f} ms a GET",
                )
            )
    cpu = {s: figure(s, "batch_cpu_ms") for s in STACKS}
    result.rows.append(
        Row(
            NAME,
            "batch client CPU on httpx2 / on httpx",
            cpu["httpx2"] / cpu["httpx"],
            detail=f"httpx2 {cpu['httpx2']:.2f} ms, httpx {cpu['httpx']:.2f} ms CPU a bill",
        )
    )


async def _child(stack: str, config: dict[str, Any]) -> dict[str, Any]:
    child = await asyncio.create_subprocess_exec(
        python(),
        "-m",
        "benchmarks.stacks",
        json.dumps(config),
        stdout=asyncio.subprocess.PIPE,
        env={**child_environment(), "WATTZON_HTTP_STACK": stack},
    )
    try:
        out, _ = await asyncio.wait_for(child.communicate(), _CHILD_TIMEOUT)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    if child.returncode != 0:
        raise RuntimeError(f"the {stack} child failed with exit code {child.returncode}")
    report: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    if report["stack"] != stack:
        raise RuntimeError(f"asked for {stack}, the child ran on {report['stack']}")
    return report


# -- the child -------------------------------------------------------------------------------


async def _child_main(config: dict[str, Any]) -> dict[str, Any]:
    from wattzon_async import RateLimitPolicy, Submission, WattzOnClient
    from wattzon_async._httpx import httpx, stack_name

    from ._common import raw_client

    report: dict[str, Any] = {"stack": stack_name()}
    async with WattzOnClient(
        cert=(config["cert"], config["key"]),
        ca_bundle=config["ca"],
        snap_url=config["snap_url"],
        rate_limit=RateLimitPolicy(initial_rate=None),
    ) as client:
        async with raw_client(client) as raw:
            url = f"{config['snap_url']}jobs/{config['job_id']}/"

            async def raw_call() -> None:
                response = await raw.get(url, headers=ACCEPT_JSON)
                response.raise_for_status()
                response.json()

            async def sdk_call() -> None:
                await client.jobs.get(config["job_id"])

            for concurrency in CONCURRENCIES:
                figures = await _alternate(sdk_call, raw_call, config, concurrency)
                for key, value in figures.items():
                    report[f"{key}_{concurrency}"] = value
        data = document(2_000, 11)
        bills = [
            Submission(email=EMAIL, provider=PROVIDER, document=data, name=f"b{i}.pdf")
            for i in range(int(config["bills"]))
        ]
        started = time.process_time()
        async for outcome in client.jobs.submit_many(bills, concurrency=16):
            if not outcome.ok:
                raise RuntimeError(f"a bill failed: {outcome.error!r}")
        report["batch_cpu_ms"] = (time.process_time() - started) * 1000 / len(bills)
    assert httpx.__name__ == report["stack"]
    return report


async def _alternate(
    sdk: Call, raw: Call, config: dict[str, Any], concurrency: int
) -> dict[str, float]:
    """Wall and CPU milliseconds a GET for each side: blocks of ``block`` calls, A B B A."""
    calls, block = int(config["calls"]), int(config["block"])
    await run_concurrently(raw, block, concurrency)  # warm both pools
    await run_concurrently(sdk, block, concurrency)
    totals = dict.fromkeys(("sdk_ms", "raw_ms", "sdk_cpu_ms", "raw_cpu_ms"), 0.0)
    for index in range(calls // block):
        order = (("sdk", sdk), ("raw", raw))
        for side, call in order if index % 2 == 0 else order[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            await run_concurrently(call, block, concurrency)
            totals[f"{side}_ms"] += time.perf_counter() - wall
            totals[f"{side}_cpu_ms"] += time.process_time() - cpu
    return {key: seconds * 1000 / calls for key, seconds in totals.items()}


def main(argv: list[str]) -> int:
    """Child entry point: ``python -m benchmarks.stacks CONFIG_JSON``."""
    print(json.dumps(asyncio.run(_child_main(json.loads(argv[0])))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

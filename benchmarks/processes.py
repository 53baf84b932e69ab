"""8. Many submitter processes under one rate limit, with default settings.

N real processes (1, 4 and 8), each with its own ``WattzOnClient`` built with the SDK's
defaults, submit 100 small bills each with ``submit_many(concurrency=16)`` under one
tenant's limit of R requests per second (the emulator's token bucket: R a second, burst
R, 429 with ``Retry-After``). The processes are started first; each builds its client
and says it is ready, and then all are told to go at the same instant, so start-up
costs are left out and the bursts coincide, as when a fleet scales out.

Goodput is the bills created by all processes over the time from "go" to the end of the
last process, divided by R; the 429 share is the emulator's count of 429 answers over
all its answers in that round. Each count runs three rounds with the defaults (the
table shows the round with the median goodput, the details every round), and one with
``RateLimitPolicy(initial_rate=None)`` (no slow start: the 0.1 behaviour) for
comparison.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from wattzon_async.emulator import Emulator

from ._common import EMAIL, PROVIDER, BenchResult, Row, Settings, released_together

__all__ = ["run"]

NAME = "8. Many processes, one limit"
_GOODPUT_TARGET = 0.9
_SHARE_TARGET = 0.05
_CHILD_TIMEOUT = 300.0


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Run every process count with and without slow start; see the module docstring."""
    result = BenchResult(NAME)
    rate = settings.processes_rps
    config = {
        "snap_url": emu.snap_url,
        "ca": str(emu.ca_cert),
        "cert": str(emu.client_cert),
        "key": str(emu.client_key),
        "bills": settings.processes_bills,
        "concurrency": settings.processes_concurrency,
        "rps": rate,
    }
    rounds: list[dict[str, Any]] = []
    for count in settings.processes_counts:
        for slow_start in (True, False):
            for _ in range(settings.processes_rounds if slow_start else 1):
                rounds.append(
                    await _measured_round(emu, count, dict(config, slow_start=slow_start))
                )
    await emu.reset()
    await emu.configure(processing_time=3600.0)
    result.details = {"rate_limit_rps": rate, "rounds": rounds}
    for count in settings.processes_counts:
        for slow_start in (True, False):
            same = [r for r in rounds if (r["processes"], r["slow_start"]) == (count, slow_start)]
            _rows(result, _median_round(same), len(same), settings)
    return result


async def _measured_round(emu: Emulator, count: int, config: dict[str, Any]) -> dict[str, Any]:
    """One round under a fresh limit, with the emulator's counts of what it answered."""
    await emu.reset()
    await emu.configure(processing_time=3600.0)
    await emu.set_faults(rate_limit_rps=config["rps"])
    one = await _round(count, config)
    stats = await emu.stats()
    responses: dict[str, int] = stats["responses"]
    total = sum(responses.values())
    one.update(
        processes=count,
        slow_start=config["slow_start"],
        responses=responses,
        jobs_created=stats["jobs_created"],
        share_429=responses.get("429", 0) / total if total else 0.0,
        goodput=one["ok"] / one["seconds"] / config["rps"],
    )
    return one


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median goodput (all of them are in the details)."""
    ordered = sorted(rounds, key=lambda r: float(r["goodput"]))
    return ordered[(len(ordered) - 1) // 2]


def _rows(result: BenchResult, one: dict[str, Any], rounds: int, settings: Settings) -> None:
    n = one["processes"]
    who = f"{n} process{'es' if n > 1 else ''}"
    label = "defaults" if one["slow_start"] else "no slow start (initial_rate=None)"
    targets = one["slow_start"]
    created = f"{one['ok']} created ({one['jobs_created']} jobs) in {one['seconds']:.1f} s"
    if one["failed"]:
        created += f", {one['failed']} failed"
    if rounds > 1:
        created += f"; the median of {rounds} rounds"
    result.rows.append(
        Row(
            NAME,
            f"Goodput / R (R = {settings.processes_rps:g}/s), {who} x "
            f"{settings.processes_bills} bills, {label}",
            one["goodput"],
            limit=_GOODPUT_TARGET if targets else None,
            higher_is_better=True,
            detail=created,
        )
    )
    responses = one["responses"]
    result.rows.append(
        Row(
            NAME,
            f"Share of requests answered 429, {who}, {label}",
            one["share_429"],
            unit="%",
            limit=_SHARE_TARGET if targets else None,
            detail=f"{responses.get('429', 0)} of {sum(responses.values())} (the same round)",
        )
    )


async def _round(count: int, config: dict[str, Any]) -> dict[str, Any]:
    """Start ``count`` children, release them together, and add up what they report."""
    go, reports = await released_together("benchmarks.processes", config, count, _CHILD_TIMEOUT)
    return {
        "ok": sum(r["ok"] for r in reports),
        "failed": sum(r["failed"] for r in reports),
        "errors": [e for r in reports for e in r["errors"]][:3],
        "seconds": max(r["finished"] for r in reports) - go,
        "per_process_seconds": sorted(r["finished"] - go for r in reports),
    }


# -- the child -------------------------------------------------------------------------------


async def _child_main(config: dict[str, Any]) -> dict[str, Any]:
    from wattzon_async import RateLimitPolicy, Submission, WattzOnClient

    from ._common import batch_when_released, document

    policy = RateLimitPolicy() if config["slow_start"] else RateLimitPolicy(initial_rate=None)
    data = document(2_000, 11)
    submissions = [
        Submission(email=EMAIL, provider=PROVIDER, document=data, name=f"bill-{i}.pdf")
        for i in range(int(config["bills"]))
    ]
    async with WattzOnClient(
        cert=(config["cert"], config["key"]),
        ca_bundle=config["ca"],
        snap_url=config["snap_url"],
        rate_limit=policy,
    ) as client:
        return await batch_when_released(
            client, submissions, concurrency=int(config["concurrency"])
        )


def main(argv: list[str]) -> int:
    """Child entry point: ``python -m benchmarks.processes CONFIG_JSON``."""
    print(json.dumps(asyncio.run(_child_main(json.loads(argv[0])))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

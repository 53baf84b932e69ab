"""Run the benchmarks: ``python -m benchmarks [--quick] [--only NAME ...]`` (``make bench``).

Starts one emulator (its server and SQS in processes of their own), runs each benchmark
against it, prints the table, and writes ``benchmarks/results.json`` (every measurement)
and ``benchmarks/results.md`` (the table and the command that made it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattzon_async.emulator import Emulator

from . import (
    completion,
    fleet,
    imports,
    journal,
    lifecycle,
    overhead,
    processes,
    ratelimit,
    sqs,
    stacks,
    telemetry,
    upload,
    waits,
)
from ._common import ROOT, BenchResult, Row, Settings, render_markdown, render_table

NAMES = (
    "overhead",
    "upload",
    "completion",
    "ratelimit",
    "imports",
    "lifecycle",
    "journal",
    "processes",
    "telemetry",
    "waits",
    "sqs",
    "stacks",
    "fleet",
)
_HERE = Path(__file__).resolve().parent


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument(
        "--only", nargs="+", choices=NAMES, metavar="NAME", help=f"run only these: {NAMES}"
    )
    parser.add_argument(
        "--output", type=Path, default=_HERE, help="where results.json and results.md go"
    )
    return parser.parse_args(argv)


async def _run_all(selected: Sequence[str], settings: Settings) -> list[BenchResult]:
    results: list[BenchResult] = []
    if "imports" in selected:
        started = time.perf_counter()
        print("running imports ...", file=sys.stderr, flush=True)
        result = await asyncio.to_thread(imports.run, settings)
        result.seconds = time.perf_counter() - started
        results.append(result)
    with_emulator = [n for n in selected if n != "imports"]
    if not with_emulator:
        return results
    async with Emulator(processing_time=3600.0, sqs=True) as emu:
        modules = {
            "overhead": overhead,
            "upload": upload,
            "completion": completion,
            "ratelimit": ratelimit,
            "lifecycle": lifecycle,
            "journal": journal,
            "processes": processes,
            "telemetry": telemetry,
            "waits": waits,
            "sqs": sqs,
            "stacks": stacks,
            "fleet": fleet,
        }
        for name in with_emulator:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            await emu.reset(purge_queue=True)
            await emu.configure(processing_time=3600.0)
            started = time.perf_counter()
            result = await modules[name].run(emu, settings)
            result.seconds = time.perf_counter() - started
            results.append(result)
    return results


def _environment() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "commit": commit or None,
    }


def _number(result: BenchResult) -> int:
    """A benchmark's number, from its title (``"5. Import cost"``), for the table's order."""
    return int(result.name.partition(".")[0])


def _plain(rows: Sequence[Row]) -> str:
    cells = render_table(rows)
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks and write the results."""
    args = _arguments(argv)
    settings = Settings.for_run(args.quick)
    selected = [n for n in NAMES if args.only is None or n in args.only]
    command = "make bench" if not args.quick and args.only is None else None
    if command is None:
        command = "python -m benchmarks " + shlex.join(
            (["--quick"] if args.quick else []) + (["--only", *args.only] if args.only else [])
        )
    environment = _environment()
    started = time.perf_counter()
    results = asyncio.run(_run_all(selected, settings))
    elapsed = time.perf_counter() - started
    environment["load_average_after"] = os.getloadavg()
    rows = [row for result in sorted(results, key=_number) for row in result.rows]
    notes = [f"{r.name}: {note}" for r in results for note in r.notes]
    print(_plain(rows))
    for note in notes:
        print("note:", note)
    missed = [f"{row.bench}: {row.metric}" for row in rows if row.met is False]
    print(f"\n{len(rows)} figures, {len(missed)} targets missed, {elapsed:.0f} s in all")

    output: Path = args.output
    output.mkdir(parents=True, exist_ok=True)
    report = {
        "command": command,
        "quick": args.quick,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": elapsed,
        "environment": environment,
        "settings": dict(vars(settings)),
        "rows": [row.to_json() for row in rows],
        "missed": missed,
        "notes": notes,
        "benchmarks": {
            r.name: {"seconds": r.seconds, "details": r.details, "notes": r.notes} for r in results
        },
    }
    (output / "results.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    markdown = [
        f"Made by `{command}` on {environment['cpus']} CPUs, Python {environment['python']}, "
        f"in {elapsed:.0f} s. Every figure is a ratio of two things measured in the same run "
        "against the same emulator (its own process), alternating the two sides; latencies "
        "are measured from the emulator's own completion time.",
        "",
        render_markdown(rows),
    ]
    if notes:
        markdown += ["", *[f"- {note}" for note in notes]]
    (output / "results.md").write_text("\n".join(markdown) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

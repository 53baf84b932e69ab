"""A worker of a batch shared through a journal URL, for the store tests.

Usage: ``python store_batch.py FOLDER JOURNAL_URL GO_FILE`` with the emulator's
WATTZON_* variables set. Prints ``ready``, waits for ``GO_FILE``, submits every
``*.pdf`` of FOLDER with ``submit_many(..., journal=JOURNAL_URL)``, prints a line
``created <file>`` as each outcome comes, then one JSON line: the resume summary and
each file's job id (or error).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from wattzon_async import Submission, WattzOnClient


async def main(folder: Path, journal: str, go: Path) -> None:
    files = sorted(folder.glob("*.pdf"))
    submissions = [
        Submission(email="fleet@example.com", provider=4, document=path) for path in files
    ]
    async with WattzOnClient.from_env() as client:
        print("ready", flush=True)
        while not go.exists():  # noqa: ASYNC110 (a file from another process: no event)
            await asyncio.sleep(0.001)
        results: dict[str, object] = {}
        run = client.jobs.submit_many(submissions, concurrency=4, journal=journal)
        try:
            async for outcome in run:
                name = files[outcome.index].name
                results[name] = outcome.job.id if outcome.job else repr(outcome.error)
                print(f"created {name}", flush=True)
        finally:
            await run.aclose()
        summary = str(run.progress.resume)
    print(json.dumps({"resume": summary, "jobs": results}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])))

"""A replica of a service, for the store tests: creates jobs and awaits them by notification.

Usage: ``python store_replica.py COUNT GO_FILE`` with the emulator's WATTZON_* variables
and WATTZON_STORE_URL set. Starts a consumer (hub mode) on the shared queue, prints
``ready``, waits for ``GO_FILE``, creates COUNT jobs and awaits each with the consumer,
polling only once at first (the next poll would be an hour later), and prints one JSON
line: the job ids and the consumer's counters.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from wattzon_async import NotificationConsumer, WaitPolicy, WattzOnClient

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
#: A first look, then nothing for an hour: only a notification ends a wait.
NO_POLLS = WaitPolicy(initial_delay=3600, max_delay=3600)


async def main(count: int, go: Path) -> None:
    async with WattzOnClient.from_env() as client, NotificationConsumer.from_env() as consumer:
        print("ready", flush=True)
        while not go.exists():  # noqa: ASYNC110 (a file from another process: no event)
            await asyncio.sleep(0.001)
        jobs = await asyncio.gather(
            *(
                client.jobs.create(
                    email="fleet@example.com", provider=4, document=PDF, name=f"r-{i}.pdf"
                )
                for i in range(count)
            )
        )
        done = await asyncio.gather(
            *(client.await_job(j.id, notifications=consumer, policy=NO_POLLS) for j in jobs)
        )
        stats = consumer.stats
    print(
        json.dumps(
            {
                "jobs": [job.id for job in done],
                "states": sorted({job.status.value for job in done}),
                "stored": stats.stored,
                "from_store": stats.from_store,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2])))

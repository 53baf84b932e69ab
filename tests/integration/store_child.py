"""A process of a fleet, for the store tests: one keyed create, started on a signal.

Usage: ``python store_child.py KEY MODE GO_FILE`` with the emulator's WATTZON_* variables
and WATTZON_STORE_URL set. Prints ``ready`` once its client is built, waits for
``GO_FILE`` to exist (so that several processes create at the same instant), then
creates the bill with idempotency key KEY and prints ``{"job": id}`` or
``{"error": "<class name>"}`` as one JSON line. MODE ``create`` uses ``jobs.create``;
``send`` sends a prepared create without the look-up (as a batch journal does for a
key it has just claimed).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from wattzon_async import Submission, WattzOnClient, WattzOnError

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
#: The bill every process creates (with its idempotency key).
BILL: dict[str, Any] = {
    "email": "fleet@example.com",
    "provider": 4,
    "document": PDF,
    "name": "bill.pdf",
}


async def main(key: str, mode: str, go: Path) -> None:
    async with WattzOnClient.from_env() as client:
        print("ready", flush=True)
        while not go.exists():  # noqa: ASYNC110 (a file from another process: no event)
            await asyncio.sleep(0.001)
        try:
            if mode == "send":
                submission = Submission(**BILL, idempotency_key=key)
                creator = client.jobs._creator  # as a batch journal sends a claimed key
                job = await creator.send(creator.prepare(submission), look_up=False)
            else:
                job = await client.jobs.create(**BILL, idempotency_key=key)
        except WattzOnError as exc:
            print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
            return
        print(json.dumps({"job": job.id}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])))

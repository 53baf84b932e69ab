"""The batch journal: crash-safe claims, records, leases across processes, and bad files."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from wattzon_async import ValidationError
from wattzon_async._serde import dump_job, structure_job
from wattzon_async.jobs._journal import CREATED, FINAL, SENDING, Journal, derive_key
from wattzon_async.jobs._upload import DocumentSource

from .conftest import seed

KEY = "idem:" + "a" * 32
JOB = structure_job(seed("create_response.json"))
DONE = structure_job(seed("job_raw.json"))


def row(path: Path, key: str = KEY) -> tuple[object, ...] | None:
    """The journal row of ``key``, read by a connection of its own (what another process sees)."""
    conn = sqlite3.connect(path)
    try:
        found: tuple[object, ...] | None = conn.execute(
            "SELECT state, job_id, owner, pid FROM journal_items WHERE key = ?", (key,)
        ).fetchone()
    finally:
        conn.close()
    return found


async def test_a_claim_is_on_disk_before_claim_returns(tmp_path: Path) -> None:
    path = tmp_path / "batch.journal"
    async with await Journal.open(path) as journal:
        entry = await journal.claim(KEY, KEY, "bill.pdf")
        assert (entry.state, entry.mine, entry.unsure, entry.busy) == (SENDING, True, False, False)
        state, job_id, owner, pid = row(path) or ()
        assert (state, job_id, pid) == (SENDING, None, os.getpid())
        assert owner
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        conn.close()


async def test_created_then_finished_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "j"
    async with await Journal.open(path) as journal:
        await journal.claim(KEY, KEY, "bill.pdf")
        await journal.created(KEY, JOB)
        assert row(path)[:2] == (CREATED, JOB.id)  # type: ignore[index]
        await journal.finished(KEY, DONE)
        await journal.created(KEY, JOB)  # a late "created" never undoes a final state
        entries = await journal.entries([KEY, "idem:" + "b" * 32])
    assert list(entries) == [KEY]
    entry = entries[KEY]
    assert entry.state == FINAL
    assert entry.job is not None
    assert entry.job.id == DONE.id
    assert entry.job.status == DONE.status
    assert entry.job.results is None  # results are fetched again, never stored


async def test_forget_makes_a_key_never_sent_again(tmp_path: Path) -> None:
    path = tmp_path / "j"
    async with await Journal.open(path) as journal:
        await journal.claim(KEY, KEY, "bill.pdf")
        await journal.forget(KEY)
        assert row(path) is None
        assert await journal.entries([KEY]) == {}


async def test_a_live_claim_is_busy_for_others_and_unsure_once_released(tmp_path: Path) -> None:
    path = tmp_path / "j"
    first = await Journal.open(path)
    await first.claim(KEY, KEY, "bill.pdf")
    async with await Journal.open(path) as second:
        assert (await second.claim(KEY, KEY, "bill.pdf")).busy
        assert (await second.entries([KEY]))[KEY].busy
        await first.close()  # an unanswered claim is released: its outcome is unknown
        assert row(path)[2] is None  # type: ignore[index]
        entry = await second.claim(KEY, KEY, "bill.pdf")
        assert (entry.mine, entry.unsure) == (True, True)
        await second.created(KEY, JOB)
    async with await Journal.open(path) as third:
        entry = await third.claim(KEY, KEY, "bill.pdf")
        assert (entry.state, entry.mine, entry.job) == (CREATED, False, JOB)


async def test_salt_is_kept_by_the_file_and_new_for_a_new_file(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "a") as a:
        salt = a.salt
    async with await Journal.open(tmp_path / "a") as again, await Journal.open(tmp_path / "b") as b:
        assert again.salt == salt
        assert b.salt != salt
    assert len(salt) == 32


def test_derived_keys_are_wire_tags_that_name_one_bill() -> None:
    base = derive_key("salt", "0" * 64, 4, "a@example.com")
    assert base == derive_key("salt", "0" * 64, 4, "a@example.com")
    assert base.startswith("idem:")
    assert len(base) == 37
    int(base[5:], 16)
    others = {
        derive_key("other", "0" * 64, 4, "a@example.com"),
        derive_key("salt", "1" * 64, 4, "a@example.com"),
        derive_key("salt", "0" * 64, 5, "a@example.com"),
        derive_key("salt", "0" * 64, 4, "b@example.com"),
    }
    assert base not in others
    assert len(others) == 4


def test_document_sha256_is_streamed_from_any_source(tmp_path: Path) -> None:
    content = b"%PDF-1.4\n" + os.urandom(3 * 64 * 1024 * 2 + 17)  # more than one chunk
    expected = hashlib.sha256(content).hexdigest()
    path = tmp_path / "bill.pdf"
    path.write_bytes(content)
    limit = 5 * 1024 * 1024
    stream = io.BytesIO(b"skip" + content)
    stream.seek(4)
    for source in (
        DocumentSource.of(path, name=None, limit=limit),
        DocumentSource.of(content, name="b.pdf", limit=limit),
        DocumentSource.of(stream, name="b.pdf", limit=limit),
    ):
        assert source.sha256() == expected


def test_dump_job_reads_back_as_the_same_job() -> None:
    job = structure_job(seed("job_raw.json"))
    again = structure_job(dump_job(job))
    assert again.results is None
    assert (again.id, again.created_at, again.email, again.provider) == (
        job.id,
        job.created_at,
        job.email,
        job.provider,
    )
    assert (again.status, again.document, again.tags, again.extra) == (
        job.status,
        job.document,
        job.tags,
        job.extra,
    )


async def test_concurrent_claims_all_land(tmp_path: Path) -> None:
    keys = [f"idem:{i:032x}" for i in range(300)]
    async with await Journal.open(tmp_path / "j") as journal:
        entries = await asyncio.gather(*(journal.claim(k, k, "x.pdf") for k in keys))
        assert all(e.mine for e in entries)
        await asyncio.gather(*(journal.created(k, JOB) for k in keys))
        found = await journal.entries(keys)
    assert len(found) == 300
    assert {e.state for e in found.values()} == {CREATED}


def foreign_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_bytes(b"not a database at all" * 100), "cannot be used"),
        (lambda p: foreign_database(p), "not a batch journal"),
    ],
)
async def test_a_path_that_cannot_be_a_journal_is_refused(
    tmp_path: Path, make: object, message: str
) -> None:
    path = tmp_path / "journal"
    make(path)  # type: ignore[operator]
    with pytest.raises(ValidationError, match=message) as caught:
        await Journal.open(path)
    assert caught.value.field == "journal"


async def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such folder"):
        await Journal.open(tmp_path / "nope" / "journal")


HOLDER = """
import asyncio, sys
from wattzon_async.jobs._journal import Journal

async def main():
    journal = await Journal.open(sys.argv[1])
    await journal.claim(sys.argv[2], sys.argv[2], "bill.pdf")
    print("claimed", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_claim_of_a_killed_process_is_unsure_at_once(tmp_path: Path) -> None:
    path = tmp_path / "j"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(path), KEY, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert (await holder.stdout.readline()).strip() == b"claimed"
        async with await Journal.open(path) as journal:
            assert (await journal.claim(KEY, KEY, "bill.pdf")).busy  # alive: its claim holds
            holder.kill()
            await holder.wait()
            entry = await journal.claim(KEY, KEY, "bill.pdf")
            assert (entry.mine, entry.unsure) == (True, True)  # dead: look it up, then send
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def test_an_expired_lease_of_another_host_is_unsure(tmp_path: Path) -> None:
    path = tmp_path / "j"
    async with await Journal.open(path):
        pass
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO journal_items (key, tag, label, state, owner, host, pid, lease, updated)"
            " VALUES (?, ?, 'x', 'sending', 'other', 'elsewhere', 1, ?, 0)",
            (KEY, KEY, time.time() + 60),
        )
        conn.execute(
            "INSERT INTO journal_items (key, tag, label, state, owner, host, pid, lease, updated)"
            " VALUES (?, ?, 'x', 'sending', 'other', 'elsewhere', 1, ?, 0)",
            ("idem:" + "b" * 32, "idem:" + "b" * 32, time.time() - 1),
        )
    conn.close()
    async with await Journal.open(path) as journal:
        entries = await journal.entries([KEY, "idem:" + "b" * 32])
    assert entries[KEY].busy  # another host, lease still fresh: its owner may be sending
    assert entries["idem:" + "b" * 32].unsure

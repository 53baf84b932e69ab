"""Files holding personal data or keys are owner-only (0600, folders 0700) under umask 022.

The umask is set explicitly to the usual default (``022``), under which a plain ``open``
makes a file every user can read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import file_mode as mode
from wattzon_async import certs
from wattzon_async._private import create_private_file, private_dir
from wattzon_async.jobs._journal import Journal
from wattzon_emulator._control import make_certificates
from wattzon_emulator._jobfile import JobFile

pytestmark = pytest.mark.usefixtures("umask_022")

KEY = "idem:" + "a" * 32


def test_the_umask_alone_would_make_files_world_readable(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    assert mode(tmp_path / "plain") == 0o644  # what the helpers below must not do


async def test_a_batch_journal_and_its_wal_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "batch.journal"
    async with await Journal.open(path) as journal:
        await journal.claim(KEY, KEY, "bill.pdf")
        written = [p for p in tmp_path.iterdir() if p.name.startswith("batch.journal")]
        assert {p.name for p in written} >= {"batch.journal", "batch.journal-wal"}
        assert {p.name: mode(p) for p in written} == dict.fromkeys((p.name for p in written), 0o600)


def test_a_private_folder_is_0700_and_an_existing_one_is_left_unless_told(tmp_path: Path) -> None:
    made = private_dir(tmp_path / "a" / "b")
    assert mode(made) == 0o700
    existing = tmp_path / "mine"
    existing.mkdir()
    private_dir(existing)
    assert mode(existing) == 0o755
    private_dir(existing, tighten=True)
    assert mode(existing) == 0o700


def test_an_existing_file_is_not_created_again(tmp_path: Path) -> None:
    assert create_private_file(tmp_path / "f")
    assert mode(tmp_path / "f") == 0o600
    assert not create_private_file(tmp_path / "f")


def test_the_emulators_state_is_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    private_dir(state, tighten=True)
    make_certificates(state, "tenant")
    jobs = JobFile(state / "jobs.jsonl")
    jobs.clear()
    assert mode(state) == 0o700
    assert mode(state / "tenants") == 0o700
    assert mode(state / "jobs.jsonl") == 0o600
    for key in ("ca.key", "client.key", "server.key"):
        assert mode(state / key) == 0o600


def test_a_key_written_by_certs_is_owner_only(tmp_path: Path) -> None:
    certs.write_csr(tmp_path / "client.key", tmp_path / "client.csr", common_name="acme")
    assert mode(tmp_path / "client.key") == 0o600

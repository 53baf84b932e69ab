"""The emulator's kept state (keys, jobs with emails) is owner-only under umask 022."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import file_mode as mode
from wattzon_async.emulator import Emulator

from .conftest import PDF

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("umask_022")
async def test_a_kept_state_folder_and_its_files_are_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with Emulator(state_dir=state, sqs=False) as emu, emu.client() as client:
        await client.jobs.create(
            email="someone@example.com", provider=4, document=PDF, name="bill.pdf"
        )
        emu.issue_client_cert("tenant-b")
    assert mode(state) == 0o700
    assert mode(state / "tenants") == 0o700
    assert mode(state / "jobs.jsonl") == 0o600
    assert b"someone@example.com" in (state / "jobs.jsonl").read_bytes()
    keys = list(state.rglob("*.key"))
    assert len(keys) >= 4  # the CA's, the server's, the client's and tenant-b's
    assert {str(p): mode(p) for p in keys} == {str(p): 0o600 for p in keys}

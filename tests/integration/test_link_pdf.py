"""Link bill PDFs from the emulator over real mTLS: saved whole, refused, or not at all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from wattzon_async import APIConnectionError, LinkBill, RetryPolicy, ValidationError
from wattzon_async._httpx import httpx
from wattzon_async.cli import ExitCode, main
from wattzon_async.emulator import Emulator

from .conftest import mtls_context

PDF_ROUTE = "GET /link/4.0/data/bills/{profile_id}/{bill_id}.pdf"
NO_WAIT = RetryPolicy(attempts=3, wait_initial=0, wait_max=0)


async def reference_pdfs(emu: Emulator, bills: list[LinkBill]) -> dict[str, bytes]:
    """Each bill's PDF as a plain mTLS client reads it, by file name."""
    context = mtls_context(emu.ca_cert, emu.client_cert, emu.client_key)
    async with httpx.AsyncClient(verify=context) as http:
        found = {}
        for bill in bills:
            assert bill.pdf is not None
            response = await http.get(bill.pdf)
            response.raise_for_status()
            found[bill.pdf.rsplit("/", 1)[1]] = response.content
    return found


@pytest.fixture
def wattzon(
    clean_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """Run ``wattzon`` in this process with the emulator's WATTZON_* settings."""
    for name, value in clean_emulator.environ().items():
        monkeypatch.setenv(name, value)

    def invoke(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


async def pdf_requests(emu: Emulator) -> dict[str, int]:
    counts: dict[str, int] = (await emu.stats())["requests"].get(PDF_ROUTE, {})
    return counts


async def test_every_bill_pdf_is_saved_whole_into_a_folder(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    async with clean_emulator.client() as client:
        bills = await client.link.bills("1001")
        saved = [await client.link.download_pdf(bill, tmp_path) for bill in bills]
    expected = await reference_pdfs(clean_emulator, bills)
    assert len(expected) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)  # nothing else
    for path in saved:
        assert path.parent == tmp_path
        assert path.read_bytes() == expected[path.name]
        assert path.read_bytes().startswith(b"%PDF-")


async def test_a_relative_pdf_uri_and_a_file_path(clean_emulator: Emulator, tmp_path: Path) -> None:
    async with clean_emulator.client() as client:
        bill = (await client.link.bills("1003"))[0]
        assert bill.pdf is not None
        relative = bill.pdf.removeprefix(clean_emulator.link_url)
        assert relative.startswith("data/bills/1003/")
        path = await client.link.download_pdf(relative, tmp_path / "latest.pdf")
    assert path == tmp_path / "latest.pdf"
    assert path.read_bytes() == (await reference_pdfs(clean_emulator, [bill]))[bill.pdf[-10:]]


async def test_an_existing_file_is_kept_without_overwrite(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    async with clean_emulator.client() as client:
        bill = (await client.link.bills("1003"))[0]
        first = await client.link.download_pdf(bill, tmp_path, overwrite=False)
        first.write_bytes(b"MINE")
        with pytest.raises(FileExistsError) as caught:
            await client.link.download_pdf(bill, tmp_path, overwrite=False)
        assert caught.value.filename == str(first)
        assert first.read_bytes() == b"MINE"
        assert await client.link.download_pdf(bill, tmp_path) == first
    assert first.read_bytes().startswith(b"%PDF-")
    assert list(tmp_path.iterdir()) == [first]


async def test_a_pdf_on_another_host_is_refused_and_never_requested(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    async with clean_emulator.client() as client:
        bill = (await client.link.bills("1003"))[0]
        assert bill.pdf is not None
        # the same server under another name: still not a host the client was given
        elsewhere = LinkBill(pdf=bill.pdf.replace("127.0.0.1", "localhost"), extra=bill.extra)
        with pytest.raises(ValidationError, match=f"from https://localhost:{clean_emulator.port}"):
            await client.link.download_pdf(elsewhere, tmp_path)
    assert await pdf_requests(clean_emulator) == {}
    assert list(tmp_path.iterdir()) == []


async def test_a_download_dropped_mid_stream_leaves_no_partial_file(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    await clean_emulator.set_faults(drop_download_rate=1.0)
    async with clean_emulator.client(retry=NO_WAIT) as client:
        bill = (await client.link.bills("1003"))[0]
        with pytest.raises(APIConnectionError, match="connection"):
            await client.link.download_pdf(bill, tmp_path)
    assert await pdf_requests(clean_emulator) == {"dropped": 3}  # every attempt cut off
    assert (await clean_emulator.stats())["connections_dropped"] == 3
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary file


async def test_dropped_downloads_are_retried_into_whole_files(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    await clean_emulator.set_faults(drop_download_rate=0.5, seed=3)
    async with clean_emulator.client(retry=RetryPolicy(attempts=10, wait_initial=0)) as client:
        bills = await client.link.bills("1001")
        for bill in bills:
            await client.link.download_pdf(bill, tmp_path)
    counts = await pdf_requests(clean_emulator)
    assert counts["200"] == 3
    assert counts["dropped"] >= 1  # seeded: some attempts were cut off
    await clean_emulator.set_faults()
    expected = await reference_pdfs(clean_emulator, bills)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == expected


async def test_cli_link_bills_pdf_saves_refuses_and_forces(
    clean_emulator: Emulator, wattzon: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    code, out, err = await asyncio.to_thread(
        wattzon, "link", "bills", "1001", "--pdf", str(tmp_path), "--json"
    )
    assert (code, err) == (ExitCode.OK, "")
    rows = json.loads(out)
    async with clean_emulator.client() as client:
        expected = await reference_pdfs(clean_emulator, await client.link.bills("1001"))
    assert {Path(row["pdf_file"]).name for row in rows} == set(expected)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == expected
    mine = tmp_path / sorted(expected)[0]
    mine.write_bytes(b"MINE")
    code, out, err = await asyncio.to_thread(
        wattzon, "link", "bills", "1001", "--pdf", str(tmp_path)
    )
    assert code == ExitCode.USAGE
    assert err.startswith("wattzon: error: ")
    assert err.count("\n") == 1
    assert "already exist; pass --force to replace them, or --pdf another folder" in err
    assert all(name in err for name in expected)
    assert mine.read_bytes() == b"MINE"
    code, out, err = await asyncio.to_thread(
        wattzon, "link", "bills", "1001", "--pdf", str(tmp_path), "--force"
    )
    assert (code, err) == (ExitCode.OK, "")
    assert mine.read_bytes() == expected[mine.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)


async def test_cli_link_bills_pdf_dropped_mid_stream_exits_4_with_no_file(
    clean_emulator: Emulator, wattzon: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    await clean_emulator.set_faults(drop_download_rate=1.0)
    code, _, err = await asyncio.to_thread(wattzon, "link", "bills", "1003", "--pdf", str(tmp_path))
    assert code == ExitCode.API
    assert err.startswith("wattzon: error: the connection to https://127.0.0.1:")
    assert (await pdf_requests(clean_emulator))["dropped"] >= 1
    assert list(tmp_path.iterdir()) == []

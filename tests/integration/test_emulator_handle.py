"""The Emulator handle itself: start, stop, certificates, the command line and the demo."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from wattzon_async._httpx import httpx
from wattzon_async.emulator import Emulator, EmulatorError
from wattzon_emulator.demo import run_demo

from .conftest import create_body, mtls_context, poll_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def test_stop_leaves_no_process_socket_or_file(tmp_path: Path) -> None:
    async with Emulator(sqs=True, processing_time=0.1) as emu:
        own_files = emu.state_dir.parent
        assert own_files.name.startswith("wattzon-emulator-")
        assert own_files.is_dir()
        pids = emu.pids
        port = emu.port
        endpoint = emu.sqs_endpoint_url
        assert len(pids) == 2
        assert all(_alive(pid) for pid in pids)
        assert emu.queue_url is not None
        assert endpoint is not None
        assert endpoint.startswith("http://127.0.0.1:")
    assert not any(_alive(pid) for pid in pids)
    assert not _listening(port)
    assert not _listening(int(endpoint.rsplit(":", 1)[1]))
    assert not own_files.exists()
    with pytest.raises(EmulatorError):
        _ = emu.snap_url


async def test_state_dir_keeps_the_ca_and_client_certificate(tmp_path: Path) -> None:
    async with Emulator(state_dir=tmp_path) as emu:
        assert emu.ca_cert == tmp_path / "ca.crt"
        first_ca = emu.ca_cert.read_bytes()
        first_client = emu.client_cert.read_bytes()
        assert emu.queue_url is None
        with pytest.raises(EmulatorError, match="sqs=True"):
            emu.consumer()
    assert {"ca.crt", "ca.key", "client.crt", "client.key"} <= set(os.listdir(tmp_path))
    async with Emulator(state_dir=tmp_path) as emu:
        assert emu.ca_cert.read_bytes() == first_ca
        assert emu.client_cert.read_bytes() == first_client
        context = mtls_context(emu.ca_cert, emu.client_cert, emu.client_key)
        async with httpx.AsyncClient(verify=context) as client:
            response = await client.get(emu.link_url + "zips/94110")
        assert response.status_code == 200


async def test_a_fixed_port_and_a_processing_time_range(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with Emulator(port=port, processing_time=(0.05, 0.15), failing_providers=[12]) as emu:
        assert emu.snap_url == f"https://127.0.0.1:{port}/api/v1/"
        context = mtls_context(emu.ca_cert, emu.client_cert, emu.client_key)
        async with httpx.AsyncClient(verify=context, base_url=emu.base_url) as http:
            job = (await http.post("/api/v1/jobs/", json=create_body(provider=12))).json()

            async def failed() -> bool | None:
                status = (await http.get(f"/api/v1/jobs/{job['id']}")).json()["status"]
                return True if status == "FAILED" else None

            await poll_until(failed)


async def test_a_port_in_use_fails_fast_with_the_reason() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        emulator = Emulator(port=taken.getsockname()[1], startup_timeout=20)
        with pytest.raises(EmulatorError, match="exited"):
            await emulator.start()
    assert not emulator.running


async def test_command_line_prints_exports_and_stops_on_sigint(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wattzon_async.emulator",
        "--dir",
        "certs",
        "--no-sqs",
        "--processing-time",
        "0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert process.stdout is not None
    exports: dict[str, str] = {}
    try:
        async with asyncio.timeout(30):
            while "WATTZON_LINK_URL" not in exports:
                line = (await process.stdout.readline()).decode()
                assert line, "the command ended before printing its exports"
                if line.startswith("export "):
                    name, _, value = line[len("export ") :].strip().partition("=")
                    exports[name] = value
        certs = tmp_path.resolve() / "certs"
        assert exports["WATTZON_CERT"] == str(certs / "client.crt")
        assert exports["WATTZON_KEY"] == str(certs / "client.key")
        assert exports["WATTZON_CA_BUNDLE"] == str(certs / "ca.crt")
        context = mtls_context(
            Path(exports["WATTZON_CA_BUNDLE"]),
            Path(exports["WATTZON_CERT"]),
            Path(exports["WATTZON_KEY"]),
        )
        async with httpx.AsyncClient(verify=context) as client:
            response = await client.get(exports["WATTZON_SNAP_URL"] + "jobs/")
        assert response.json() == []
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            await process.communicate()
    assert process.returncode == 0


async def test_demo_runs_end_to_end() -> None:
    out = io.StringIO()
    assert await run_demo(out, processing_time=(0.1, 0.3)) == 0
    text = out.getvalue()
    assert "COMPLETE" in text
    assert "FAILED" in text
    assert "pge-2015-11.pdf" in text

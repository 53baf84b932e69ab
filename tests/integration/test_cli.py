"""The ``wattzon`` command line end to end: the session emulator over real mTLS.

Settings come from WATTZON_* variables (set with monkeypatch) exactly as a user's shell
would give them; most runs are in-process through ``main``, one is a real subprocess.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from wattzon_async.cli import main
from wattzon_async.emulator import Emulator, expected_results

pytestmark = pytest.mark.integration

BILLS = Path(__file__).resolve().parents[2] / "examples" / "bills"
SAMPLES = (BILLS / "pge-2015-11.pdf", BILLS / "coned-2024-03.pdf")
EMAIL = "user@example.com"
FAST = ("--poll-interval", "0.05", "--timeout", "30")


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Invoke = Callable[..., Result]


@pytest.fixture
def environ(wattzon_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the WATTZON_* variables at the session emulator."""
    emu = wattzon_emulator
    values = {
        "WATTZON_CERT": str(emu.client_cert),
        "WATTZON_KEY": str(emu.client_key),
        "WATTZON_CA_BUNDLE": str(emu.ca_cert),
        "WATTZON_SNAP_URL": emu.snap_url,
        "WATTZON_LINK_URL": emu.link_url,
    }
    monkeypatch.delenv("WATTZON_KEY_PASSWORD", raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def wattzon(environ: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Invoke:
    def invoke(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def tag() -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"


def submit_samples(wattzon: Invoke, tag: str, out: Path) -> Result:
    files = [str(path) for path in SAMPLES]
    argv = ("submit", *files, "--provider", "4", "--email", EMAIL, "--tag", tag)
    return wattzon(*argv, "--wait", *FAST, "--out", str(out))


def test_submit_two_bills_and_read_them_back(wattzon: Invoke, tag: str, tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    result = submit_samples(wattzon, tag, out)
    assert result.code == 0, result.err
    assert "2 succeeded, 0 failed" in result.out
    with out.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["file"] for row in rows] == [str(path) for path in SAMPLES]
    assert [row["status"] for row in rows] == ["COMPLETE", "COMPLETE"]
    for row, path in zip(rows, SAMPLES, strict=True):
        expected = expected_results(path.read_bytes(), 4)
        assert {name: row[name] for name in expected} == expected
        assert row["error"] == ""

    ids = sorted(int(row["job_id"]) for row in rows)
    listed = wattzon("jobs", "list", "--tag", tag, "--json")
    assert listed.code == 0
    assert sorted(job["id"] for job in listed.json()) == ids

    job = wattzon("jobs", "get", str(ids[0]), "--results", "transformed", "--json").json()
    assert job["status"] == "COMPLETE"
    assert tag in job["tags"]
    by_id = {int(row["job_id"]): Path(row["file"]) for row in rows}
    assert job["results"] == expected_results(by_id[ids[0]].read_bytes(), 4)

    waited = wattzon("jobs", "wait", str(ids[1]), *FAST, "--json")
    assert waited.code == 0
    assert waited.json()["results"]["Name"]["content"]

    table = wattzon("jobs", "get", str(ids[0]))
    assert table.code == 0
    assert "COMPLETE" in table.out


def test_document_download(wattzon: Invoke, tag: str, tmp_path: Path) -> None:
    result = submit_samples(wattzon, tag, tmp_path / "r.jsonl")
    assert result.code == 0, result.err
    first = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])
    dest = tmp_path / "downloads"
    dest.mkdir()
    done = wattzon("document", "download", str(first["job_id"]), "--dest", str(dest), "--json")
    assert done.code == 0, done.err
    saved = Path(done.json()["path"])
    assert saved.parent == dest
    assert saved.read_bytes() == SAMPLES[0].read_bytes()


def test_failed_and_unsupported_bills_exit_1(wattzon: Invoke, tag: str) -> None:
    failed = str(BILLS / "failed-blurry-scan.pdf")
    argv = ("submit", failed, "--provider", "4", "--email", EMAIL, "--tag", tag, "--wait")
    result = wattzon(*argv, *FAST, "--json")
    assert result.code == 1
    assert result.json()["results"][0]["status"] == "FAILED"

    held = wattzon("submit", str(SAMPLES[0]), "--provider", "9999", "--email", EMAIL, "--json")
    assert held.code == 1
    job_id = held.json()["results"][0]["job_id"]
    waited = wattzon("jobs", "wait", str(job_id), *FAST)
    assert waited.code == 1
    assert "UNSUPPORTED" in waited.err


def test_link_lookups(wattzon: Invoke) -> None:
    zipcode = wattzon("zips", "get", "94110", "--json")
    assert zipcode.code == 0
    assert zipcode.json()["state"] == "CA"
    found = wattzon("utilities", "find", "--zipcode", "94110", "--type", "electric", "--json")
    assert 4 in found.json()["provider_ids"]
    utility = wattzon("utilities", "get", "4", "--json").json()
    assert utility["id"] == 4
    assert "electric" in utility["types"]
    bills = wattzon("link", "bills", "1001", "--json")
    assert bills.code == 0
    assert bills.json()
    assert all("pdf" in bill for bill in bills.json())
    for argv in (("zips", "get", "94110"), ("utilities", "get", "4"), ("link", "bills", "1001")):
        assert wattzon(*argv).code == 0


def test_api_errors_exit_4(wattzon: Invoke, wattzon_emulator: Emulator, tag: str) -> None:
    missing = wattzon("jobs", "get", "999999999")
    assert missing.code == 4
    assert missing.err.startswith("wattzon: error: 404")

    created = wattzon("submit", str(SAMPLES[0]), "--provider", "4", "--email", EMAIL, "--json")
    job_id = created.json()["results"][0]["job_id"]
    cert, key = wattzon_emulator.issue_client_cert(f"other-{tag}")
    other = wattzon("jobs", "get", str(job_id), "--cert", str(cert), "--key", str(key))
    assert other.code == 4
    assert other.err.startswith("wattzon: error: 403")


def test_cert_check_on_the_client_certificate(wattzon: Invoke) -> None:
    result = wattzon("cert", "check", "--json")
    assert result.code == 0
    assert result.json()["valid"] is True


def test_subprocess_python_m(environ: dict[str, str], tag: str, tmp_path: Path) -> None:
    env = {**os.environ, **environ}
    command = [sys.executable, "-m", "wattzon_async"]
    argv = ["submit", str(SAMPLES[1]), "--provider", "4", "--email", EMAIL, "--tag", tag]
    done = subprocess.run(
        [*command, *argv, "--wait", *FAST, "--out", str(tmp_path / "r.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    how, progress, *_ = done.stderr.splitlines()
    assert how.startswith("wattzon: waiting by polling (set WATTZON_SQS_QUEUE_URL")
    assert progress.startswith("[1/1] ")  # not a terminal: plain progress lines
    listed = subprocess.run(
        [*command, "jobs", "list", "--tag", tag, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    [job] = json.loads(listed.stdout)
    assert job["status"] == "COMPLETE"
    assert job["document"]["name"] == SAMPLES[1].name


# -- a CLI that keeps its word ---------------------------------------------------------------


def run_cli(*argv: str, env: dict[str, str], cwd: Path | None = None) -> Result:
    """``python -m wattzon_async`` in a real subprocess."""
    done = subprocess.run(
        [sys.executable, "-m", "wattzon_async", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def test_key_passwords_never_reach_the_terminal(
    environ: dict[str, str], wattzon_emulator: Emulator, tag: str
) -> None:
    right = "right-one-5e7a"
    cert, key = wattzon_emulator.issue_client_cert(f"enc-{tag}", key_password=right.encode())
    env = {**os.environ, **environ, "WATTZON_CERT": str(cert), "WATTZON_KEY": str(key)}
    expected = (
        f"wattzon: error: wrong password for the private key in {key}; "
        "check --key-password (or WATTZON_KEY_PASSWORD)"
    )
    results = [
        run_cli("jobs", "list", "--debug", "--key-password", "e", env=env),
        run_cli("jobs", "list", "--debug", env={**env, "WATTZON_KEY_PASSWORD": "private"}),
        run_cli("jobs", "list", "--debug", "--key-password", "hunter2-x9", env=env),
    ]
    for result in results:
        assert result.code == 3
        assert result.err.splitlines()[-1] == expected
        assert "***" not in result.out + result.err
        assert "hunter2" not in result.out + result.err
    ok = run_cli("jobs", "list", "--json", "--debug", env={**env, "WATTZON_KEY_PASSWORD": right})
    assert ok.code == 0, ok.err
    assert "wattzon: debug: GET " in ok.err  # the debug log was written, and holds no password
    assert right not in ok.out + ok.err


def test_cert_flag_takes_its_key_from_the_environment(
    wattzon: Invoke, wattzon_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tag: str
) -> None:
    cert, key = wattzon_emulator.issue_client_cert(f"pair-{tag}")
    monkeypatch.setenv("WATTZON_KEY", str(key))
    monkeypatch.delenv("WATTZON_CERT")
    assert wattzon("jobs", "list", "--cert", str(cert), "--json").json() == []
    now = datetime.now(UTC)
    old_cert, old_key = wattzon_emulator.issue_client_cert(
        f"old-{tag}", not_before=now - timedelta(days=400), not_after=now - timedelta(hours=26)
    )
    monkeypatch.setenv("WATTZON_KEY", str(old_key))
    expired = wattzon("jobs", "list", "--cert", str(old_cert))
    assert expired.code == 3
    assert "expired on" in expired.err
    assert "no private key" not in expired.err
    checked = wattzon("cert", "check", str(old_cert))
    assert checked.code == 3
    assert "expired 1 day ago" in checked.out


def test_an_unreachable_api_is_named_with_what_to_check(wattzon: Invoke) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = wattzon(
        "jobs", "list", "--tag", "private", "--snap-url", f"https://127.0.0.1:{port}/api/v1/"
    )
    assert result.code == 4
    line = result.err.strip().splitlines()[-1]
    assert line.startswith(
        f"wattzon: error: could not connect to https://127.0.0.1:{port}/api/v1/jobs/ ("
    )
    assert line.endswith(
        "check that the server is running and that --snap-url (or WATTZON_SNAP_URL) points "
        "at it (for the local emulator: is `wattzon emulator` running?)"
    )
    assert "private" not in result.err


def test_a_wrong_base_url_is_named_with_the_setting(
    wattzon: Invoke, wattzon_emulator: Emulator
) -> None:
    wrong = wattzon_emulator.snap_url.removesuffix("api/v1/") + "wrong/"
    result = wattzon("jobs", "list", "--snap-url", wrong)
    assert result.code == 4
    assert result.err.strip() == (
        f"wattzon: error: 404: Not Found at {wrong}jobs/; check that --snap-url "
        "(or WATTZON_SNAP_URL) is the API's base URL"
    )
    missing = wattzon("jobs", "get", "999999999")
    assert missing.err.strip() == "wattzon: error: 404: job 999999999 does not exist"


def test_document_download_keeps_an_existing_file_and_takes_a_job_id(
    wattzon: Invoke, tag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = wattzon("submit", str(SAMPLES[0]), "--provider", "4", "--email", EMAIL, "--json")
    job_id = created.json()["results"][0]["job_id"]
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / SAMPLES[0].name
    mine.write_bytes(b"my own file")
    refused = wattzon("document", "download", str(job_id))
    assert refused.code == 2
    assert f"{SAMPLES[0].name} already exists; pass --force" in refused.err
    assert mine.read_bytes() == b"my own file"
    assert sorted(tmp_path.iterdir()) == [mine]
    assert wattzon("document", "download", str(job_id), "--force").code == 0
    assert mine.read_bytes() == SAMPLES[0].read_bytes()


def test_timeouts_exit_5_and_read_humanly(wattzon: Invoke, tag: str) -> None:
    argv = ("submit", str(SAMPLES[0]), "--provider", "4", "--email", EMAIL, "--tag", tag)
    submitted = wattzon(*argv, "--wait", "--timeout", "0.05", "--poll-interval", "1", "--json")
    assert submitted.code == 5, submitted.err
    [row] = submitted.json()["results"]
    assert row["status"] == "TIMEOUT"
    assert "within 0.05 s" in row["error"]
    job_id = row["job_id"]
    waited = wattzon("jobs", "wait", str(job_id), "--timeout", "0")
    assert waited.code == 5
    assert f"job {job_id} did not reach a final state within 0 s" in waited.err


def test_utilities_find_names_the_providers(wattzon: Invoke) -> None:
    found = wattzon("utilities", "find", "--zipcode", "94110", "--json").json()
    names = {p["id"]: p["name"] for p in found["providers"]}
    assert names[4] == "Pacific Gas and Electric Company"
    assert set(names) == set(found["provider_ids"])
    table = wattzon("utilities", "find", "--zipcode", "94110")
    assert "Pacific Gas and Electric Company" in table.out


def test_link_profiles_and_extractions_are_discoverable(wattzon: Invoke, tmp_path: Path) -> None:
    missing = wattzon("link", "bills", "1")
    assert missing.code == 4
    assert "the emulator's profiles: 1001 (3 bills)" in missing.err
    process = subprocess.Popen(
        [sys.executable, "-m", "wattzon_async", "emulator", "--dir", "emu", "--no-sqs"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        exports: dict[str, str] = {}
        profiles: list[str] = []
        for line in process.stdout:  # ends at the curl line, or the test fails at EOF
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value
            if line.startswith("# Link sample profiles: "):
                listed = line.removeprefix("# Link sample profiles: ").split(";")[0]
                profiles = [item.split()[0] for item in listed.split(", ")]
            if line.startswith("# Start a Link extraction"):
                start_link = line.partition(": ")[2].strip()
                break
        assert profiles
        env = {**os.environ, **exports}
        for profile in profiles:
            result = run_cli("link", "bills", profile, "--json", env=env)
            assert result.code == 0, result.err
        started = subprocess.run(
            ["bash", "-c", start_link], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(started.stdout)["profile_id"] == profiles[0]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)

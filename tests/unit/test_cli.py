"""The ``wattzon`` command line over MockTransport: parsing, dispatch, output, exit codes."""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.pki import CertificateAuthority
from wattzon_async import CertificateInfo, Document, RetryPolicy, WattzOnClient, WattzOnError
from wattzon_async._httpx import httpx, stack_name
from wattzon_async._redact import mask_emails
from wattzon_async._serde import unstructure
from wattzon_async.cli import ExitCode, main, run
from wattzon_async.cli._cert import expiry_text
from wattzon_async.cli._commands import NAME_LOOKUPS
from wattzon_async.cli._output import Output
from wattzon_async.cli._submit import Row, outcome_code
from wattzon_emulator._data import LINK_PROFILES, sample_profiles

from .conftest import LINK, SNAP, Pki, json_response, seed
from .test_models import MODEL_JSON

FAST = RetryPolicy(attempts=1, timeout=5.0, wait_initial=0.001, wait_jitter=0)
PDF = b"%PDF-1.4\n%%EOF\n"


class FakeApi:
    """Snap and Link in memory. A job is COMPLETE on its first GET; ``failed*`` files FAIL."""

    def __init__(self) -> None:
        self.ids = itertools.count(1000)
        self.jobs: dict[int, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.stuck = False
        self.offline = False
        self.interrupt = False
        #: A signal this process sends itself on the next job GET (a user's Ctrl-C).
        self.signal: signal.Signals | None = None
        #: A signal this process sends itself as the next create is answered.
        self.signal_on_create: signal.Signals | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.offline:
            raise httpx.ConnectError("connection refused", request=request)
        url = str(request.url)
        if url.startswith(SNAP):
            return self.snap(request, url.removeprefix(SNAP).split("?")[0].strip("/").split("/"))
        if url.startswith(LINK):
            return self.link(url.removeprefix(LINK).split("?")[0].strip("/").split("/"), request)
        if request.url.host in ("snap.test", "link.test"):  # a path the API does not have
            return json_response({"error": "Not Found"}, 404)
        raise AssertionError(f"unexpected request {request.method} {url}")

    def snap(self, request: httpx.Request, parts: list[str]) -> httpx.Response:
        if parts == ["jobs"] and request.method == "POST":
            if self.signal_on_create is not None:
                os.kill(os.getpid(), self.signal_on_create)
                self.signal_on_create = None
            return self.create(json.loads(request.read()))
        if parts == ["jobs"]:
            tag = request.url.params.get("tag")
            jobs = [j for j in self.jobs.values() if tag is None or tag in j["tags"]]
            return json_response(sorted(jobs, key=lambda j: -j["id"]))
        job = self.jobs.get(int(parts[1]))
        if job is None:
            return json_response({"error": f"job {parts[1]} not found"}, 404)
        if self.interrupt:
            raise KeyboardInterrupt
        if self.signal is not None:
            os.kill(os.getpid(), self.signal)
            self.signal = None
        if parts[2:] == ["document"]:
            headers = {"content-disposition": f'attachment; filename="{job["document"]["name"]}"'}
            return httpx.Response(200, content=PDF, headers=headers)
        return json_response(self.finish(job, request.url.params.get("results")))

    def create(self, body: dict[str, Any]) -> httpx.Response:
        data = seed("create_response.json")
        name = body["document"]["name"]
        status = "UNSUPPORTED" if body["provider"] == 9999 else "ENQUEUED"
        data.update(id=next(self.ids), tags=body["tags"], status=status, email=body["email"])
        data["document"] = {"id": data["id"] + 5000, "name": name}
        self.jobs[data["id"]] = data
        return json_response(data, 201)

    def finish(self, job: dict[str, Any], results: str | None) -> dict[str, Any]:
        if job["status"] == "UNSUPPORTED":
            return job
        if self.stuck:
            return dict(job, status="PROCESSING")
        if job["document"]["name"].startswith("failed"):
            return dict(job, status="FAILED")
        form = "job_transformed.json" if results == "transformed" else "job_raw.json"
        return dict(job, status="COMPLETE", results=seed(form)["results"])

    def link(self, parts: list[str], request: httpx.Request) -> httpx.Response:
        if parts == ["zips", "94110"]:
            return json_response(
                {"zipcode": "94110", "city": "San Francisco", "county": "San Francisco",
                 "state": "CA", "latitude": 37.75, "longitude": -122.41, "timezone": "PST"}
            )  # fmt: skip
        if parts == ["utilities"]:
            assert request.url.params.get("zipcode") == "94110"
            return json_response({"provider_ids": [4, 305]})
        if parts == ["utilities", "4"]:
            return json_response(
                {"name": "PG&E", "type": "electric,gas", "homepage_url": "https://www.pge.com"}
            )
        if parts == ["data", "bills", "p1"]:
            bill = {"pdf": LINK + "data/bills/p1/1.pdf", "amount_due": 12.5, "usage": {"kwh": 3}}
            return json_response({"data": [bill]})
        if parts == ["data", "bills", "p2"]:  # a PDF elsewhere, none, a relative URI
            bills = [
                {"id": 21, "pdf": "https://x.test/21.pdf"},
                {"id": 22},
                {"id": 23, "pdf": "data/bills/p2/23.pdf"},
            ]
            return json_response({"data": bills})
        if parts == ["data", "bills", "p3"]:
            return json_response({"data": [{"id": 31, "pdf": "data/bills/p3/moved.pdf"}]})
        if parts == ["data", "bills", "p4"]:  # three PDFs
            bills = [{"id": i, "pdf": f"data/bills/p4/{i}.pdf"} for i in (41, 42, 43)]
            return json_response({"data": bills})
        if parts == ["data", "bills", "p3", "moved.pdf"]:
            return httpx.Response(302, headers={"location": "https://x.test/31.pdf"})
        if parts[:2] == ["data", "bills"] and len(parts) == 4:
            headers = {"content-disposition": f'attachment; filename="{parts[3]}"'}
            return httpx.Response(200, content=PDF, headers=headers)
        return json_response({"error": "not found"}, 404)


@attrs.define
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Result]


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def env(pki: Pki) -> dict[str, str]:
    return {
        "WATTZON_CERT": str(pki.cert),
        "WATTZON_KEY": str(pki.key),
        "WATTZON_CA_BUNDLE": str(pki.ca_path),
        "WATTZON_SNAP_URL": SNAP,
        "WATTZON_LINK_URL": LINK,
    }


@pytest.fixture
def seen() -> list[dict[str, Any]]:
    """The overrides each client of a run was made with."""
    return []


@pytest.fixture
def cli(
    api: FakeApi,
    env: dict[str, str],
    seen: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    def factory(environ: Mapping[str, str], overrides: dict[str, Any]) -> WattzOnClient:
        seen.append(overrides)
        transport = httpx.MockTransport(api)
        return WattzOnClient.from_env(environ, transport=transport, retry=FAST, **overrides)

    def invoke(*argv: str, environ: dict[str, str] | None = None) -> Result:
        capsys.readouterr()
        code = run(list(argv), environ=env if environ is None else environ, client_factory=factory)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def bills(tmp_path: Path, *names: str) -> list[str]:
    """Distinct bills (the same content twice would be the same bill: one job)."""
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_bytes(PDF + f"% {name}\n".encode())
        paths.append(str(path))
    return paths


def one_error_line(result: Result) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("wattzon: error: ")
    assert "Traceback" not in result.err
    return lines[0]


# -- parsing, help and usage errors ------------------------------------------------------


def test_help_lists_commands_and_exit_codes(cli: Cli) -> None:
    result = cli("--help")
    assert result.code == 0
    for word in ("submit", "jobs", "document", "zips", "utilities", "link", "cert", "demo"):
        assert word in result.out
    assert "exit codes:" in result.out
    assert "130  interrupted" in result.out


def test_exit_codes_are_the_documented_ones() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "CERTIFICATE": 3, "API": 4, "TIMEOUT": 5,
        "INTERRUPTED": 130,
    }  # fmt: skip


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.code == 0
    assert result.out.startswith("wattzon ")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ((), "the following arguments are required: COMMAND"),
        (("jobs", "get", "abc"), "jobs get: argument ID: not a whole number"),
        (("jobs", "get", "0"), "must be positive"),
        (("jobs", "frobnicate"), "invalid choice"),
        (("submit", "x.pdf", "--email", "a@b.co"), "--provider"),
        (("utilities", "find", "--type", "steam"), "invalid choice"),
        (("jobs", "wait", "1", "--timeout", "soon"), "not a number of seconds"),
        (("jobs", "wait", "1", "--poll-interval", "0"), "at least 0.01"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(
    cli: Cli, argv: tuple[str, ...], fragment: str, api: FakeApi
) -> None:
    result = cli(*argv)
    assert result.code == 2
    assert fragment in one_error_line(result)
    assert "usage:" not in result.err
    assert api.requests == []


def test_options_are_accepted_before_and_after_the_command(cli: Cli, api: FakeApi) -> None:
    before = cli("--json", "jobs", "list")
    after = cli("jobs", "list", "--json")
    assert before.code == after.code == 0
    assert before.json() == after.json() == []


# -- settings ------------------------------------------------------------------------------


def test_flags_win_over_environment(
    cli: Cli, env: dict[str, str], seen: list[dict[str, Any]], pki: Pki, tmp_path: Path
) -> None:
    combined = tmp_path / "combined.pem"
    combined.write_bytes(pki.cert.read_bytes() + pki.key.read_bytes())
    environ = dict(env, WATTZON_SNAP_URL="https://wrong.test/api/v1/")
    argv = ("jobs", "list", "--json", "--snap-url", SNAP, "--cert", str(combined))
    # --key '' says the --cert file holds its key: WATTZON_KEY is not paired with it
    assert cli(*argv, "--key", "", environ=environ).code == 0
    assert seen[-1] == {"snap_url": SNAP, "cert": str(combined)}


def test_key_flag_pairs_with_the_environment_certificate(
    cli: Cli, seen: list[dict[str, Any]], pki: Pki
) -> None:
    assert cli("jobs", "list", "--json", "--key", str(pki.key)).code == 0
    assert seen[-1]["cert"] == (str(pki.cert), str(pki.key))


def test_environment_alone_configures_the_client(
    cli: Cli, seen: list[dict[str, Any]], pki: Pki
) -> None:
    assert cli("jobs", "list", "--json").code == 0
    assert seen[-1] == {"cert": (str(pki.cert), str(pki.key))}


def test_no_certificate_is_a_usage_error(cli: Cli) -> None:
    result = cli("jobs", "list", environ={})
    assert result.code == ExitCode.USAGE
    assert "WATTZON_CERT" in one_error_line(result)


def test_expired_client_certificate_exits_3(
    cli: Cli, env: dict[str, str], pki: Pki, tmp_path: Path
) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    cert, key = pki.ca.issue("old", not_before=old, not_after=old + timedelta(days=365)).write(
        tmp_path, "old"
    )
    result = cli("jobs", "list", environ=dict(env, WATTZON_CERT=str(cert), WATTZON_KEY=str(key)))
    assert result.code == 3
    assert "expired" in one_error_line(result)


# -- jobs ----------------------------------------------------------------------------------


def make_job(api: FakeApi, name: str = "bill.pdf", provider: int = 4) -> int:
    response = api.create(
        {"email": "user@example.com", "provider": provider, "tags": ["demo"],
         "document": {"name": name}}
    )  # fmt: skip
    return int(response.json()["id"])


def test_jobs_list_table_hides_idempotency_tags(cli: Cli, api: FakeApi) -> None:
    job_id = make_job(api)
    api.jobs[job_id]["tags"] = ["demo", "idem:" + "0" * 32, "idem-fp:" + "1" * 32]
    result = cli("jobs", "list")
    assert result.code == 0
    assert str(job_id) in result.out
    assert "demo" in result.out
    assert "idem" not in result.out


def test_jobs_list_json_shape_and_tag_filter(cli: Cli, api: FakeApi) -> None:
    make_job(api)
    api.jobs[make_job(api)]["tags"] = ["other"]
    result = cli("jobs", "list", "--tag", "demo", "--json")
    assert result.code == 0
    data = result.json()
    assert [j["tags"] for j in data] == [["demo"]]
    job = data[0]
    assert set(job) >= {"id", "created_at", "email", "provider", "status", "tags", "document"}
    assert datetime.fromisoformat(job["created_at"]).tzinfo is not None
    assert job["document"] == {"id": job["id"] + 5000, "name": "bill.pdf"}
    assert api.requests[-1].url.params["tag"] == "demo"


def test_jobs_get_raw_json_keeps_tokens(cli: Cli, api: FakeApi) -> None:
    job_id = make_job(api)
    data = cli("jobs", "get", str(job_id), "--json").json()
    assert data["status"] == "COMPLETE"
    field = data["results"]["Previous_balance"]
    assert field["content"] == "$65.04"
    assert field["tokens"][0]["page_number"] == 1


def test_jobs_get_transformed(cli: Cli, api: FakeApi) -> None:
    job_id = make_job(api)
    result = cli("jobs", "get", str(job_id), "--results", "transformed", "--json")
    assert result.json()["results"]["Name"] == "DAVE SMITH"
    assert api.requests[-1].url.params["results"] == "transformed"
    table = cli("jobs", "get", str(job_id))
    assert "DAVE SMITH" in table.out
    assert "COMPLETE" in table.out


def test_not_found_is_an_api_error_line(cli: Cli) -> None:
    result = cli("jobs", "get", "42")
    assert result.code == 4
    assert one_error_line(result) == "wattzon: error: 404: job 42 not found"
    assert result.out == ""


def test_unreachable_api_exits_4(cli: Cli, api: FakeApi) -> None:
    api.offline = True
    result = cli("jobs", "list")
    assert result.code == ExitCode.API
    one_error_line(result)


def test_jobs_wait_complete(cli: Cli, api: FakeApi) -> None:
    job_id = make_job(api)
    result = cli("jobs", "wait", str(job_id), "--poll-interval", "0.01", "--json")
    assert result.code == 0
    assert result.json()["status"] == "COMPLETE"


def test_jobs_wait_on_a_finished_job_answers_at_once(cli: Cli, api: FakeApi) -> None:
    job_id = make_job(api)
    # The first look is before the first poll delay: with the delay past the wait's
    # deadline, anything but an immediate look would end in a timeout.
    late = ("--poll-interval", "120", "--timeout", "60")
    result = cli("jobs", "wait", str(job_id), *late)
    assert result.code == 0
    assert cli("jobs", "wait", "424242", *late).code == 4  # a missing job fails at once too


def test_jobs_wait_failed_shows_the_job_and_exits_1(cli: Cli, api: FakeApi) -> None:
    job_id = make_job(api, name="failed-scan.pdf")
    result = cli("jobs", "wait", str(job_id), "--poll-interval", "0.01", "--json")
    assert result.code == 1
    assert result.json()["status"] == "FAILED"
    assert "FAILED" in one_error_line(result)


def test_jobs_wait_timeout_exits_5(cli: Cli, api: FakeApi) -> None:
    job_id = make_job(api)
    api.stuck = True
    result = cli("jobs", "wait", str(job_id), "--timeout", "0.2", "--poll-interval", "0.05")
    assert result.code == 5
    assert "final state" in one_error_line(result)
    assert "PROCESSING" in result.out


# -- documents and Link ----------------------------------------------------------------------


def test_document_download(cli: Cli, api: FakeApi, tmp_path: Path) -> None:
    job_id = make_job(api)
    result = cli("document", "download", str(job_id), "--dest", str(tmp_path), "--json")
    assert result.code == 0
    data = result.json()
    assert data == {"job_id": job_id, "path": str(tmp_path / "bill.pdf"), "size": len(PDF)}
    assert (tmp_path / "bill.pdf").read_bytes() == PDF
    assert "PDF-1.4" not in result.out


def test_document_download_defaults_to_the_current_directory(
    cli: Cli, api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("document", "download", str(make_job(api)))
    assert result.code == 0
    assert "bill.pdf" in result.out
    assert (tmp_path / "bill.pdf").exists()


def test_link_lookups_json(cli: Cli) -> None:
    zipcode = cli("zips", "get", "94110", "--json").json()
    assert zipcode["city"] == "San Francisco"
    assert zipcode["timezone"] == "PST"  # a field the SDK does not know is kept
    assert cli("utilities", "find", "--zipcode", "94110", "--json").json() == {
        "provider_ids": [4, 305],
        "providers": [
            {"id": 4, "name": "PG&E", "types": ["electric", "gas"]},
            {"id": 305, "name": None, "types": []},
        ],
    }
    utility = cli("utilities", "get", "4", "--json").json()
    assert utility["id"] == 4
    assert utility["types"] == ["electric", "gas"]
    assert cli("link", "bills", "p1", "--json").json() == [
        {"pdf": LINK + "data/bills/p1/1.pdf", "amount_due": 12.5, "usage": {"kwh": 3}}
    ]


def test_link_lookups_tables(cli: Cli) -> None:
    assert "San Francisco" in cli("zips", "get", "94110").out
    assert "305" in cli("utilities", "find", "--zipcode", "94110").out
    assert "PG&E" in cli("utilities", "get", "4").out
    assert '{"kwh": 3}' in cli("link", "bills", "p1").out


def test_utilities_find_needs_zipcode_or_name(cli: Cli) -> None:
    result = cli("utilities", "find")
    assert result.code == ExitCode.USAGE
    assert "zipcode or name" in one_error_line(result)


# -- submit ----------------------------------------------------------------------------------


def test_submit_wait_writes_csv(cli: Cli, api: FakeApi, tmp_path: Path) -> None:
    files = bills(tmp_path, "a.pdf", "failed-b.pdf")
    out = tmp_path / "results.csv"
    result = cli(
        "submit", *files, "--provider", "4", "--email", "user@example.com", "--tag", "t1",
        "--wait", "--poll-interval", "0.01", "--out", str(out),
    )  # fmt: skip
    assert result.code == ExitCode.FAILED
    with out.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [r["file"] for r in rows] == files
    assert [r["status"] for r in rows] == ["COMPLETE", "FAILED"]
    assert list(rows[0])[:4] == ["file", "job_id", "status", "error"]
    assert rows[0]["Previous_balance"] == "$65.04"
    assert rows[1]["Previous_balance"] == ""
    assert rows[1]["error"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "1 succeeded, 1 failed" in result.out
    progress = result.err.splitlines()
    assert len([line for line in progress if line.startswith("[")]) == 2


def test_submit_jsonl_transformed_and_json_summary(cli: Cli, api: FakeApi, tmp_path: Path) -> None:
    files = bills(tmp_path, "a.pdf", "b.pdf")
    out = tmp_path / "results.jsonl"
    result = cli(
        "submit", *files, "--provider", "4", "--email", "user@example.com", "--wait",
        "--poll-interval", "0.01", "--results", "transformed", "--out", str(out), "--json",
    )  # fmt: skip
    assert result.code == 0
    summary = result.json()
    assert (summary["total"], summary["succeeded"], summary["failed"]) == (2, 2, 0)
    assert summary["results"][0]["values"]["Name"] == "DAVE SMITH"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["file"] for line in lines] == files
    assert lines[1]["results"]["Elec_Usage"] == "89"


def test_submit_without_wait_and_an_unsupported_provider(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    files = bills(tmp_path, "a.pdf")
    ok = cli("submit", *files, "--provider", "4", "--email", "user@example.com", "--json")
    assert ok.code == 0
    assert ok.json()["results"][0]["status"] == "ENQUEUED"
    held = cli("submit", *files, "--provider", "9999", "--email", "user@example.com")
    assert held.code == ExitCode.FAILED
    assert "UNSUPPORTED" in held.out


def test_a_hard_interrupt_still_writes_a_row_per_file(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    api.interrupt = True  # KeyboardInterrupt while waiting for the first job
    out = tmp_path / "results.csv"
    out.write_text("file,job_id,status,error\nold.pdf,1,COMPLETE,\n")
    argv = ("submit", *bills(tmp_path, "a.pdf"), "--provider", "4", "--email", "u@x.test")
    result = cli(*argv, "--tag", "run 7", "--wait", "--poll-interval", "0.01", "--out", str(out))
    assert result.code == 130
    with out.open(newline="") as file:
        [row] = list(csv.DictReader(file))
    assert (row["file"], row["status"]) == (str(tmp_path / "a.pdf"), "INTERRUPTED")
    assert "1 job(s) were created but not reported" in result.err
    assert f"{out}.journal has them: run the same command again to resume" in result.err
    assert result.err.rstrip().endswith("wattzon: interrupted")
    api.interrupt = False
    again = cli(*argv, "--tag", "run 7", "--wait", "--poll-interval", "0.01", "--out", str(out))
    assert again.code == 0
    assert "resuming from" in again.err
    assert len(api.jobs) == 1  # the job made before the interrupt, found again


def test_a_hard_interrupt_without_out_names_the_tag(cli: Cli, api: FakeApi, tmp_path: Path) -> None:
    api.interrupt = True
    argv = ("submit", *bills(tmp_path, "a.pdf"), "--provider", "4", "--email", "u@x.test")
    result = cli(*argv, "--tag", "run 7", "--wait", "--poll-interval", "0.01")
    assert result.code == 130
    assert "wattzon jobs list --tag 'run 7'" in result.err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_gently_writes_pending_ids_and_a_rerun_resumes(
    cli: Cli, api: FakeApi, tmp_path: Path, sig: signal.Signals
) -> None:
    files = bills(tmp_path, "a.pdf", "b.pdf", "c.pdf")
    out = tmp_path / "results.csv"
    out.write_text("an older, complete results file\n")
    api.stuck, api.signal = True, sig  # jobs keep processing; the first poll brings the signal
    argv = ("submit", *files, "--provider", "4", "--email", "u@x.test", "--wait")
    result = cli(*argv, "--poll-interval", "0.01", "--out", str(out), "--json")

    assert result.code == 130
    assert f"{sig.name}: stopping" in result.err
    assert "Run the same command again to resume" in result.err
    data = result.json()  # --json prints what it has
    assert data["stopped_by"] == sig.name
    assert [r["status"] for r in data["results"]] == ["PENDING"] * 3
    with out.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [r["status"] for r in rows] == ["PENDING"] * 3
    assert sorted(int(r["job_id"]) for r in rows) == sorted(api.jobs)

    api.stuck = False
    posts = sum(1 for r in api.requests if r.method == "POST")
    again = cli(*argv, "--poll-interval", "0.01", "--out", str(out))
    assert again.code == 0
    assert f"resuming from {out}.journal: 0 done, 3 waiting, 0 to submit" in again.err
    assert sum(1 for r in api.requests if r.method == "POST") == posts
    with out.open(newline="") as file:
        assert [r["status"] for r in csv.DictReader(file)] == ["COMPLETE"] * 3


def test_after_a_stop_the_summary_counts_pending_as_pending_with_ids(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    files = bills(tmp_path, "a.pdf", "b.pdf", "c.pdf")
    api.stuck, api.signal = True, signal.SIGINT
    argv = ("submit", *files, "--provider", "4", "--email", "u@x.test", "--wait")
    result = cli(*argv, "--poll-interval", "0.01")
    assert result.code == 130
    assert "0 succeeded, 0 failed, 3 pending (still processing at WattzOn: job ids " in result.out
    assert all(str(job_id) in result.out.rsplit("job ids", 1)[1] for job_id in api.jobs)
    assert "3 failed" not in result.out
    api.signal = signal.SIGINT
    data = cli(*argv, "--poll-interval", "0.01", "--json").json()
    assert (data["failed"], data["pending"], data["not_submitted"]) == (0, 3, 0)


def test_a_signal_before_uploads_leaves_them_unsubmitted(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    files = bills(tmp_path, "a.pdf", "b.pdf", "c.pdf")
    out = tmp_path / "results.jsonl"
    api.signal_on_create = signal.SIGINT  # Ctrl-C while the first bill uploads
    argv = ("submit", *files, "--provider", "4", "--email", "u@x.test", "--wait")
    result = cli(*argv, "--concurrency", "1", "--poll-interval", "0.01", "--out", str(out))
    assert result.code == 130
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    statuses = [r["status"] for r in rows]
    assert statuses.count("NOT SUBMITTED") >= 1
    assert all(r["job_id"] is None for r in rows if r["status"] == "NOT SUBMITTED")
    assert all(r["job_id"] for r in rows if r["status"] != "NOT SUBMITTED")
    again = cli(*argv, "--poll-interval", "0.01", "--out", str(out))
    assert again.code == 0
    assert f"{statuses.count('NOT SUBMITTED')} to submit" in again.err
    assert len(api.jobs) == 3


def test_a_rerun_resumes_and_fresh_starts_over(cli: Cli, api: FakeApi, tmp_path: Path) -> None:
    files = bills(tmp_path, "a.pdf", "b.pdf")
    out = tmp_path / "results.csv"
    argv = ("--provider", "4", "--email", "u@x.test", "--out", str(out))
    first = cli("submit", *files, *argv)
    assert first.code == 0
    assert "resuming" not in first.err
    assert (tmp_path / "results.csv.journal").exists()
    again = cli("submit", *files, *argv)
    assert again.code == 0
    assert f"resuming from {out}.journal: 2 done, 0 waiting, 0 to submit" in again.err
    assert len(api.jobs) == 2
    more = cli("submit", *files, *bills(tmp_path, "c.pdf"), *argv)
    assert "2 done, 0 waiting, 1 to submit" in more.err
    assert len(api.jobs) == 3
    fresh = cli("submit", *files, *argv, "--fresh")
    assert fresh.code == 0
    assert "resuming" not in fresh.err
    assert len(api.jobs) == 5


def test_fresh_needs_out(cli: Cli, api: FakeApi, tmp_path: Path) -> None:
    result = cli(
        "submit", *bills(tmp_path, "a.pdf"), "--provider", "4", "--email", "u@x.test", "--fresh"
    )
    assert result.code == ExitCode.USAGE
    assert "--fresh: needs --out" in one_error_line(result)
    assert api.requests == []


def test_submit_help_describes_resuming_and_interrupts(cli: Cli) -> None:
    text = " ".join(cli("submit", "--help").out.split())
    assert "keeps FILE.journal beside it, so running the same command again resumes" in text
    assert "--fresh delete the journal (FILE.journal, or --journal) first and submit every" in text
    assert "--journal URL keep the journal there instead of FILE.journal" in text
    assert '("resuming from FILE.journal: 38 done, 2 waiting, 10 to submit")' in text
    assert "Ctrl-C (SIGINT) or SIGTERM stops the batch" in text
    assert "PENDING ones with their job ids" in text
    assert "exits 130" in text


@pytest.mark.parametrize(
    ("options", "more_files", "fragment"),
    [
        (("--email", "not-an-email"), (), "email"),
        (("--email", "user@example.com", "--tag", "a,b"), (), "comma"),
        (("--email", "user@example.com", "--out", "results.txt"), (), ".csv or .jsonl"),
        (("--email", "user@example.com", "--out", "/no/such/dir/r.csv"), (), "no such directory"),
        (("--email", "user@example.com"), ("missing.pdf",), "no such file: missing.pdf"),
        (("--email", "user@example.com"), (".",), "not a file: ."),
    ],
)
def test_submit_checks_everything_before_sending(
    cli: Cli,
    api: FakeApi,
    tmp_path: Path,
    options: tuple[str, ...],
    more_files: tuple[str, ...],
    fragment: str,
) -> None:
    files = bills(tmp_path, "a.pdf")
    result = cli("submit", *files, *more_files, "--provider", "4", *options)
    assert result.code == ExitCode.USAGE
    assert fragment in one_error_line(result)
    assert api.requests == []


# -- errors ----------------------------------------------------------------------------------


def failing_factory(exc: BaseException) -> Callable[[Mapping[str, str], dict[str, Any]], Any]:
    def factory(environ: Mapping[str, str], overrides: dict[str, Any]) -> Any:
        raise exc

    return factory


def test_unexpected_error_has_traceback_only_with_debug(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    factory = failing_factory(RuntimeError("boom"))
    assert run(["jobs", "list"], environ=env, client_factory=factory) == ExitCode.FAILED
    err = capsys.readouterr().err
    assert err.strip() == (
        "wattzon: error: unexpected RuntimeError: boom (run again with --debug for the traceback)"
    )
    assert run(["jobs", "list", "--debug"], environ=env, client_factory=factory) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.strip().splitlines()[-1] == "wattzon: error: unexpected RuntimeError: boom"


def test_errors_mask_email_addresses(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    factory = failing_factory(WattzOnError("cannot submit for jane.doe@example.com"))
    assert run(["jobs", "list"], environ=env, client_factory=factory) == ExitCode.FAILED
    err = capsys.readouterr().err
    assert "jane.doe@" not in err
    assert "j***@example.com" in err


def test_interrupt_exits_130(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    factory = failing_factory(KeyboardInterrupt())
    assert run(["jobs", "list"], environ=env, client_factory=factory) == 130
    assert "interrupted" in capsys.readouterr().err


def test_error_lines_mask_addresses_and_nothing_else() -> None:
    assert mask_emails("the pw is pw, for user@example.com") == "the pw is pw, for u***@example.com"


def test_missing_rich_is_one_line(cli: Cli, monkeypatch: pytest.MonkeyPatch, api: FakeApi) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    result = cli("jobs", "list")
    assert result.code == ExitCode.FAILED
    assert "pip install 'wattzon-async[cli]'" in one_error_line(result)
    assert api.requests == []
    assert cli("jobs", "list", "--json").code == 0  # JSON needs no rich


# -- cert ------------------------------------------------------------------------------------


def test_cert_csr_writes_a_private_key_and_refuses_to_overwrite(cli: Cli, tmp_path: Path) -> None:
    key, csr = tmp_path / "client.key", tmp_path / "client.csr"
    argv = ("cert", "csr", "--common-name", "acme", "--key", str(key), "--csr", str(csr))
    result = cli(*argv, "--organization", "Acme", "--email", "ops@acme.test")
    assert result.code == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes()
    assert b"CERTIFICATE REQUEST" in csr.read_bytes()
    assert "Send this file to WattzOn" in result.out
    assert "Keep it secret" in result.out
    assert "PRIVATE KEY" not in result.out + result.err
    before = key.read_bytes()
    again = cli(*argv)
    assert again.code == ExitCode.USAGE
    assert "--force" in one_error_line(again)
    assert key.read_bytes() == before
    assert cli(*argv, "--force").code == 0
    assert key.read_bytes() != before
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


@pytest.fixture(scope="module")
def authority() -> CertificateAuthority:
    return CertificateAuthority.create()


def issue(ca: CertificateAuthority, folder: Path, start_days: int, end_days: int) -> Path:
    now = datetime.now(UTC)
    cert = ca.issue(
        "acme-prod",
        not_before=now + timedelta(days=start_days),
        not_after=now + timedelta(days=end_days),
    )
    return cert.write(folder, f"c{start_days}_{end_days}")[0]


def test_cert_check_valid(cli: Cli, authority: CertificateAuthority, tmp_path: Path) -> None:
    path = issue(authority, tmp_path, -1, 200)
    result = cli("cert", "check", str(path))
    assert result.code == 0
    assert "CN=acme-prod" in result.out
    assert "WattzOn Tests Root" in result.out
    assert "199 days" in result.out
    assert result.err == ""


def test_cert_check_json_and_default_from_environment(
    cli: Cli, authority: CertificateAuthority, tmp_path: Path
) -> None:
    path = issue(authority, tmp_path, -1, 200)
    result = cli("cert", "check", "--json", environ={"WATTZON_CERT": str(path)})
    assert result.code == 0
    data = result.json()
    assert data["state"] == "valid"
    assert data["valid"] is True
    assert data["subject"] == "CN=acme-prod"
    assert data["days_left"] == 199
    datetime.fromisoformat(data["not_after"])


def test_cert_check_warns_under_30_days(
    cli: Cli, authority: CertificateAuthority, tmp_path: Path
) -> None:
    result = cli("cert", "check", str(issue(authority, tmp_path, -300, 10)))
    assert result.code == 0
    assert result.err.startswith("wattzon: warning: the certificate expires in 9 days")


@pytest.mark.parametrize(
    ("start", "end", "state", "fragment"),
    [(-400, -35, "expired", "expired on"), (5, 370, "not_yet_valid", "not valid until")],
)
def test_cert_check_invalid_exits_3(
    cli: Cli,
    authority: CertificateAuthority,
    tmp_path: Path,
    start: int,
    end: int,
    state: str,
    fragment: str,
) -> None:
    result = cli("cert", "check", str(issue(authority, tmp_path, start, end)), "--json")
    assert result.code == ExitCode.CERTIFICATE
    assert result.json()["state"] == state
    assert fragment in one_error_line(result)


def test_cert_check_errors(cli: Cli, tmp_path: Path) -> None:
    missing = cli("cert", "check", environ={})
    assert missing.code == ExitCode.USAGE
    assert "WATTZON_CERT" in one_error_line(missing)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    unreadable = cli("cert", "check", str(junk))
    assert unreadable.code == ExitCode.CERTIFICATE
    one_error_line(unreadable)


# -- emulator, demo, packaging ------------------------------------------------------------------


def test_emulator_command_serves(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import wattzon_emulator.__main__ as emulator_main

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(emulator_main, "serve_forever", lambda *args: calls.append(args))
    argv = ("emulator", "--dir", "d", "--port", "8443", "--no-sqs", "--processing-time", "0.5")
    assert cli(*argv).code == 0
    assert calls == [("d", 8443, False, 0.5)]
    assert cli("emulator").code == 0
    assert calls[-1] == (".wattzon-emulator", 0, True, 5.0)


def test_demo_command_returns_the_demo_exit_code(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import wattzon_emulator.demo as demo

    async def fake_demo() -> int:
        return 7

    monkeypatch.setattr(demo, "run_demo", fake_demo)
    assert cli("demo").code == 7


def test_json_output_never_renders_bytes() -> None:
    document = Document(id=1, name="bill.pdf", content=b"\x00secret")
    assert unstructure(document) == {"id": 1, "name": "bill.pdf", "content_size": 7}


def test_main_defaults_to_sys_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["wattzon", "--version"])
    assert main() == 0


def test_python_m_and_lazy_rich() -> None:
    # httpx imports rich for its own command line when rich is installed: keep that out
    code = (
        f"import sys; sys.modules['{stack_name()}._main'] = None;"
        "import wattzon_async, wattzon_async.cli;"
        "assert 'rich' not in sys.modules, 'rich imported';"
        "assert not {'wattzon_async.emulator', 'wattzon_emulator'} & set(sys.modules), 'emulator'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "wattzon_async", "jobs", "get", "x"],
        capture_output=True,
        text=True,
        env={**os.environ, "WATTZON_CERT": ""},
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("wattzon: error: jobs get: argument ID")


# -- secrets never enter a message ---------------------------------------------------------

#: Passwords that are words (or letters) of the messages themselves, then unique ones.
COMMON_PASSWORDS = ("e", "a", "the", "in", "key", "private", "password")
UNIQUE_PASSWORDS = ("hunter2-x9", "s3cr3t pass;word=x", "pässwörd-ü")
RIGHT_PASSWORD = b"the-right-one-9f3"


@pytest.fixture(scope="module")
def encrypted(
    authority: CertificateAuthority, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """A certificate and its key, encrypted with RIGHT_PASSWORD."""
    folder = tmp_path_factory.mktemp("encrypted")
    return authority.issue("enc", key_password=RIGHT_PASSWORD).write(folder, "enc")


@pytest.mark.parametrize("via", ["flag", "environment"])
@pytest.mark.parametrize("password", COMMON_PASSWORDS + UNIQUE_PASSWORDS)
def test_a_wrong_key_password_never_enters_the_output(
    cli: Cli,
    env: dict[str, str],
    encrypted: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
    password: str,
    via: str,
) -> None:
    cert, key = encrypted
    environ = dict(env, WATTZON_CERT=str(cert), WATTZON_KEY=str(key))
    argv = ["jobs", "list", "--debug"]  # tracebacks and debug logs too
    if via == "flag":
        argv += ["--key-password", password]
    else:
        environ["WATTZON_KEY_PASSWORD"] = password
    result = cli(*argv, environ=environ)
    assert result.code == ExitCode.CERTIFICATE
    assert result.err.splitlines()[-1] == (
        f"wattzon: error: wrong password for the private key in {key}; "
        "check --key-password (or WATTZON_KEY_PASSWORD)"
    )
    output = result.out + result.err + caplog.text
    assert "***" not in output
    if password in UNIQUE_PASSWORDS:
        assert password not in output


def test_an_option_a_command_lacks_is_named_without_its_value(cli: Cli, tmp_path: Path) -> None:
    key, csr = tmp_path / "client.key", tmp_path / "client.csr"
    argv = ("cert", "csr", "--common-name", "acme", "--key", str(key), "--csr", str(csr))
    for extra in (("--key-password", "hunter2-x9"), ("--key-password=hunter2-x9",)):
        result = cli(*argv, *extra)
        assert result.code == ExitCode.USAGE
        line = one_error_line(result)
        assert "unrecognized arguments: --key-password" in line
        assert "hunter2" not in result.err
    assert not key.exists()
    for typo in ("--ke=hunter2-x9", "--key-pass=hunter2-x9"):  # no abbreviations to quote
        result = cli("jobs", "list", typo)
        assert result.code == ExitCode.USAGE
        assert "hunter2" not in one_error_line(result)
    extra_id = cli("jobs", "get", "1", "2")
    assert "unrecognized arguments: 2 " in one_error_line(extra_id)


def test_an_undecodable_password_is_read_as_its_bytes(
    cli: Cli, env: dict[str, str], authority: CertificateAuthority, tmp_path: Path
) -> None:
    # "caf\xe9" typed on a Latin-1 terminal: Python reads the byte 0xE9 as "\udce9"
    cert, key = authority.issue("latin1", key_password=b"caf\xe9").write(tmp_path, "latin1")
    environ = dict(env, WATTZON_CERT=str(cert), WATTZON_KEY=str(key))
    wrong = cli("jobs", "list", "--key-password", "caf\udce8", environ=environ)
    assert wrong.code == ExitCode.CERTIFICATE
    assert "wrong password for the private key" in one_error_line(wrong)
    assert "\udce8" not in wrong.err
    right = cli("jobs", "list", "--json", "--key-password", "caf\udce9", environ=environ)
    assert right.code == ExitCode.OK, right.err


def test_key_material_given_as_a_path_is_never_repeated(
    cli: Cli, env: dict[str, str], pki: Pki
) -> None:
    pem = pki.key.read_text()
    for variable in ("WATTZON_KEY", "WATTZON_CERT"):
        result = cli("jobs", "list", environ=dict(env, **{variable: pem}))
        assert result.code == ExitCode.USAGE
        line = one_error_line(result)
        assert "--cert/--key (or WATTZON_CERT/WATTZON_KEY)" in line
        assert "instead of a file path" in line
        assert all(row not in result.err for row in pem.splitlines()[1:-1])
        assert "BEGIN" not in result.err


# -- errors speak in flags -----------------------------------------------------------------

PYTHON_SPELLINGS = ("cert=", "key_password", "force=True", "ca_bundle", "snap_url", "link_url")


def test_errors_name_flags_and_variables_not_python_arguments(
    cli: Cli, env: dict[str, str], pki: Pki, encrypted: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = encrypted
    cases = [
        (
            cli("jobs", "list", "--cert", str(pki.cert), "--key", ""),
            "holds a certificate but no private key; pass --cert CERT --key KEY "
            "(or WATTZON_CERT and WATTZON_KEY), or a combined PEM file with both, or a .p12",
        ),
        (
            cli("jobs", "list", "--cert", str(cert), "--key", str(key)),
            "is encrypted and no password was given; pass --key-password (or WATTZON_KEY_PASSWORD)",
        ),
        (
            cli("jobs", "list", "--snap-url", "http://snap.test/api/v1/"),
            "error: --snap-url (or WATTZON_SNAP_URL): must be an https:// URL",
        ),
    ]
    paths = ("--key", str(tmp_path / "k"), "--csr", str(tmp_path / "c"))
    argv = ("cert", "csr", "--common-name", "acme", *paths)
    assert cli(*argv).code == 0
    cases.append((cli(*argv), "already exists; choose another path or pass --force to replace"))
    for result, fragment in cases:
        assert result.code in (ExitCode.USAGE, ExitCode.CERTIFICATE)
        line = one_error_line(result)
        assert fragment in line
        assert not any(spelling in line for spelling in PYTHON_SPELLINGS), line


# -- --cert and --key pair symmetrically with the variables ---------------------------------


def test_the_cert_flag_pairs_with_the_environment_key(
    cli: Cli, env: dict[str, str], seen: list[dict[str, Any]], pki: Pki
) -> None:
    environ = {k: v for k, v in env.items() if k != "WATTZON_CERT"}
    assert cli("jobs", "list", "--json", "--cert", str(pki.cert), environ=environ).code == 0
    assert seen[-1]["cert"] == (str(pki.cert), str(pki.key))
    assert cli("jobs", "list", "--json", "--key", str(pki.key)).code == 0
    assert seen[-1]["cert"] == (str(pki.cert), str(pki.key))


def test_an_expired_cert_flag_with_the_environment_key_is_reported_expired(
    cli: Cli, env: dict[str, str], pki: Pki, tmp_path: Path
) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    issued = pki.ca.issue("old", not_before=old, not_after=old + timedelta(days=365))
    cert, key = issued.write(tmp_path, "expired")
    result = cli("jobs", "list", "--cert", str(cert), environ=dict(env, WATTZON_KEY=str(key)))
    assert result.code == ExitCode.CERTIFICATE
    line = one_error_line(result)
    assert "expired on" in line
    assert "no private key" not in line


def test_a_key_without_any_certificate_is_a_usage_error(cli: Cli, pki: Pki) -> None:
    for environ, argv in (({"WATTZON_KEY": str(pki.key)}, ()), ({}, ("--key", str(pki.key)))):
        result = cli("jobs", "list", *argv, environ=environ)
        assert result.code == ExitCode.USAGE
        assert "a key but no certificate: pass --cert" in one_error_line(result)


def test_help_documents_the_pairing(cli: Cli) -> None:
    text = " ".join(cli("--help").out.split())
    assert "--cert alone pairs with WATTZON_KEY and --key alone with WATTZON_CERT" in text
    assert "pass --key ''" in text


# -- cert check counts days precisely ------------------------------------------------------

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def certificate_info(not_after: datetime) -> CertificateInfo:
    return CertificateInfo(
        subject="CN=x",
        issuer="CN=ca",
        not_before=not_after - timedelta(days=365),
        not_after=not_after,
        serial_number=1,
        fingerprint_sha256="00",
    )


@pytest.mark.parametrize(
    ("left", "days", "text"),
    [
        (timedelta(days=200), 200, "200 days"),
        (timedelta(days=1), 1, "1 day"),
        (timedelta(days=1, seconds=-1), 0, "23 hours (expires today)"),
        (timedelta(minutes=30), 0, "less than an hour (expires today)"),
        (timedelta(0), 0, "less than an hour (expires today)"),
        (timedelta(seconds=-1), 0, "expired less than an hour ago"),
        (timedelta(hours=-2), 0, "expired 2 hours ago"),
        (timedelta(days=-1, seconds=1), 0, "expired 23 hours ago"),
        (timedelta(days=-1), -1, "expired 1 day ago"),
        (timedelta(hours=-26), -1, "expired 1 day ago"),
        (timedelta(days=-2, seconds=1), -1, "expired 1 day ago"),
        (timedelta(days=-2), -2, "expired 2 days ago"),
    ],
)
def test_days_left_counts_whole_days_either_side_of_expiry(
    left: timedelta, days: int, text: str
) -> None:
    info = certificate_info(NOW + left)
    assert info.days_left_at(NOW) == days
    assert info.days_left_at(NOW.replace(tzinfo=None)) == days  # naive is UTC
    assert expiry_text(info, NOW) == text


def test_cert_check_of_a_certificate_expired_a_day_ago(
    cli: Cli, authority: CertificateAuthority, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    issued = authority.issue(
        "acme-prod", not_before=now - timedelta(days=365), not_after=now - timedelta(hours=26)
    )
    path = issued.write(tmp_path, "yesterday")[0]
    data = cli("cert", "check", str(path), "--json")
    assert data.code == ExitCode.CERTIFICATE
    assert data.json()["days_left"] == -1
    table = cli("cert", "check", str(path))
    assert "expired 1 day ago" in table.out
    assert "2 days" not in table.out


# -- errors name the URL and what to check -------------------------------------------------


def test_an_unreachable_api_names_the_url_and_the_setting(cli: Cli, api: FakeApi) -> None:
    api.offline = True
    result = cli("jobs", "list", "--tag", "private-tag")
    assert result.code == ExitCode.API
    assert one_error_line(result) == (
        "wattzon: error: could not connect to https://snap.test/api/v1/jobs/ (ConnectError: "
        "connection refused); check that the server is running and that --snap-url "
        "(or WATTZON_SNAP_URL) points at it"
    )
    assert "private-tag" not in result.err  # a query string may carry data


def test_a_wrong_base_url_names_the_url_and_the_setting(cli: Cli, env: dict[str, str]) -> None:
    snap = cli(
        "jobs", "list", "--tag", "private-tag",
        environ=dict(env, WATTZON_SNAP_URL="https://snap.test/wrong/"),
    )  # fmt: skip
    assert snap.code == ExitCode.API
    assert one_error_line(snap) == (
        "wattzon: error: 404: Not Found at https://snap.test/wrong/jobs/; check that "
        "--snap-url (or WATTZON_SNAP_URL) is the API's base URL"
    )
    assert "private-tag" not in snap.err
    link = cli("zips", "get", "94110", environ=dict(env, WATTZON_LINK_URL="https://link.test/x/"))
    assert "check that --link-url (or WATTZON_LINK_URL)" in one_error_line(link)


# -- document download ---------------------------------------------------------------------


def test_document_download_never_replaces_a_file_without_force(
    cli: Cli, api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "bill.pdf"
    mine.write_bytes(b"my own bill.pdf")
    job_id = make_job(api)
    result = cli("document", "download", str(job_id))
    assert result.code == ExitCode.USAGE
    assert "bill.pdf already exists; pass --force to replace it" in one_error_line(result)
    assert mine.read_bytes() == b"my own bill.pdf"
    assert list(tmp_path.iterdir()) == [mine]  # nothing half-written left behind
    forced = cli("document", "download", str(job_id), "--force")
    assert forced.code == ExitCode.OK
    assert mine.read_bytes() == PDF


def test_document_download_to_an_existing_file_is_refused_before_sending(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    dest = tmp_path / "saved.pdf"
    dest.write_bytes(b"mine")
    job_id = make_job(api)
    result = cli("document", "download", str(job_id), "--dest", str(dest))
    assert result.code == ExitCode.USAGE
    assert "--force" in one_error_line(result)
    assert api.requests == []
    assert dest.read_bytes() == b"mine"


def test_document_download_takes_a_job_id_and_says_so(cli: Cli, api: FakeApi) -> None:
    usage = " ".join(cli("document", "download", "--help").out.split())
    assert "JOB_ID" in usage
    assert "the job's id (the ID column of `wattzon jobs list`), not its document's id" in usage
    job_id = make_job(api)
    document_id = api.jobs[job_id]["document"]["id"]
    result = cli("document", "download", str(document_id))
    assert result.code == ExitCode.API
    assert one_error_line(result).endswith(
        f"{document_id} is the id of the document of job {job_id}: download takes the "
        f"job's id (wattzon document download {job_id})"
    )
    assert "(document id " in cli("jobs", "get", str(job_id)).out


# -- timeouts and exit codes ---------------------------------------------------------------


def test_submit_wait_timeout_exits_5_with_a_readable_duration(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    api.stuck = True
    argv = ("submit", *bills(tmp_path, "a.pdf"), "--provider", "4", "--email", "u@x.test")
    result = cli(*argv, "--wait", "--timeout", "0.2", "--poll-interval", "0.05", "--json")
    assert result.code == ExitCode.TIMEOUT
    [row] = result.json()["results"]
    assert row["status"] == "TIMEOUT"
    assert row["error"].endswith("did not reach a final state within 0.2 s (last seen PROCESSING)")


def test_jobs_wait_timeout_message_gives_the_timeout_asked_for(cli: Cli, api: FakeApi) -> None:
    job_id = make_job(api)
    api.stuck = True
    result = cli("jobs", "wait", str(job_id), "--timeout", "0.2", "--poll-interval", "0.05")
    assert result.code == ExitCode.TIMEOUT
    assert one_error_line(result) == (
        f"wattzon: error: job {job_id} did not reach a final state within 0.2 s "
        "(last seen PROCESSING)"
    )


def test_submit_exit_code_when_some_bills_time_out_and_others_fail() -> None:
    ok, late = Row(0, "a", status="COMPLETE"), Row(1, "b", status="TIMEOUT", error="t")
    failed = Row(2, "c", status="FAILED", error="f")
    assert outcome_code([ok]) == ExitCode.OK
    assert outcome_code([ok, late]) == ExitCode.TIMEOUT
    assert outcome_code([ok, late, failed]) == ExitCode.FAILED


def exit_scenarios(cli: Cli, api: FakeApi, env: dict[str, str], tmp_path: Path) -> dict[int, Any]:
    """One command line per exit code --help promises, each returning that code."""
    old = datetime.now(UTC) - timedelta(days=400)
    expired = CertificateAuthority.create().issue("old", not_before=old, valid_days=1)
    cert, key = expired.write(tmp_path, "old")
    job_id = make_job(api)
    failed_id = make_job(api, name="failed-scan.pdf")
    submit = ("submit", *bills(tmp_path, "a.pdf"), "--provider", "4", "--email", "u@x.test")

    def stuck() -> Result:
        api.stuck = True
        return cli(*submit, "--wait", "--timeout", "0.1", "--poll-interval", "0.05")

    def interrupted() -> Result:
        api.interrupt = True
        return cli("jobs", "get", str(job_id))

    return {
        0: lambda: cli("jobs", "get", str(job_id)),
        1: lambda: cli("jobs", "wait", str(failed_id), "--poll-interval", "0.01"),
        2: lambda: cli("jobs", "get", "x"),
        3: lambda: cli("jobs", "list", "--cert", str(cert), "--key", str(key)),
        4: lambda: cli("jobs", "get", "424242"),
        5: stuck,
        130: interrupted,
    }


def test_every_exit_code_help_promises(
    cli: Cli, api: FakeApi, env: dict[str, str], tmp_path: Path
) -> None:
    help_text = cli("--help").out.split("exit codes:")[1]
    promised = {int(line.split()[0]) for line in help_text.splitlines() if line[:4].strip()}
    assert promised == {int(code) for code in ExitCode}
    scenarios = exit_scenarios(cli, api, env, tmp_path)
    assert set(scenarios) == promised
    for code, scenario in scenarios.items():
        result = scenario()
        assert result.code == code, (code, result.err)


# -- utilities find ------------------------------------------------------------------------


def test_utilities_find_shows_names(cli: Cli) -> None:
    table = cli("utilities", "find", "--zipcode", "94110")
    assert table.code == 0
    assert "PG&E" in table.out
    assert "(unknown)" in table.out  # 305 has no record: listed, not fatal


def test_utilities_find_reads_names_concurrently_within_a_bound(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    ids = list(range(1, 21))
    in_flight = peak = 0
    full = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        if "provider_ids" in request.url.path or request.url.path.endswith("/utilities/"):
            return json_response({"provider_ids": ids})
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= NAME_LOOKUPS:
            full.set()
        await asyncio.wait_for(full.wait(), 30)  # fails unless NAME_LOOKUPS run at once
        in_flight -= 1
        pid = int(request.url.path.rstrip("/").rsplit("/", 1)[1])
        return json_response({"name": f"Utility {pid}", "type": "electric"})

    def factory(environ: Mapping[str, str], overrides: dict[str, Any]) -> WattzOnClient:
        transport = httpx.MockTransport(handler)
        return WattzOnClient.from_env(environ, transport=transport, retry=FAST, **overrides)

    argv = ["utilities", "find", "--name", "x", "--json"]
    assert run(argv, environ=env, client_factory=factory) == ExitCode.OK
    data = json.loads(capsys.readouterr().out)
    assert data["provider_ids"] == ids
    assert [p["name"] for p in data["providers"]] == [f"Utility {i}" for i in ids]
    assert peak == NAME_LOOKUPS


def test_the_emulator_and_the_readme_name_the_link_profiles() -> None:
    text = sample_profiles()
    assert text.startswith("1001 (3 bills), ")
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    for profile, (_, count) in LINK_PROFILES.items():
        bills = f"{count} bill{'s' if count != 1 else ''}" if count else "no bills"
        assert f"{profile} ({bills})" in text
        assert f"`{profile}` ({bills})" in readme


@pytest.mark.parametrize(("value", "expected"), MODEL_JSON, ids=lambda v: type(v).__name__)
def test_json_output_of_every_model(
    value: object, expected: object, capsys: pytest.CaptureFixture[str]
) -> None:
    Output(json_mode=True).show(value, lambda: pytest.fail("no table in JSON mode"))
    assert json.loads(capsys.readouterr().out) == expected


def test_help_prints_every_exit_code_with_its_meaning(cli: Cli) -> None:
    section = " ".join(cli("--help").out.split("exit codes:")[1].split())
    for code in ExitCode:
        assert f"{int(code)} {code.meaning}" in section


def test_the_cli_page_lists_the_exit_codes_as_defined() -> None:
    page = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    table = page.split("## Exit codes", 1)[1].split("\n\n", 2)[1]
    rows = [line.strip("|").split("|") for line in table.splitlines()[2:]]
    listed = {int(code): meaning.strip().replace("`", "") for code, meaning in rows}
    assert listed == {int(code): code.meaning for code in ExitCode}


# -- link bills --pdf ------------------------------------------------------------------------


def test_link_bills_pdf_saves_each_bill_pdf_into_the_folder(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    result = cli("link", "bills", "p1", "--pdf", str(tmp_path), "--json")
    assert result.code == ExitCode.OK
    saved = tmp_path / "1.pdf"
    assert result.json() == [
        {"pdf": LINK + "data/bills/p1/1.pdf", "amount_due": 12.5, "usage": {"kwh": 3},
         "pdf_file": str(saved)}
    ]  # fmt: skip
    assert saved.read_bytes() == PDF
    assert list(tmp_path.iterdir()) == [saved]
    assert str(saved) in cli("link", "bills", "p1", "--pdf", str(tmp_path), "--force").out


def test_link_bills_pdf_never_replaces_a_file_without_force(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    mine = tmp_path / "1.pdf"
    mine.write_bytes(b"my own 1.pdf")
    result = cli("link", "bills", "p1", "--pdf", str(tmp_path))
    assert result.code == ExitCode.USAGE
    assert f"{mine} already exists; pass --force to replace it" in one_error_line(result)
    assert "12.5" in result.out  # the bills are shown all the same
    assert mine.read_bytes() == b"my own 1.pdf"
    assert list(tmp_path.iterdir()) == [mine]  # nothing half-written left behind
    forced = cli("link", "bills", "p1", "--pdf", str(tmp_path), "--force")
    assert forced.code == ExitCode.OK
    assert mine.read_bytes() == PDF


def test_link_bills_pdf_refuses_another_host_skips_a_bill_without_pdf_saves_the_rest(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    result = cli("link", "bills", "p2", "--pdf", str(tmp_path), "--json")
    assert result.code == ExitCode.USAGE
    line = one_error_line(result)
    assert "bill 21: pdf: refusing to fetch the PDF from https://x.test:" in line
    rows = result.json()
    assert [row["pdf_file"] for row in rows] == [None, None, str(tmp_path / "23.pdf")]
    assert [p.name for p in tmp_path.iterdir()] == ["23.pdf"]
    assert not [r for r in api.requests if r.url.host == "x.test"]


@pytest.mark.parametrize("kind", ["file", "under-a-file"])
def test_link_bills_pdf_refuses_a_folder_that_cannot_be(
    cli: Cli, api: FakeApi, tmp_path: Path, kind: str
) -> None:
    blocking = tmp_path / "pdfs"
    blocking.write_bytes(b"")
    folder = blocking if kind == "file" else blocking / "inner"
    result = cli("link", "bills", "p1", "--pdf", str(folder))
    assert result.code == ExitCode.USAGE
    assert f"--pdf: not a directory: {blocking}" in one_error_line(result)
    assert api.requests == []  # before anything is sent


def test_link_bills_pdf_makes_a_missing_folder_owner_only(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    folder = tmp_path / "new" / "pdfs"
    old = os.umask(0o022)
    try:
        result = cli("link", "bills", "p4", "--pdf", str(folder))
    finally:
        os.umask(old)
    assert result.code == ExitCode.OK, result.err
    assert sorted(p.name for p in folder.iterdir()) == ["41.pdf", "42.pdf", "43.pdf"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_link_bills_skip_existing_fetches_only_the_missing_pdfs(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    assert cli("link", "bills", "p4", "--pdf", str(tmp_path)).code == ExitCode.OK
    (tmp_path / "42.pdf").unlink()  # an interrupted run, say
    (tmp_path / "41.pdf").write_bytes(b"%PDF-1.4 mine")
    result = cli("link", "bills", "p4", "--pdf", str(tmp_path), "--skip-existing", "--json")
    assert result.code == ExitCode.OK, result.err
    rows = result.json()
    assert [row["pdf_file"] for row in rows] == [str(tmp_path / f"{i}.pdf") for i in (41, 42, 43)]
    assert [row.get("pdf_skipped", False) for row in rows] == [True, False, True]
    assert (tmp_path / "41.pdf").read_bytes() == b"%PDF-1.4 mine"
    assert (tmp_path / "42.pdf").read_bytes() == PDF
    human = cli("link", "bills", "p4", "--pdf", str(tmp_path), "--skip-existing").out
    assert f"Kept {tmp_path / '41.pdf'}" in human
    assert sorted(p.name for p in tmp_path.iterdir()) == ["41.pdf", "42.pdf", "43.pdf"]


def test_link_bills_force_and_skip_existing_exclude_each_other(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    argv = ("link", "bills", "p4", "--pdf", str(tmp_path), "--force", "--skip-existing")
    result = cli(*argv)
    assert result.code == ExitCode.USAGE
    assert "choose one" in one_error_line(result)
    assert api.requests == []


def test_link_bills_force_needs_pdf(cli: Cli, api: FakeApi) -> None:
    result = cli("link", "bills", "p1", "--force")
    assert result.code == ExitCode.USAGE
    assert "--force: needs --pdf" in one_error_line(result)
    assert api.requests == []


def test_link_bills_help_says_what_pdf_and_force_do(cli: Cli) -> None:
    usage = " ".join(cli("link", "bills", "--help").out.split())
    assert "--pdf DIR save each bill's PDF into DIR (made, owner-only, if missing)" in usage
    assert "--skip-existing with --pdf: keep files already there" in usage
    assert "named as the server names it" in usage
    assert "only from the Link or Snap host, never following a redirect" in usage
    assert "--force with --pdf: replace existing files" in usage
    assert "never replacing a file unless --force (exit code 2)" in usage


def test_link_bills_pdf_never_follows_a_redirect(cli: Cli, api: FakeApi, tmp_path: Path) -> None:
    result = cli("link", "bills", "p3", "--pdf", str(tmp_path))
    assert result.code == ExitCode.API
    assert "302: Found: redirected to https://x.test/31.pdf (the SDK follows no redirect)" in (
        one_error_line(result)
    )
    assert not [r for r in api.requests if r.url.host == "x.test"]
    assert list(tmp_path.iterdir()) == []


def _help_line(cli: Cli, code: int) -> str:
    """What ``wattzon --help`` says exit code ``code`` means (its wrapped lines joined)."""
    section = cli("--help").out.split("exit codes:")[1]
    meanings: dict[int, str] = {}
    current = -1
    for line in section.splitlines():
        if line[:4].strip():
            current = int(line.split()[0])
            meanings[current] = line.split(None, 1)[1]
        elif current >= 0 and line.strip():
            meanings[current] += " " + line.strip()
    return meanings[code]


def test_each_case_help_lists_under_a_code_exits_with_that_code(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    big = tmp_path / "big.pdf"
    big.write_bytes(PDF + b"0" * (6 * 1024 * 1024))
    notes = tmp_path / "notes.pdf"
    notes.write_text("not a bill\n")
    (good,) = bills(tmp_path, "good.pdf")
    submit = ("submit", "--provider", "4", "--email")
    cases: list[tuple[int, str, Callable[[], Result]]] = [
        (2, "bad arguments", lambda: cli(*submit, "not-an-email", good)),
        (2, "too large", lambda: cli(*submit, "u@x.test", good, str(big))),
        (2, "no PDF or image", lambda: cli(*submit, "u@x.test", str(notes))),
        (2, "missing", lambda: cli(*submit, "u@x.test", str(tmp_path / "gone.pdf"))),
        (3, "missing", lambda: cli("jobs", "list", "--cert", str(tmp_path / "none.crt"))),
    ]
    for code, words, command in cases:
        result = command()
        assert result.code == code, (words, result.err)
        assert words in _help_line(cli, code), (code, words)
    assert not [r for r in api.requests if r.method == "POST"]  # nothing was sent


def test_a_file_that_is_no_bill_is_named_and_any_document_uploads_it(
    cli: Cli, api: FakeApi, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.pdf"
    notes.write_text("not a bill\n")
    argv = ("submit", str(notes), "--provider", "4", "--email", "u@x.test")
    refused = cli(*argv)
    assert refused.code == 2
    assert f"{notes}: document: notes.pdf is not a PDF" in refused.err
    assert "--any-document" in refused.err
    assert cli(*argv, "--any-document").code == 0
    assert len(api.jobs) == 1

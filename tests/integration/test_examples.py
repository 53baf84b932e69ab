"""The examples, run against the emulator over real mutual TLS and a real SQS endpoint.

Each example is called the way its users would call it: the batch script through its
``main`` (settings from WATTZON_* variables) and through ``run``; the SQS worker through
``run`` with a worker-mode consumer; the FastAPI app through httpx's ASGI transport with
its lifespan running and its settings in the environment.
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fastapi import FastAPI

from examples import batch_to_csv, fastapi_app, sqs_worker
from wattzon_async import (
    AmbiguousSubmitError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    CertificateError,
    IdempotencyConflictError,
    InternalServerError,
    JobStatus,
    LinkNotification,
    RateLimitError,
    SnapNotification,
    WattzOnClient,
    WattzOnError,
    idempotency_tag,
)
from wattzon_async._httpx import httpx
from wattzon_async.emulator import Emulator, expected_results
from wattzon_async.notifications import NotificationConsumer

pytestmark = pytest.mark.integration

BILLS = Path(__file__).resolve().parents[2] / "examples" / "bills"
EMAIL = "billing@example.com"


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 60.0, interval: float = 0.05
) -> None:
    """Await ``check()`` until it is true; fail when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@pytest.fixture
def wattzon_env(wattzon_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """WATTZON_* (and dummy AWS) variables pointing at the session emulator."""
    emu = wattzon_emulator
    assert emu.queue_url
    assert emu.sqs_endpoint_url
    env = {
        "WATTZON_CERT": str(emu.client_cert),
        "WATTZON_KEY": str(emu.client_key),
        "WATTZON_CA_BUNDLE": str(emu.ca_cert),
        "WATTZON_SNAP_URL": emu.snap_url,
        "WATTZON_LINK_URL": emu.link_url,
        "WATTZON_SQS_QUEUE_URL": emu.queue_url,
        "WATTZON_SQS_ENDPOINT_URL": emu.sqs_endpoint_url,
        "WATTZON_SQS_WAIT_TIME_SECONDS": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    monkeypatch.delenv("WATTZON_KEY_PASSWORD", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def copy_bills(folder: Path, *names: str) -> Path:
    folder.mkdir()
    for name in names or tuple(p.name for p in BILLS.iterdir()):
        shutil.copy(BILLS / name, folder / name)
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- batch_to_csv ------------------------------------------------------------------------


async def test_batch_writes_one_row_per_bill_with_progress(
    wattzon_client: WattzOnClient, wattzon_consumer: NotificationConsumer, tmp_path: Path
) -> None:
    folder = copy_bills(tmp_path / "bills")
    (folder / "notes.txt").write_text("not a bill")
    out = tmp_path / "out" / "results.csv"
    progress = io.StringIO()

    result = await batch_to_csv.run(
        wattzon_client,
        folder,
        out,
        provider=4,
        email=EMAIL,
        tags=["batch:test"],
        concurrency=3,
        timeout=30,
        notifications=wattzon_consumer,
        progress=progress,
    )

    rows = read_csv(out)
    bills = sorted(p.name for p in BILLS.iterdir())
    assert [row["file"] for row in rows] == bills
    assert not result.ok
    assert result.complete == len(bills) - 1
    for row in rows:
        assert row["job_id"].isdigit()
        if row["file"].startswith("failed"):
            assert row["status"] == "FAILED"
            assert "FAILED" in row["error"]
            continue
        assert row["status"] == "COMPLETE"
        assert row["error"] == ""
        expected = expected_results((folder / row["file"]).read_bytes(), 4)
        assert {k: v for k, v in row.items() if k in expected} == expected
    lines = progress.getvalue().splitlines()
    assert lines[-1].startswith(f"{len(bills)}/{len(bills)} finished")
    assert len(lines) >= len(bills)
    assert not list(out.parent.glob(".results.csv.*"))  # the temporary file was renamed


async def test_batch_main_reads_settings_from_the_environment(
    wattzon_env: dict[str, str], wattzon_client: WattzOnClient, tmp_path: Path
) -> None:
    folder = copy_bills(tmp_path / "bills", "pge-2015-11.pdf", "sdge-phone-photo.png")
    out = tmp_path / "results.csv"
    argv = [str(folder), "--out", str(out), "--provider", "27", "--email", EMAIL]
    argv += ["--tag", "batch:main", "--timeout", "30"]

    code = await asyncio.to_thread(batch_to_csv.main, argv)  # its own event loop

    assert code == 0
    rows = read_csv(out)
    assert [row["status"] for row in rows] == ["COMPLETE", "COMPLETE"]
    for row in rows:
        job = await wattzon_client.jobs.get(int(row["job_id"]))
        assert "batch:main" in job.tags
        assert (
            row["Amount_due"]
            == expected_results((folder / row["file"]).read_bytes(), 27)["Amount_due"]
        )


async def test_batch_marks_unsupported_bills_and_exits_1(
    wattzon_env: dict[str, str], tmp_path: Path
) -> None:
    folder = copy_bills(tmp_path / "bills", "coned-2024-03.pdf")
    out = tmp_path / "results.csv"
    argv = [str(folder), "--out", str(out), "--provider", "9999", "--email", EMAIL]

    code = await asyncio.to_thread(batch_to_csv.main, argv)

    assert code == 1
    [row] = read_csv(out)
    assert row["status"] == "UNSUPPORTED"
    assert "9999" in row["error"]


def test_batch_main_rejects_an_empty_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert batch_to_csv.main([str(tmp_path), "--provider", "4", "--email", EMAIL]) == 2
    assert "no bills" in capsys.readouterr().err
    assert batch_to_csv.main([str(tmp_path / "missing"), "--provider", "4", "--email", EMAIL])


@pytest.mark.parametrize(
    ("unset", "fragment"),
    [
        (("AWS_DEFAULT_REGION", "AWS_REGION"), "region"),
        (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), "credentials"),
    ],
    ids=["no-region", "no-credentials"],
)
async def test_batch_main_exits_2_for_sqs_settings_it_cannot_use(
    wattzon_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    unset: tuple[str, ...],
    fragment: str,
) -> None:
    for name in unset:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    folder = copy_bills(tmp_path / "bills", "coned-2024-03.pdf")
    argv = [str(folder), "--out", str(tmp_path / "r.csv"), "--provider", "4", "--email", EMAIL]

    code = await asyncio.to_thread(batch_to_csv.main, argv)

    assert code == 2  # a setting to fix, as the docstring promises, not a failed bill
    err = capsys.readouterr().err
    assert "batch_to_csv.py: error: ConsumerError" in err
    assert fragment in err.lower()
    assert not (tmp_path / "r.csv").exists()  # nothing was sent, nothing written


async def test_batch_main_resumes_and_fresh_starts_over(
    wattzon_env: dict[str, str],
    wattzon_emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = copy_bills(tmp_path / "bills", "pge-2015-11.pdf", "coned-2024-03.pdf")
    out = tmp_path / "results.csv"
    argv = [str(folder), "--out", str(out), "--provider", "4", "--email", EMAIL]
    argv += ["--tag", f"resume-{time.monotonic_ns()}", "--timeout", "30"]

    assert await asyncio.to_thread(batch_to_csv.main, argv) == 0
    first = read_csv(out)
    assert (tmp_path / "results.csv.journal").exists()
    assert capsys.readouterr().err.startswith("Submitting bills from")
    before = (await wattzon_emulator.stats())["requests"]
    assert await asyncio.to_thread(batch_to_csv.main, argv) == 0
    err = capsys.readouterr().err
    assert err.startswith("Resuming bills from"), err  # not "Submitting": it is resuming
    assert "Resuming: 2 done, 0 waiting, 0 to submit" in err
    after = (await wattzon_emulator.stats())["requests"]
    assert read_csv(out) == first
    new = {k: v for k, v in after.items() if before.get(k) != v}
    assert not any(key.startswith("POST") for key in new)  # nothing sent again
    assert await asyncio.to_thread(batch_to_csv.main, [*argv, "--fresh"]) == 0
    assert capsys.readouterr().err.startswith("Submitting bills from")
    fresh_ids = {row["job_id"] for row in read_csv(out)}
    assert not fresh_ids & {row["job_id"] for row in first}


# -- sqs_worker ----------------------------------------------------------------------------


@pytest_asyncio.fixture
async def worker_db(tmp_path: Path) -> sqs_worker.ResultStore:
    store = sqs_worker.ResultStore(tmp_path / "results.sqlite")
    await asyncio.to_thread(store.create)
    return store


async def stop_worker(consumer: NotificationConsumer, task: asyncio.Task[None]) -> None:
    await consumer.stop()
    await asyncio.wait_for(task, 60)


async def test_worker_upserts_results_of_every_final_job(
    wattzon_emulator: Emulator,
    wattzon_client: WattzOnClient,
    worker_db: sqs_worker.ResultStore,
) -> None:
    consumer = wattzon_emulator.consumer()
    task = asyncio.create_task(sqs_worker.run(wattzon_client, consumer, worker_db.path))
    try:
        pge = (BILLS / "pge-2015-11.pdf").read_bytes()
        done = await wattzon_client.jobs.create(
            email=EMAIL, provider=4, document=pge, name="pge.pdf"
        )
        failed = await wattzon_client.jobs.create(
            email=EMAIL, provider=4, document=pge, name="failed-scan.pdf"
        )
        unsupported = await wattzon_client.jobs.create(
            email=EMAIL, provider=9999, document=pge, name="other.pdf"
        )
        ids = (done.id, failed.id, unsupported.id)

        async def all_stored() -> bool:
            statuses = [await asyncio.to_thread(worker_db.status, i) for i in ids]
            return None not in statuses

        await eventually(all_stored)
    finally:
        await stop_worker(consumer, task)

    assert worker_db.status(done.id) == "COMPLETE"
    assert worker_db.fields(done.id) == expected_results(pge, 4)
    assert worker_db.status(failed.id) == "FAILED"
    assert worker_db.status(unsupported.id) == "UNSUPPORTED"
    assert worker_db.fields(failed.id) == worker_db.fields(unsupported.id) == {}


async def test_worker_handler_is_idempotent_under_redelivery(
    wattzon_emulator: Emulator,
    wattzon_client: WattzOnClient,
    worker_db: sqs_worker.ResultStore,
) -> None:
    """A worker that dies after writing, before the ack: SQS redelivers; no row doubles."""
    document = (BILLS / "coned-2024-03.pdf").read_bytes()
    job = await wattzon_client.jobs.create(
        email=EMAIL, provider=140, document=document, name="coned.pdf"
    )
    handle = sqs_worker.make_handler(wattzon_client, worker_db)
    calls: Counter[int] = Counter()
    returned: Counter[int] = Counter()

    async def crash_once_after_writing(notification: SnapNotification | LinkNotification) -> None:
        await handle(notification)
        if isinstance(notification, SnapNotification):
            calls[notification.job_id] += 1
            if notification.job_id == job.id and calls[job.id] == 1:
                raise RuntimeError("worker died before deleting the message")
            returned[notification.job_id] += 1

    consumer = wattzon_emulator.consumer(retry_backoff=1.0)
    task = asyncio.create_task(consumer.run(crash_once_after_writing))
    try:

        async def handled_again() -> bool:
            return returned[job.id] == 1

        await eventually(handled_again)
    finally:
        await stop_worker(consumer, task)

    expected = expected_results(document, 140)
    assert calls[job.id] == 2  # delivered twice, at least once
    assert worker_db.row_counts(job.id) == (1, len(expected))  # stored exactly once
    assert worker_db.fields(job.id) == expected

    # The handler itself, called again with the same notification: still no new rows.
    done = await wattzon_client.jobs.get(job.id)
    again = SnapNotification(job_id=job.id, final_state=done.status, created_at=done.created_at)
    await handle(again)
    await handle(again)
    assert worker_db.row_counts(job.id) == (1, len(expected))


async def test_worker_drops_notifications_of_jobs_it_cannot_read(
    wattzon_client: WattzOnClient, worker_db: sqs_worker.ResultStore
) -> None:
    handle = sqs_worker.make_handler(wattzon_client, worker_db)
    ghost = SnapNotification(
        job_id=987_654_321, final_state=JobStatus.COMPLETE, created_at=datetime.now(UTC)
    )
    await handle(ghost)  # 404: logged and acknowledged, not raised
    await handle(LinkNotification(profile_id="p1", job_id="j1"))
    assert worker_db.status(987_654_321) is None


# -- fastapi_app ---------------------------------------------------------------------------


@pytest_asyncio.fixture
async def api(wattzon_env: dict[str, str]) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The FastAPI app with its lifespan running, and an httpx client calling it in-process."""
    app = fastapi_app.create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bills.test") as http:
            yield http, app


def upload(name: str, content: bytes | None = None) -> dict[str, Any]:
    data = (BILLS / name).read_bytes() if content is None else content
    return {"file": (name, data, "application/pdf")}


async def test_api_uploads_a_bill_and_serves_its_fields(
    api: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    http, app = api
    assert app.state.wattzon_notifications is not None  # SQS configured: waits race it
    assert (await http.get("/healthz")).json() == {"status": "ok", "notifications": "running"}

    created = await http.post(
        "/bills",
        files=upload("pge-2015-11.pdf"),
        data={"provider": "4", "email": EMAIL, "tags": ["api", "sfid:42"]},
    )
    assert created.status_code == 201, created.text
    bill = created.json()
    assert bill["status"] == "ENQUEUED"
    assert bill["final"] is False
    assert {"api", "sfid:42"} <= set(bill["tags"])
    assert "email" not in bill

    pending = await http.get(f"/bills/{bill['id']}", params={"wait": 0})
    assert pending.status_code in (200, 202)
    if pending.status_code == 202:
        assert pending.json()["final"] is False
        assert pending.headers["Retry-After"] == "1"

    done = await http.get(f"/bills/{bill['id']}", params={"wait": 10})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "COMPLETE"
    assert body["fields"] == expected_results((BILLS / "pge-2015-11.pdf").read_bytes(), 4)

    again = await http.get(f"/bills/{bill['id']}")  # final already: answered at once
    assert again.status_code == 200
    assert again.json()["fields"] == body["fields"]


async def test_api_reports_failed_and_unsupported_bills_by_polling_alone(
    wattzon_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WATTZON_SQS_QUEUE_URL")
    app = fastapi_app.create_app()
    async with app.router.lifespan_context(app):
        assert app.state.wattzon_notifications is None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bills.test") as http:
            assert (await http.get("/healthz")).json()["notifications"] == "off"
            failed = await http.post(
                "/bills",
                files=upload("failed-blurry-scan.pdf"),
                data={"provider": "4", "email": EMAIL},
            )
            unsupported = await http.post(
                "/bills", files=upload("pge-2015-11.pdf"), data={"provider": "9999", "email": EMAIL}
            )
            assert unsupported.status_code == 201
            assert unsupported.json()["status"] == "UNSUPPORTED"
            assert unsupported.json()["final"] is True

            answer = await http.get(f"/bills/{failed.json()['id']}", params={"wait": 10})
            assert answer.status_code == 200
            assert answer.json()["status"] == "FAILED"
            assert answer.json()["fields"] is None
            assert answer.json()["detail"] == "the bill could not be read"


async def test_api_idempotency_key_makes_a_retried_post_safe(
    api: tuple[httpx.AsyncClient, FastAPI], wattzon_emulator: Emulator
) -> None:
    http, _ = api
    before = (await wattzon_emulator.stats())["jobs_created"]
    key = f"order-7-bill-{uuid.uuid4().hex[:8]}"
    headers = {"Idempotency-Key": key}
    form = {"provider": "4", "email": EMAIL}

    first = await http.post("/bills", files=upload("pge-2015-11.pdf"), data=form, headers=headers)
    retry = await http.post("/bills", files=upload("pge-2015-11.pdf"), data=form, headers=headers)
    other = await http.post(
        "/bills", files=upload("pge-2015-11.pdf"), data=form, headers={"Idempotency-Key": "x" + key}
    )

    assert (first.status_code, retry.status_code, other.status_code) == (201, 201, 201)
    assert retry.json() == first.json()  # the same answer as the first time
    assert first.json()["id"] != other.json()["id"]
    assert idempotency_tag(key) in first.json()["tags"]
    assert (await wattzon_emulator.stats())["jobs_created"] - before == 2


@pytest.mark.parametrize(
    ("name", "form", "difference"),
    [
        ("failed-blurry-scan.pdf", {"provider": "4", "email": EMAIL}, "document"),
        ("pge-2015-11.pdf", {"provider": "5", "email": EMAIL}, "provider"),
        ("pge-2015-11.pdf", {"provider": "4", "email": "other@example.com"}, "email"),
    ],
)
async def test_api_idempotency_key_reused_for_another_bill_is_refused(
    api: tuple[httpx.AsyncClient, FastAPI],
    wattzon_emulator: Emulator,
    name: str,
    form: dict[str, str],
    difference: str,
) -> None:
    http, _ = api
    headers = {"Idempotency-Key": f"order-8-{uuid.uuid4().hex[:8]}"}
    first = await http.post(
        "/bills",
        files=upload("pge-2015-11.pdf"),
        data={"provider": "4", "email": EMAIL},
        headers=headers,
    )
    assert first.status_code == 201
    before = (await wattzon_emulator.stats())["jobs_created"]
    reused = await http.post("/bills", files=upload(name), data=form, headers=headers)
    assert reused.status_code == 422, reused.text
    assert "Idempotency-Key" in reused.json()["detail"]
    assert difference in reused.json()["detail"]
    assert "id" not in reused.json()  # never the other bill's job
    assert (await wattzon_emulator.stats())["jobs_created"] == before


async def test_api_ten_concurrent_posts_with_one_key_make_one_job(
    api: tuple[httpx.AsyncClient, FastAPI], wattzon_emulator: Emulator
) -> None:
    http, _ = api
    before = (await wattzon_emulator.stats())["jobs_created"]
    headers = {"Idempotency-Key": f"storm-{uuid.uuid4().hex[:8]}"}
    form = {"provider": "4", "email": EMAIL}
    answers = await asyncio.gather(
        *(
            http.post("/bills", files=upload("pge-2015-11.pdf"), data=form, headers=headers)
            for _ in range(10)
        )
    )
    assert [a.status_code for a in answers] == [201] * 10
    assert len({a.json()["id"] for a in answers}) == 1
    assert (await wattzon_emulator.stats())["jobs_created"] - before == 1


async def test_api_maps_sdk_errors_to_http_errors(
    api: tuple[httpx.AsyncClient, FastAPI], wattzon_emulator: Emulator, tmp_path: Path
) -> None:
    http, _ = api
    form = {"provider": "4", "email": EMAIL}

    missing = await http.get("/bills/987654321")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no such bill"})

    cert, key = wattzon_emulator.issue_client_cert("another-tenant")
    async with wattzon_emulator.client(cert=(str(cert), str(key))) as other:
        theirs = await other.jobs.create(
            email=EMAIL, provider=4, document=b"%PDF-1.4", name="theirs.pdf"
        )
    forbidden = await http.get(f"/bills/{theirs.id}")
    assert (forbidden.status_code, forbidden.json()) == (404, {"detail": "no such bill"})

    bad_email = await http.post(
        "/bills", files=upload("pge-2015-11.pdf"), data={**form, "email": "nobody"}
    )
    assert bad_email.status_code == 422
    assert "email" in bad_email.json()["detail"]
    assert "nobody" not in bad_email.json()["detail"]

    too_large = await http.post(
        "/bills", files=upload("big.pdf", b"%PDF" + bytes(5 * 1024 * 1024)), data=form
    )
    assert too_large.status_code == 413
    assert "limit" in too_large.json()["detail"]

    not_a_number = await http.get("/bills/abc")
    assert not_a_number.status_code == 422  # FastAPI's own validation, in the same shape
    assert not_a_number.json()["detail"].startswith("job_id: ")

    bad_provider = await http.post(
        "/bills", files=upload("pge-2015-11.pdf"), data={**form, "provider": "abc"}
    )
    assert bad_provider.status_code == 422
    assert list(bad_provider.json()) == ["detail"]
    assert bad_provider.json()["detail"].startswith("provider: ")
    assert "abc" not in bad_provider.json()["detail"]

    text = await http.post("/bills", files=upload("notes.pdf", b"just some text\n"), data=form)
    assert text.status_code == 422
    assert "notes.pdf is not a PDF" in text.json()["detail"]
    assert "plain text" in text.json()["detail"]


@pytest.mark.parametrize(
    ("error", "status", "headers"),
    [
        (RateLimitError("slow down", retry_after=2.5), 503, {"Retry-After": "3"}),
        (RateLimitError("slow down"), 503, {"Retry-After": "1"}),
        (AmbiguousSubmitError("unknown", idempotency_key=None), 503, {"Retry-After": "1"}),
        (
            IdempotencyConflictError(
                "reused",
                idempotency_key="k",
                tag="idem:" + "0" * 32,
                job=None,
                differences=("document",),
            ),
            422,
            {},
        ),
        (APITimeoutError("late"), 504, {}),
        (APIConnectionError("down"), 502, {}),
        (InternalServerError("boom", status_code=500), 502, {}),
        (AuthenticationError("who", status_code=401), 500, {}),
        (CertificateError("expired"), 500, {}),
        (WattzOnError("other"), 500, {}),
    ],
)
def test_http_error_table(error: WattzOnError, status: int, headers: dict[str, str]) -> None:
    code, detail, extra = fastapi_app.http_error(error)
    assert (code, extra) == (status, headers)
    assert str(error) not in detail or status < 500  # server-side details stay in the log


# -- otel_console ------------------------------------------------------------------------


def test_otel_console_exports_one_bill_and_draws_its_trace(wattzon_env: dict[str, str]) -> None:
    import os
    import subprocess
    import sys

    program = Path(__file__).resolve().parents[2] / "examples" / "otel_console.py"
    done = subprocess.run(
        [sys.executable, str(program), str(BILLS / "pge-2015-11.pdf")],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("span jobs.create ") for line in lines)
    assert any(line.startswith("span await_job ") for line in lines)
    assert any(
        line.startswith(
            "metric wattzon.client.operation.duration"
            "{wattzon.operation=jobs.create,wattzon.status_class=2xx} count=1 "
        )
        for line in lines
    )
    assert "metric wattzon.job.duration{wattzon.job.status=COMPLETE} count=1" in done.stdout
    at = next(i for i, line in enumerate(lines) if line.startswith("trace of job "))
    tree = lines[at + 1 :]
    assert tree[0].startswith("jobs.create ")
    assert tree[1].startswith("  POST /api/v1/jobs/ ")
    assert "http.response.status_code=201" in tree[1]
    (wait,) = [line for line in tree if line.startswith("await_job ")]
    assert "wattzon.job.status=COMPLETE" in wait
    assert "  jobs.get " in tree[tree.index(wait) + 1]
    assert "billing@example.com" not in done.stdout

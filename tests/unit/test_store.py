"""The shared store on both engines: a real SQLite file and a real PostgreSQL server.

Every behaviour runs against ``sqlite:///`` and ``postgresql://`` alike (a fresh file or
database per test); nothing is mocked.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import fresh_database
from tests.postgres import PASSWORD, PostgresServer
from tests.unit.conftest import Pki
from wattzon_async import StoreError, ValidationError, WattzOnClient
from wattzon_async.store import (
    SCHEMA_VERSION,
    ClaimState,
    Store,
    open_store,
    parse_store_url,
    redact_url,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def store_url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL of an empty store on ``engine``, with a short lease."""
    if engine == "sqlite":
        return f"sqlite://{tmp_path}/store/wattzon.db?lease=0.5"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await fresh_database(server) + "?lease=0.5"


@pytest_asyncio.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        await opened.aclose()


# URLs


def test_sqlite_url_names_a_file() -> None:
    parsed = parse_store_url("sqlite:///var/lib/app/wattzon.db?lease=12")
    assert (parsed.engine, parsed.lease) == ("sqlite", 12)
    assert parsed.path == Path("/var/lib/app/wattzon.db")
    assert parse_store_url("sqlite:relative.db").path == Path("relative.db")


def test_postgres_urls_keep_libpq_forms_and_take_out_our_options() -> None:
    parsed = parse_store_url("postgres://u:pw@db.internal:5433/app?sslmode=require&lease=5")
    assert parsed.engine == "postgresql"
    assert parsed.lease == 5
    assert parsed.dsn == "postgresql://u:pw@db.internal:5433/app?sslmode=require"
    assert parsed.safe == "postgres://u:***@db.internal:5433/app?sslmode=require&lease=5"
    socket = parse_store_url("postgresql://u@/app?host=/run/postgresql")
    assert socket.safe == "postgresql://u@/app?host=/run/postgresql"


def test_passwords_are_removed_wherever_they_are() -> None:
    assert redact_url("postgresql://u:hunter2@h/db") == "postgresql://u:***@h/db"
    assert redact_url("postgresql://h/db?user=u&password=hunter2&x=1") == (
        "postgresql://h/db?user=u&password=***&x=1"
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u:hunter2@h/db", "scheme 'mysql'"),
        ("redis://:hunter2@h", "scheme 'redis'"),
        ("sqlite://host/x.db", "names a host"),
        ("sqlite:///", "names no file"),
        ("sqlite:///x.db?cache=shared", "unknown options"),
        ("postgresql://u:hunter2@h/db?lease=-1", "lease='-1'"),
        ("postgresql://u:hunter2@h/db?lease=soon", "lease='soon'"),
        (42, "not int"),
    ],
)
def test_bad_urls_are_named_without_their_password(url: object, says: str) -> None:
    with pytest.raises(ValidationError, match=r"^store: ") as caught:
        open_store(url)
    assert says in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert caught.value.field == "store"


async def test_an_unreachable_server_fails_at_first_use_naming_the_url_without_password() -> None:
    store = open_store("postgresql://wattzon:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in repr(store)
    try:
        with pytest.raises(StoreError) as caught:
            await store.claim_key("idem:x", "me")
    finally:
        await store.aclose()
    message = str(caught.value)
    assert "postgresql://wattzon:***@127.0.0.1:1/db" in message
    assert "hunter2" not in message
    assert caught.value.__cause__ is None


async def test_a_wrong_password_is_not_repeated(postgres_server: PostgresServer) -> None:
    wrong = postgres_server.url.replace(PASSWORD, "not-the-Pw-42")
    store = open_store(wrong)
    try:
        with pytest.raises(StoreError, match="password authentication failed") as caught:
            await store.get_notification("snap:1")
    finally:
        await store.aclose()
    assert "not-the-Pw-42" not in str(caught.value)
    assert PASSWORD not in str(caught.value)


# Claims on idempotency keys


async def test_a_key_is_claimed_once_held_then_done(store: Store) -> None:
    first = await store.claim_key("idem:a", "p1")
    assert (first.state, first.fresh) == (ClaimState.MINE, True)
    assert (await store.claim_key("idem:a", "p2")).state is ClaimState.HELD
    assert await store.renew_key("idem:a", "p1")
    assert not await store.renew_key("idem:a", "p2")
    await store.finish_key("idem:a", 17)
    done = await store.claim_key("idem:a", "p2")
    assert (done.state, done.job_id) == (ClaimState.DONE, 17)


async def test_a_released_key_is_claimed_again_but_not_fresh(store: Store) -> None:
    await store.claim_key("idem:b", "p1")
    await store.release_key("idem:b", "p1")
    again = await store.claim_key("idem:b", "p2")
    assert (again.state, again.fresh) == (ClaimState.MINE, False)


async def test_a_silent_holder_loses_its_claim_after_the_lease(store: Store) -> None:
    assert (await store.claim_key("idem:c", "dead")).state is ClaimState.MINE
    deadline = asyncio.get_running_loop().time() + 60
    while (claim := await store.claim_key("idem:c", "taker")).state is ClaimState.HELD:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert (claim.state, claim.fresh) == (ClaimState.MINE, False)
    assert not await store.renew_key("idem:c", "dead")


async def test_of_many_claims_at_once_exactly_one_wins(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(6)]
    try:
        claims = await asyncio.gather(
            *(s.claim_key("idem:race", f"p{i}") for i, s in enumerate(stores))
        )
    finally:
        await asyncio.gather(*(s.aclose() for s in stores))
    assert sorted(c.state.value for c in claims) == ["held"] * 5 + ["mine"]


# Notifications


async def test_notifications_are_kept_by_key_and_listed_in_order(store: Store) -> None:
    assert await store.get_notification("snap:1") is None
    await store.put_notification("snap:1", '{"a": 1}')
    await store.put_notification("link:p", '{"b": 2}')
    assert await store.get_notification("snap:1") == '{"a": 1}'
    listed = await store.notifications_after(0)
    assert [(n.key, n.body) for n in listed] == [("snap:1", '{"a": 1}'), ("link:p", '{"b": 2}')]
    assert [n.key for n in await store.notifications_after(listed[0].seq)] == ["link:p"]


# Files and schema


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
async def test_sqlite_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path}/private/store.db")
    try:
        await store.claim_key("idem:m", "p1")
    finally:
        await store.aclose()
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    files = sorted((tmp_path / "private").iterdir())
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


async def test_schema_is_made_once_by_processes_starting_together(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(8)]
    try:
        found = await asyncio.gather(*(s.get_notification("snap:0") for s in stores))
    finally:
        await asyncio.gather(*(s.aclose() for s in stores))
    assert found == [None] * 8


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    store = open_store(f"sqlite://{path}")
    await store.get_notification("snap:0")
    await store.aclose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE wattzon_meta SET value = ?", (str(SCHEMA_VERSION + 1),))
    conn.close()
    store = open_store(f"sqlite://{path}")
    try:
        with pytest.raises(StoreError, match="schema version 2; this release reads version 1"):
            await store.get_notification("snap:0")
    finally:
        await store.aclose()


# The client


async def test_the_client_names_its_store_without_password(pki: Pki) -> None:
    url = "postgresql://app:hunter2@db.internal/wattzon"
    async with WattzOnClient((pki.cert, pki.key), store=url) as client:
        assert client.store == "postgresql://app:***@db.internal/wattzon"
        assert "app:***@db.internal" in repr(client)
        assert "hunter2" not in repr(client)
    async with WattzOnClient((pki.cert, pki.key)) as plain:
        assert plain.store is None
        assert "store" not in repr(plain)


async def test_from_env_reads_the_store_url(pki: Pki, tmp_path: Path) -> None:
    env = {"WATTZON_CERT": str(pki.cert), "WATTZON_KEY": str(pki.key)}
    url = f"sqlite://{tmp_path}/s.db"
    async with WattzOnClient.from_env({**env, "WATTZON_STORE_URL": url}) as client:
        assert client.store == url
    with pytest.raises(ValidationError, match="scheme 'mysql'") as caught:
        WattzOnClient.from_env({**env, "WATTZON_STORE_URL": "mysql://u:hunter2@h/db"})
    assert "hunter2" not in str(caught.value)


def test_the_consumer_checks_its_store_url_at_construction() -> None:
    from wattzon_async import NotificationConsumer

    queue = "https://sqs.us-east-1.amazonaws.com/1/q"
    with pytest.raises(ValidationError, match="scheme 'mysql'") as caught:
        NotificationConsumer(queue, store="mysql://u:hunter2@h/db")
    assert "hunter2" not in str(caught.value)
    consumer = NotificationConsumer.from_env(
        {"WATTZON_SQS_QUEUE_URL": queue, "WATTZON_STORE_URL": "postgresql://u:hunter2@h/db"}
    )
    assert consumer.store == "postgresql://u:***@h/db"
    assert NotificationConsumer(queue).store is None


async def test_a_journal_url_is_checked_as_a_url(pki: Pki) -> None:
    from wattzon_async import Submission

    async with WattzOnClient((pki.cert, pki.key)) as client:
        bill = Submission(email="a@example.com", provider=4, document=b"%PDF", name="a.pdf")
        for url, says in (
            ("mysql://u:hunter2@h/db", "scheme 'mysql'"),
            ("postgresql://u:hunter2@h/db?batch=", "batch=''"),
        ):
            with pytest.raises(ValidationError, match=r"^journal: ") as caught:
                client.jobs.submit_many([bill], journal=url)
            assert says in str(caught.value)
            assert "hunter2" not in str(caught.value)

"""Security properties of the client, over real TLS.

* Server verification cannot be turned off by accident, and a CA bundle given as a
  string path keeps the client certificate (``httpx`` 0.28 drops ``cert=`` when
  ``verify=`` is a string: the pitfall is shown, then the client is shown to avoid it).
* Redirects are never followed: a 3xx surfaces as an error, and nothing, in particular
  no client certificate, ever reaches the redirect's target.
* No private key, password, document content or full email address appears in logs
  (every logger captured at DEBUG through a full run), reprs or exception messages.
* A download never writes outside its destination, whatever name the server gives.
* Clear errors for an expired client certificate, one from the wrong CA, no certificate,
  and a server certificate the client does not trust.

``TLSServer`` is a small blocking-socket TLS server in a thread; it sends OpenSSL's alerts
when it refuses a client certificate, as production TLS terminators (and the emulator)
do.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import ssl
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pki import CertificateAuthority
from wattzon_async import (
    APIStatusError,
    CertificateError,
    NotFoundError,
    PermissionDeniedError,
    Submission,
    ValidationError,
    WattzOnClient,
    WattzOnError,
)
from wattzon_async._httpx import httpx, stack_name
from wattzon_async.emulator import Emulator
from wattzon_async.resources.documents import safe_file_name

from .conftest import PDF, create_body, mtls_context, poll_until
from .hostile import ThreadedTLSServer, read_head

pytestmark = pytest.mark.integration

JSON_OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
    b"Connection: close\r\n\r\n[]"
)


# -- a TLS server that behaves like a production terminator ---------------------------------


class TLSServer(ThreadedTLSServer):
    """Serves one canned HTTP response per connection over TLS, from a thread.

    Args:
        cert: The server's certificate file.
        key: Its key file.
        client_ca: When given, a client certificate signed by this CA is required.
        response: The raw HTTP response; ``{port}`` is not substituted, build it first.
    """

    def __init__(
        self, cert: Path, key: Path, *, client_ca: Path | None = None, response: bytes = JSON_OK
    ) -> None:
        super().__init__(cert, key, client_ca, name="tls-server", timeout=5)
        self.response = response
        self.handshakes: list[str] = []
        self.requests: list[bytes] = []

    def _answer(self, raw: socket.socket) -> None:
        conn = self.context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        with conn:
            try:
                conn.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                self.handshakes.append(f"refused {exc}")
                _linger(conn)
                return
            self._exchange(conn)

    def _exchange(self, conn: ssl.SSLSocket) -> None:
        peer: Any = conn.getpeercert() or {}
        names = [value for rdn in peer.get("subject", ()) for key, value in rdn]
        self.handshakes.append(f"ok {names[-1] if names else '-'}")
        try:
            data = read_head(conn)
            if data is None:
                return
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            self.requests.append(head.split(b"\r\n", 1)[0])
            conn.sendall(self.response)
        except OSError as exc:
            self.requests.append(f"failed {exc}".encode())


def _linger(conn: ssl.SSLSocket) -> None:
    """Close after a refused handshake the way production servers do (lingering close).

    The alert OpenSSL queued has been sent; reading what the client sent meanwhile
    before closing keeps the kernel from answering with a reset that could overtake it.
    """
    try:
        socket.socket.shutdown(conn, socket.SHUT_WR)
        while socket.socket.recv(conn, 65536):
            pass
    except OSError:
        pass


def redirect_to(url: str, status: int) -> bytes:
    return (
        f"HTTP/1.1 {status} Redirect\r\nLocation: {url}\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


@pytest.fixture(scope="module")
def server_cert(wattzon_emulator: Emulator) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 from the emulator's CA (so clients trust it)."""
    return wattzon_emulator.issue_client_cert("127.0.0.1", server_names=("127.0.0.1",))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificateAuthority, Path]:
    folder = tmp_path_factory.mktemp("other-ca")
    ca = CertificateAuthority.create("Not WattzOn CA")
    ca.save(folder / "ca.crt", folder / "ca.key")
    return ca, folder / "ca.crt"


# -- verification cannot be turned off by accident ---------------------------------------


async def test_httpx_drops_the_client_certificate_when_verify_is_a_string(
    wattzon_emulator: Emulator,
) -> None:
    """The pitfall itself: httpx 0.28+ with verify=<str> and cert= sends no cert.

    httpx2 refuses the combination outright; the SDK never passes either.
    """
    emu = wattzon_emulator
    if stack_name() == "httpx2":
        with pytest.raises(TypeError, match="cannot be combined with"):
            httpx.AsyncClient(
                verify=str(emu.ca_cert), cert=(str(emu.client_cert), str(emu.client_key))
            )
        return
    with pytest.warns(DeprecationWarning, match="deprecated"):
        http = httpx.AsyncClient(
            verify=str(emu.ca_cert), cert=(str(emu.client_cert), str(emu.client_key))
        )
    async with http:
        with pytest.raises((httpx.HTTPError, ssl.SSLError)):
            await http.get(emu.snap_url + "jobs/")


@pytest.mark.parametrize("as_type", [str, Path])
async def test_ca_bundle_as_a_path_still_presents_the_client_certificate(
    wattzon_emulator: Emulator, as_type: Callable[[Path], Any]
) -> None:
    async with wattzon_emulator.client(ca_bundle=as_type(wattzon_emulator.ca_cert)) as client:
        assert client.ssl_context.verify_mode is ssl.CERT_REQUIRED
        assert client.ssl_context.check_hostname
        jobs = await client.jobs.list()  # the server requires a certificate: this proves it
    assert isinstance(jobs, list)


async def test_ca_bundle_from_the_environment_keeps_the_certificate(
    wattzon_emulator: Emulator,
) -> None:
    emu = wattzon_emulator
    env = {
        "WATTZON_CERT": str(emu.client_cert),
        "WATTZON_KEY": str(emu.client_key),
        "WATTZON_CA_BUNDLE": str(emu.ca_cert),
        "WATTZON_SNAP_URL": emu.snap_url,
        "WATTZON_LINK_URL": emu.link_url,
    }
    async with WattzOnClient.from_env(env) as client:
        assert isinstance(await client.jobs.list(), list)


@pytest.mark.parametrize("value", ["", False, True, 0, "   "])
def test_no_ca_bundle_value_turns_verification_off(wattzon_emulator: Emulator, value: Any) -> None:
    emu = wattzon_emulator
    with pytest.raises((WattzOnError, TypeError)):
        WattzOnClient(cert=(emu.client_cert, emu.client_key), ca_bundle=value)


@pytest.mark.parametrize("value", [False, True])
def test_boolean_ca_bundle_is_a_validation_error(wattzon_emulator: Emulator, value: Any) -> None:
    emu = wattzon_emulator
    with pytest.raises(ValidationError, match="ca_bundle"):
        WattzOnClient(cert=(emu.client_cert, emu.client_key), ca_bundle=value)


async def test_untrusted_server_certificate_is_a_clear_error(wattzon_emulator: Emulator) -> None:
    async with wattzon_emulator.client(ca_bundle=None) as client:  # system trust only
        with pytest.raises(CertificateError, match=r"not trusted.*ca_bundle"):
            await client.jobs.list()


async def test_server_certificate_for_another_name_is_refused(
    wattzon_emulator: Emulator, tmp_path: Path
) -> None:
    cert, key = wattzon_emulator.issue_client_cert("elsewhere", server_names=("elsewhere.test",))
    with TLSServer(cert, key) as server:
        async with wattzon_emulator.client(snap_url=server.url) as client:
            with pytest.raises(CertificateError, match="not trusted"):
                await client.jobs.list()
        assert server.requests == []


# -- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_not_followed_and_reach_nothing(
    wattzon_emulator: Emulator, server_cert: tuple[Path, Path], status: int
) -> None:
    cert, key = server_cert
    ca = wattzon_emulator.ca_cert
    with TLSServer(cert, key, client_ca=ca) as target:
        location = f"https://127.0.0.1:{target.port}/api/v1/jobs/"
        with TLSServer(cert, key, client_ca=ca, response=redirect_to(location, status)) as source:
            async with wattzon_emulator.client(snap_url=source.url) as client:
                with pytest.raises(APIStatusError) as listed:
                    await client.jobs.list()
                with pytest.raises(APIStatusError) as created:
                    await client.jobs.create(
                        email="user@example.com", provider=4, document=PDF, name="bill.pdf"
                    )
            assert listed.value.status_code == created.value.status_code == status
            assert len(source.requests) == 2  # one each: a 3xx is not retried either
        assert target.handshakes == []
        assert target.requests == []


# -- clear certificate errors ---------------------------------------------------------------


def test_expired_certificate_is_refused_before_anything_is_sent(
    wattzon_emulator: Emulator,
) -> None:
    cert, key = wattzon_emulator.issue_client_cert(
        "expired-tenant", not_before=datetime.now(UTC) - timedelta(days=400), valid_days=365
    )
    with pytest.raises(CertificateError) as caught:
        wattzon_emulator.client(cert=(cert, key))
    message = str(caught.value)
    assert "expired on" in message
    assert str(cert) in message
    assert "CN=expired-tenant" in message
    assert "renew" in message


def _context_with(ca: Path, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """A ready context, so that the client's own expiry check is bypassed."""
    return mtls_context(ca, cert, key)


@pytest.fixture
def refused_identities(
    wattzon_emulator: Emulator, other_ca: tuple[CertificateAuthority, Path], tmp_path: Path
) -> dict[str, ssl.SSLContext]:
    emu = wattzon_emulator
    expired = emu.issue_client_cert(
        "expired-tenant", not_before=datetime.now(UTC) - timedelta(days=400), valid_days=365
    )
    foreign = other_ca[0].issue("emulator-client").write(tmp_path, "foreign")
    return {
        "expired": _context_with(emu.ca_cert, *expired),
        "wrong CA": _context_with(emu.ca_cert, *foreign),
        "no certificate": _context_with(emu.ca_cert, None, None),
    }


def _recorded(server: TLSServer) -> Callable[[], Awaitable[bool | None]]:
    """A check for poll_until: the server has recorded a handshake."""

    async def check() -> bool | None:
        return True if server.handshakes else None

    return check


@pytest.mark.parametrize("case", ["expired", "wrong CA", "no certificate"])
async def test_refused_client_certificate_is_a_clear_error(
    wattzon_emulator: Emulator,
    server_cert: tuple[Path, Path],
    refused_identities: dict[str, ssl.SSLContext],
    case: str,
) -> None:
    """Against a server that sends TLS alerts (as production terminators do)."""
    cert, key = server_cert
    with TLSServer(cert, key, client_ca=wattzon_emulator.ca_cert) as server:
        client = WattzOnClient(cert=refused_identities[case], snap_url=server.url)
        async with client:
            with pytest.raises(CertificateError, match="refused the client certificate"):
                await client.jobs.list()
        # the server's thread records its side after the alert is on its way
        await poll_until(_recorded(server), timeout=60)
        assert server.requests == []
        assert all(h.startswith("refused") for h in server.handshakes)


@pytest.mark.parametrize("case", ["expired", "wrong CA", "no certificate"])
async def test_emulator_refusal_is_a_clear_error(
    wattzon_emulator: Emulator, refused_identities: dict[str, ssl.SSLContext], case: str
) -> None:
    from wattzon_async import RetryPolicy

    client = wattzon_emulator.client(
        cert=refused_identities[case], ca_bundle=None, retry=RetryPolicy(attempts=1)
    )
    async with client:
        with pytest.raises(CertificateError, match="refused the client certificate"):
            await client.jobs.list()


# -- downloads stay in their destination ---------------------------------------------------

HOSTILE_NAMES: list[Any] = [
    "../../escaped.pdf",
    "..\\..\\escaped.pdf",
    "/etc/escaped.pdf",
    "sub/../../escaped.pdf",
    "..",
    ".",
    "...",
    "\uff0e\uff0e\uff0fescaped.pdf",  # fullwidth "../", NFKC-normalised to a path
    "\u2025/escaped.pdf",
    "a\x00b.pdf",
    "escaped.pdf\n",
    "C:\\Windows\\escaped.pdf",
    "%2e%2e%2fescaped.pdf",
    " ",
    "x" * 300 + ".pdf",
]


def _tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_download_never_writes_outside_its_destination(
    wattzon_client: WattzOnClient, http: httpx.AsyncClient, tmp_path: Path, name: str
) -> None:
    response = await http.post("/api/v1/jobs/", json=create_body(name=name, content=PDF))
    if response.status_code == 400:
        pytest.skip(f"the emulator refuses the name {name!r}")
    job_id = response.json()["id"]
    dest = tmp_path / "a" / "b" / "dest"
    dest.mkdir(parents=True)
    before = _tree(tmp_path)
    written = await wattzon_client.documents.download(job_id, dest)
    assert written.parent == dest
    assert written.resolve().parent == dest.resolve()
    assert written.name not in ("", ".", "..")
    assert written.read_bytes() == PDF
    assert _tree(tmp_path) - before == {written}


async def test_download_replaces_a_planted_symlink_instead_of_following_it(
    wattzon_client: WattzOnClient, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    response = await http.post("/api/v1/jobs/", json=create_body(name="bill.pdf"))
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "bill.pdf").symlink_to(outside)
    written = await wattzon_client.documents.download(response.json()["id"], dest)
    assert written == dest / "bill.pdf"
    assert not written.is_symlink()
    assert written.read_bytes() == PDF
    assert outside.read_bytes() == b"precious"


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300) | st.sampled_from(["a\x00b.pdf", "x\n", *HOSTILE_NAMES[:8]]))
def test_sanitised_names_are_one_harmless_path_component(name: str) -> None:
    folder = Path("/srv/downloads")
    safe = safe_file_name(name, "fallback.pdf")
    assert safe
    assert safe not in (".", "..")
    assert not set(safe) & {"/", "\\", "\x00"}
    assert len(safe) <= 255
    assert os.path.normpath(folder / safe).startswith(str(folder) + os.sep)
    assert (folder / safe).parent == folder


# -- no secrets in logs, reprs or exception messages ---------------------------------------

PASSWORD = "hunter2-" + uuid.uuid4().hex
EMAIL = f"jane.customer.{uuid.uuid4().hex[:8]}@example.org"
MARKER = f"CONFIDENTIAL-ACCOUNT-{uuid.uuid4().hex}".encode()
DOCUMENT = PDF[:-6] + b"% " + MARKER + b"\n%%EOF\n"


#: botocore logs whole SQS responses, message bodies included, at DEBUG: not this SDK's.
THIRD_PARTY_SQS_LOGGERS = ("botocore", "aiobotocore", "urllib3")


def _base64_forms(secret: bytes) -> list[str]:
    """The base64 of ``secret`` at each of the three alignments, edges trimmed."""
    forms = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret + b"\0\0").decode()
        forms.append(encoded[4:-4])
    return forms


def _key_material(key_file: Path) -> list[str]:
    lines = key_file.read_text().splitlines()
    return [line for line in lines if line and not line.startswith("-----")]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.texts.append(text)


@contextmanager
def _all_logs_at_debug() -> Iterator[_Records]:
    root = logging.getLogger()
    handler = _Records()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest_asyncio.fixture
async def faulty(clean_emulator: Emulator) -> AsyncIterator[Emulator]:
    """The session emulator with enough faults that every recovery path logs."""
    await clean_emulator.set_faults(error_rate=0.3, drop_after_create_rate=0.5, seed=11)
    yield clean_emulator


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


async def test_no_secrets_in_logs_reprs_or_errors(faulty: Emulator, tmp_path: Path) -> None:
    emu = faulty
    cert, key = emu.issue_client_cert(
        f"secrets-{uuid.uuid4().hex[:6]}", key_password=PASSWORD.encode()
    )
    other_cert, other_key = emu.issue_client_cert("secrets-other-tenant")
    texts: list[str] = []
    errors: list[BaseException] = []

    def expect_error(call: Callable[[], Any]) -> None:
        try:
            call()
        except WattzOnError as exc:
            errors.append(exc)
        else:
            pytest.fail("an error was expected")

    async def expect_async_error(call: Callable[[], Any]) -> None:
        try:
            await call()
        except WattzOnError as exc:
            errors.append(exc)
        else:
            pytest.fail("an error was expected")

    with _all_logs_at_debug() as logs:
        expect_error(lambda: emu.client(cert=(cert, key), key_password="wrong-" + PASSWORD))
        expect_error(lambda: emu.client(cert=(cert, key)))
        client = emu.client(cert=(cert, key), key_password=PASSWORD)
        consumer = emu.consumer()
        async with client, consumer, emu.client(cert=(other_cert, other_key)) as other:
            job = await client.jobs.create(
                email=EMAIL, provider=4, document=DOCUMENT, name="bill.pdf", tags=["secrets"]
            )
            done = await client.await_job(job.id, timeout=30, notifications=consumer)
            transformed = await client.jobs.get(job.id, results="transformed")
            listed = await client.jobs.list(tag="secrets")
            document = await client.documents.get(job.id)
            assert document.content == DOCUMENT
            path = await client.documents.download(job.id, tmp_path)
            assert path.read_bytes() == DOCUMENT
            notification = await consumer.wait_for(job.id)
            outcomes = [
                o
                async for o in client.jobs.submit_many(
                    [Submission(email=EMAIL, provider=4, document=DOCUMENT, name="b.pdf")],
                    wait=True,
                    timeout=30,
                )
            ]
            failed = await client.jobs.create(
                email=EMAIL, provider=4, document=DOCUMENT, name="failed.pdf"
            )
            await expect_async_error(lambda: client.await_job(failed.id, timeout=30))
            await expect_async_error(lambda: other.jobs.get(job.id))
            await expect_async_error(lambda: other.documents.get(job.id))
            await expect_async_error(lambda: client.jobs.get(10**9))
            await expect_async_error(
                lambda: client.jobs.create(
                    email=EMAIL + ",", provider=4, document=DOCUMENT, name="b.pdf"
                )
            )
            await expect_async_error(
                lambda: client.jobs.create(
                    email=EMAIL, provider=4, document=DOCUMENT, name="b.pdf", tags=["a,b"]
                )
            )
            await expect_async_error(
                lambda: client.jobs.create(email=EMAIL, provider=4, document=b"", name="e.pdf")
            )
            client.reload_certificate(key_password=PASSWORD)
            expect_error(lambda: client.reload_certificate(key_password="wrong-" + PASSWORD))
            texts += [
                repr(client),
                str(client),
                repr(client.certificate),
                repr(job),
                repr(done),
                repr(transformed),
                repr(listed),
                repr(document),
                repr(notification),
                repr(outcomes),
                repr(consumer),
                repr(Submission(email=EMAIL, provider=4, document=DOCUMENT, name="b.pdf")),
            ]
        assert outcomes[0].ok
    texts += logs.texts
    texts += [_exception_text(e) for e in errors]
    kinds = {type(e) for e in errors}
    assert {CertificateError, NotFoundError, PermissionDeniedError, ValidationError} <= kinds
    assert len(errors) >= 9
    assert any("retrying" in t or "looking up" in t for t in logs.texts)  # faults were hit
    core = stack_name().replace("httpx", "httpcore")  # httpcore2 under httpx2
    assert {"wattzon_async", stack_name(), f"{core}.http11"} <= logs.names

    secrets = {
        "password": [PASSWORD],
        "private key": _key_material(key) + _key_material(emu.client_key),
        "document content": [MARKER.decode(), *_base64_forms(MARKER)],
        "email address": [EMAIL],
    }
    sdk_texts = [t for t in texts if not t.startswith(THIRD_PARTY_SQS_LOGGERS)]
    for what, needles in secrets.items():
        for needle in needles:
            leaks = [t[:300] for t in sdk_texts if needle in t]
            assert not leaks, f"{what} found in: {leaks}"


async def test_client_with_a_ready_context_is_described_without_secrets(
    wattzon_emulator: Emulator,
) -> None:
    context = mtls_context(
        wattzon_emulator.ca_cert, wattzon_emulator.client_cert, wattzon_emulator.client_key
    )
    async with wattzon_emulator.client(cert=context, ca_bundle=None) as client:
        text = repr(client)
    assert "user-provided" in text
    assert not any(line in text for line in _key_material(wattzon_emulator.client_key))


async def test_tls_server_helper_answers_a_trusted_client(
    wattzon_emulator: Emulator, server_cert: tuple[Path, Path]
) -> None:
    """The control for the refusal tests: a good certificate gets through."""
    cert, key = server_cert
    with TLSServer(cert, key, client_ca=wattzon_emulator.ca_cert) as server:
        async with wattzon_emulator.client(snap_url=server.url) as client:
            assert await client.jobs.list() == []
        assert server.handshakes == ["ok emulator-client"]

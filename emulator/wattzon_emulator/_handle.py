"""The ``Emulator`` handle: start the emulator's processes, hand out URLs, certificates and clients.

``async with Emulator(...) as emu`` makes (or reuses) a CA and certificates, starts the
server process (and a moto SQS server when ``sqs=True``), waits for both to be ready
with a deadline, and on exit stops them and removes every file it made. The admin
methods (faults, settings, Link, counters, reset) are inherited from
``_admin_calls.AdminCalls`` and talk to the server over the same mTLS as any client.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from wattzon_async._private import private_dir

from ._admin_calls import AdminCalls
from ._control import (
    ProcessingTime,
    client_context,
    kept_port,
    make_certificates,
    moto_child,
    processing_json,
    save_ports,
    server_child,
)
from ._pki import CertificateAuthority
from ._process import ChildProcess, EmulatorError
from ._sqs import DUMMY_CREDENTIALS, REGION

if TYPE_CHECKING:
    from wattzon_async import WattzOnClient
    from wattzon_async.notifications import NotificationConsumer

__all__ = ["DEFAULT_TENANT", "Emulator"]

#: The common name of the default client certificate (the default tenant).
DEFAULT_TENANT = "emulator-client"


class Emulator(AdminCalls):
    """A local WattzOn API (Snap and Link over mutual TLS) and, optionally, its SQS queue.

    Args:
        processing_time: Seconds from job creation to its final state, or a
            ``(min, max)`` range each job draws from.
        sqs: Also start a moto SQS server and send notifications to a queue on it.
        state_dir: Where the CA and certificates live (reused when present), and, when
            given, the jobs and the ports, kept across restarts: a restarted emulator
            serves the same jobs at the same URLs (messages waiting in its SQS queue are
            not kept). Default: a temporary directory removed at exit, nothing kept.
        port: The server's port (0: the one kept in ``state_dir``, if it is free, else a
            free one).
        failing_providers: Providers whose jobs end FAILED.
        unsupported_providers: Providers whose jobs are UNSUPPORTED (default: 9999).
        queue_name: The SQS queue's name.
        startup_timeout: Seconds to wait for the processes to be ready.
    """

    def __init__(
        self,
        *,
        processing_time: ProcessingTime = 0.5,
        sqs: bool = False,
        state_dir: str | Path | None = None,
        port: int = 0,
        failing_providers: Iterable[int] = (),
        unsupported_providers: Iterable[int] = (9999,),
        queue_name: str = "wattzon-snap-notifications",
        startup_timeout: float = 60.0,
    ) -> None:
        self._lifecycle: dict[str, Any] = {
            "processing_time": processing_json(processing_time),
            "failing_providers": sorted(failing_providers),
            "unsupported_providers": sorted(unsupported_providers),
        }
        self._sqs = sqs
        self._requested_state_dir = Path(state_dir).resolve() if state_dir is not None else None
        self._port = port
        self._queue_name = queue_name
        self._startup_timeout = startup_timeout
        self._tmp: Path | None = None
        self._children: list[ChildProcess] = []
        self._ca: CertificateAuthority | None = None
        self._ready: dict[str, Any] | None = None
        self._ssl: ssl.SSLContext | None = None
        self.state_dir: Path = self._requested_state_dir or Path()

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """Whether the emulator has started and not stopped."""
        return self._ready is not None

    async def start(self) -> None:
        """Make the certificates, start the processes and wait until they serve.

        Raises:
            EmulatorError: A process exited or did not become ready in time.
        """
        if self._tmp is not None:
            raise EmulatorError("the emulator is already started")
        self._tmp = Path(tempfile.mkdtemp(prefix="wattzon-emulator-"))
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        assert self._tmp is not None
        self.state_dir = self._requested_state_dir or self._tmp / "state"
        private_dir(self.state_dir, tighten=True)  # keys and jobs (emails): owner only
        run = self._tmp / "run"
        run.mkdir()
        self._ca = await asyncio.to_thread(make_certificates, self.state_dir, DEFAULT_TENANT)
        deadline = time.monotonic() + self._startup_timeout
        kept = self._requested_state_dir is not None
        settings: dict[str, Any] = {
            "port": self._port or (kept_port(self.state_dir, "server") if kept else 0),
            "lifecycle": self._lifecycle,
            "queue_name": self._queue_name,
            "startup_timeout": self._startup_timeout,
        }
        if kept:
            settings["jobs_file"] = str(self.state_dir / "jobs.jsonl")
        if self._sqs:
            sqs_port = kept_port(self.state_dir, "sqs") if kept else 0
            self._children.append(moto_child(run, port=sqs_port))
            settings["moto_ready_file"] = str(self._children[0].ready_file)
        server = server_child(self.state_dir, run, settings)
        self._children.append(server)
        for child in self._children:
            child.start()
        for child in self._children:
            await child.wait_ready(deadline)
        self._ready = await server.wait_ready(deadline)
        if kept:
            endpoint = self.sqs_endpoint_url
            sqs = {"sqs": int(endpoint.rsplit(":", 1)[-1])} if endpoint else {}
            save_ports(self.state_dir, server=self.port, **sqs)

    async def stop_sqs(self) -> None:
        """Stop the moto SQS server, as in an SQS outage.

        Notifications of jobs that finish meanwhile are retried by the server, as WattzOn
        would, and reach the queue once ``start_sqs()`` has brought it back.

        Raises:
            EmulatorError: The emulator runs without SQS.
        """
        await self._moto().stop()

    async def start_sqs(self) -> None:
        """Start the moto SQS server again, on the same port and with the same queue URL.

        A restarted moto server has lost its messages and its queue; the queue is made
        again (empty) before this returns.

        Raises:
            EmulatorError: The emulator runs without SQS, or moto did not start in time.
        """
        child = self._moto()
        if child.pid is not None:
            return
        endpoint = self.sqs_endpoint_url or ""
        assert self._tmp is not None
        fresh = moto_child(self._tmp / "run", port=int(endpoint.rsplit(":", 1)[-1]))
        fresh.start()
        self._children[self._children.index(child)] = fresh
        await fresh.wait_ready(time.monotonic() + self._startup_timeout)
        from aiobotocore.session import get_session  # type: ignore[import-untyped]

        async with get_session().create_client(
            "sqs", region_name=REGION, endpoint_url=endpoint, **DUMMY_CREDENTIALS
        ) as sqs:
            await sqs.create_queue(QueueName=self._queue_name)

    def _moto(self) -> ChildProcess:
        for child in self._children:
            if child.module.endswith("._moto"):
                return child
        raise EmulatorError("the emulator runs without SQS (start it with sqs=True)")

    async def stop(self) -> None:
        """Stop the processes and remove the temporary files; safe to call twice."""
        self._ready = None
        children, self._children = self._children, []
        for child in reversed(children):
            await child.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._ssl = None

    # -- where things are ----------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        if self._ready is None:
            raise EmulatorError("the emulator is not running; use `async with Emulator()`")
        return self._ready

    @property
    def pids(self) -> list[int]:
        """Process ids of the running child processes (server, and moto with SQS)."""
        return [child.pid for child in self._children if child.pid is not None]

    @property
    def port(self) -> int:
        """The server's port on 127.0.0.1."""
        return int(self._info()["port"])

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def snap_url(self) -> str:
        """The Snap API's base URL (ends with ``/api/v1/``)."""
        return f"{self.base_url}/api/v1/"

    @property
    def link_url(self) -> str:
        """The Link API's base URL (ends with ``/link/4.0/``)."""
        return f"{self.base_url}/link/4.0/"

    @property
    def ca_cert(self) -> Path:
        """The CA certificate (PEM) clients verify the server with."""
        return self.state_dir / "ca.crt"

    @property
    def client_cert(self) -> Path:
        """The default tenant's client certificate (PEM)."""
        return self.state_dir / "client.crt"

    @property
    def client_key(self) -> Path:
        """The default tenant's private key (PEM, unencrypted)."""
        return self.state_dir / "client.key"

    @property
    def queue_url(self) -> str | None:
        """The SQS queue notifications go to (None without ``sqs=True``)."""
        value = self._info().get("queue_url")
        return str(value) if value else None

    @property
    def sqs_endpoint_url(self) -> str | None:
        """The moto SQS endpoint (None without ``sqs=True``)."""
        value = self._info().get("sqs_endpoint_url")
        return str(value) if value else None

    def environ(self) -> dict[str, str]:
        """The environment variables that point the SDK, the CLI and botocore here.

        ``WATTZON_*`` for ``WattzOnClient.from_env()``, ``NotificationConsumer.from_env()``
        (with a 1-second long poll) and the ``wattzon`` command; with SQS also
        ``AWS_ENDPOINT_URL_SQS``, ``AWS_DEFAULT_REGION`` and moto's dummy
        ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, so that any botocore client
        (a plain ``NotificationConsumer(queue_url)`` included) reaches the emulator's
        queue. ``wattzon emulator`` prints the same as ``export`` lines.

        Returns:
            Variable names and values.
        """
        values = {
            "WATTZON_CERT": str(self.client_cert),
            "WATTZON_KEY": str(self.client_key),
            "WATTZON_CA_BUNDLE": str(self.ca_cert),
            "WATTZON_SNAP_URL": self.snap_url,
            "WATTZON_LINK_URL": self.link_url,
        }
        if self.queue_url and self.sqs_endpoint_url:
            values["WATTZON_SQS_QUEUE_URL"] = self.queue_url
            values["WATTZON_SQS_ENDPOINT_URL"] = self.sqs_endpoint_url
            # A 1 s long poll: a script that stops and runs again never leaves a cancelled
            # poll behind to hide its next notification (see NotificationConsumer.stop).
            values["WATTZON_SQS_WAIT_TIME_SECONDS"] = "1"
            values["AWS_ENDPOINT_URL_SQS"] = self.sqs_endpoint_url
            values["AWS_DEFAULT_REGION"] = REGION
            values["AWS_ACCESS_KEY_ID"] = DUMMY_CREDENTIALS["aws_access_key_id"]
            values["AWS_SECRET_ACCESS_KEY"] = DUMMY_CREDENTIALS["aws_secret_access_key"]
        return values

    # -- clients and certificates ------------------------------------------------------

    def client(self, **overrides: Any) -> WattzOnClient:
        """A ``WattzOnClient`` for the default tenant, configured for this emulator.

        Its default polling schedule (``wait``) is scaled to the emulator's processing
        time rather than to the real API's 30 seconds.

        Args:
            **overrides: Any ``WattzOnClient`` argument, e.g. ``cert=`` for another tenant
                (with a ready ``ssl.SSLContext``, ``ca_bundle`` is left out).

        Returns:
            The client (use it with ``async with``).
        """
        from wattzon_async import WaitPolicy, WattzOnClient

        spec = self._lifecycle["processing_time"]
        longest = max(spec) if isinstance(spec, list) else float(spec)
        kwargs: dict[str, Any] = {
            "cert": (str(self.client_cert), str(self.client_key)),
            "ca_bundle": str(self.ca_cert),
            "snap_url": self.snap_url,
            "link_url": self.link_url,
            "wait": WaitPolicy(
                initial_delay=min(longest, 1.0) / 2, max_delay=max(1.0, longest), jitter=0.1
            ),
        }
        kwargs.update(overrides)
        if isinstance(kwargs["cert"], ssl.SSLContext) and "ca_bundle" not in overrides:
            del kwargs["ca_bundle"]
        return WattzOnClient(**kwargs)

    def consumer(self, **overrides: Any) -> NotificationConsumer:
        """A ``NotificationConsumer`` on this emulator's queue, with dummy credentials.

        Its long poll is 1 second (not 20), so that ``stop()`` always lets the poll in
        flight finish: a cancelled long poll could take a notification meant for the
        next test and hide it for the queue's visibility timeout.

        Args:
            **overrides: Any ``NotificationConsumer`` argument.

        Returns:
            The consumer (use it with ``async with``).

        Raises:
            EmulatorError: The emulator was started without ``sqs=True``.
        """
        from wattzon_async.notifications import NotificationConsumer

        if not self.queue_url:
            raise EmulatorError("start the emulator with sqs=True to get a consumer")
        kwargs: dict[str, Any] = {
            "wait_time_seconds": 1,
            "region_name": REGION,
            "endpoint_url": self.sqs_endpoint_url,
            **DUMMY_CREDENTIALS,
        }
        kwargs.update(overrides)
        return NotificationConsumer(self.queue_url, **kwargs)

    def _authority(self) -> CertificateAuthority:
        if self._ca is None:
            raise EmulatorError("the emulator is not running; use `async with Emulator()`")
        return self._ca

    def issue_client_cert(self, name: str, **options: Any) -> tuple[Path, Path]:
        """Issue a client certificate for another tenant (its common name is ``name``).

        Args:
            name: The tenant's name; jobs are visible only to certificates with this name.
            **options: Passed to ``CertificateAuthority.issue`` (``key_type``,
                ``valid_days``, ``not_before``, ``not_after``, ``key_password``).

        Returns:
            The certificate path and the key path.
        """
        issued = self._authority().issue(name, **options)
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "tenant"
        return issued.write(self.state_dir / "tenants", stem)

    def sign_csr(self, csr_pem: bytes | str, *, valid_days: int = 365) -> bytes:
        """Sign a CSR the way WattzOn does for a customer, giving ``client.crt``.

        Args:
            csr_pem: The CSR, as made by ``openssl req -new -newkey rsa:2048 -nodes ...``.
            valid_days: Validity of the certificate.

        Returns:
            The client certificate, PEM; its common name is the CSR's, and so the tenant.
        """
        data = csr_pem.encode("ascii") if isinstance(csr_pem, str) else csr_pem
        return self._authority().sign_csr(data, valid_days=valid_days)

    def _admin_target(self) -> tuple[ssl.SSLContext, str]:
        """The admin calls' TLS context (made once, the default tenant's) and base URL."""
        if self._ssl is None:
            self._ssl = client_context(self.ca_cert, self.client_cert, self.client_key)
        return self._ssl, self.base_url

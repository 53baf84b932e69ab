"""Helpers of the ``Emulator`` handle: its certificates and its calls to the admin API.

Kept apart from the handle so that the handle reads as what it offers: start, stop,
URLs, clients and fault settings.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from wattzon_async._httpx import httpx
from wattzon_async._private import private_dir

from ._link import LinkJob
from ._pki import CertificateAuthority
from ._process import ChildProcess, EmulatorError

__all__ = [
    "ProcessingTime",
    "admin_request",
    "client_context",
    "make_certificates",
    "moto_child",
    "kept_port",
    "processing_json",
    "save_ports",
    "server_child",
    "start_link",
    "start_link_at",
]

#: Seconds a job takes: one value, or a ``(min, max)`` range each job draws from.
ProcessingTime = float | tuple[float, float]


def processing_json(value: ProcessingTime | list[float]) -> float | list[float]:
    """A processing time as the admin API takes it: a number or a ``[min, max]`` list."""
    if isinstance(value, tuple | list):
        low, high = value
        return [float(low), float(high)]
    return float(value)


def make_certificates(state: Path, tenant: str) -> CertificateAuthority:
    """Load (or make and save) the CA in ``state``, and issue the server certificate.

    Also issues the default client certificate (common name ``tenant``) when ``state``
    has none yet, so a folder reused across runs keeps its client certificate.

    Args:
        state: The folder for ``ca.*``, ``server.*``, ``client.*`` and ``tenants/``.
        tenant: The common name of the default client certificate.

    Returns:
        The certificate authority.
    """
    if (state / "ca.crt").exists() and (state / "ca.key").exists():
        authority = CertificateAuthority.load(state / "ca.crt", state / "ca.key")
    else:
        authority = CertificateAuthority.create("WattzOn Emulator CA")
        authority.save(state / "ca.crt", state / "ca.key")
    server = authority.issue("localhost", server_names=("127.0.0.1", "localhost"), client=False)
    server.write(state, "server")
    if not ((state / "client.crt").exists() and (state / "client.key").exists()):
        authority.issue(tenant).write(state, "client")
    private_dir(state / "tenants", tighten=True)
    return authority


def client_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """An SSL context that trusts ``ca`` and presents ``cert``/``key``."""
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    return context


async def admin_request(context: ssl.SSLContext, url: str, method: str, body: Any) -> Any:
    """One call to the admin API, on a connection of its own (so any event loop works).

    Raises:
        EmulatorError: The admin API answered with an error.
    """
    async with httpx.AsyncClient(verify=context, timeout=30) as http:
        response = await http.request(method, url, json=body)
    if response.status_code >= 400:
        raise EmulatorError(f"admin {url}: {response.status_code} {response.text}")
    return response.json()


def moto_child(run: Path, port: int = 0) -> ChildProcess:
    """The moto SQS server process (not started), with its files in ``run``.

    Args:
        run: The folder for its ready and log files.
        port: The port to listen on (0: a free one; a port again to restart in place).
    """
    ready = run / "moto.ready"
    ready.unlink(missing_ok=True)
    return ChildProcess(
        "SQS server (moto)",
        f"{__package__}._moto",
        ready,
        ready,
        run / "moto.log",
        extra=(str(port),),
    )


def server_child(state: Path, run: Path, settings: dict[str, Any]) -> ChildProcess:
    """The server process (not started): writes its settings file into ``run``.

    Args:
        state: The folder with the certificates.
        run: The folder for the settings, ready and log files.
        settings: ``port``, ``lifecycle``, ``queue_name``, ``startup_timeout`` and, with
            SQS, ``moto_ready_file``.
    """
    full = {
        **settings,
        "host": "127.0.0.1",
        "certfile": str(state / "server.crt"),
        "keyfile": str(state / "server.key"),
        "ca_certs": str(state / "ca.crt"),
        "ready_file": str(run / "server.ready"),
    }
    (run / "server.json").write_text(json.dumps(full))
    return ChildProcess(
        "emulator server",
        f"{__package__}._server",
        run / "server.json",
        run / "server.ready",
        run / "server.log",
    )


def kept_port(state: Path, name: str) -> int:
    """The port ``name`` ("server" or "sqs") used last time in ``state``, if still free.

    Returns:
        The port, or 0 (a free one) when none was kept or it is taken now.
    """
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        port = int(json.loads((state / "ports.json").read_text())[name])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
        return port
    return 0


def save_ports(state: Path, **ports: int) -> None:
    """Remember the ports in use in ``state`` for the next start (``kept_port``)."""
    (state / "ports.json").write_text(json.dumps(ports) + "\n")


async def start_link_at(
    context: ssl.SSLContext,
    base_url: str,
    profile_id: str | int | None,
    tags: Iterable[str | int],
    provider: int | None,
    bills: int | None,
) -> LinkJob:
    """Start a Link extraction through the admin API of the emulator at ``base_url``."""
    body: dict[str, Any] = {
        "profile_id": None if profile_id is None else str(profile_id),
        "tags": list(tags),
    }
    body.update({k: v for k, v in (("provider", provider), ("bills", bills)) if v is not None})
    answer = await admin_request(context, f"{base_url}/_emulator/link", "POST", body)
    return LinkJob.from_json(answer)


_LINK_SUFFIX = "/link/4.0/"


async def start_link(
    profile_id: str | int | None = None,
    *,
    tags: Iterable[str | int] = (),
    provider: int | None = None,
    bills: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> LinkJob:
    """Start a Link extraction on the running ``wattzon emulator`` the environment names.

    The same as ``Emulator.start_link`` (see it for the arguments), for an emulator
    started elsewhere: it reads ``WATTZON_LINK_URL``, ``WATTZON_CERT``, ``WATTZON_KEY``
    and ``WATTZON_CA_BUNDLE``, the variables ``wattzon emulator`` prints. It stands in
    for a user linking a utility account in WattzOn's hosted UI; the real API has no
    such call.

    Args:
        profile_id: The profile (None: a new one).
        tags: The tags its Link message carries.
        provider: A new profile's utility provider id (default 4).
        bills: How many bills a new profile has (default 3).
        environ: The variables to read (default: ``os.environ``).

    Returns:
        The extraction: its Link ``job_id``, ``profile_id`` and the rest.

    Raises:
        EmulatorError: A variable is missing, ``WATTZON_LINK_URL`` is not an emulator's,
            or the emulator refused the request (the message says why).
    """
    env = os.environ if environ is None else environ
    names = ("WATTZON_LINK_URL", "WATTZON_CERT", "WATTZON_KEY", "WATTZON_CA_BUNDLE")
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise EmulatorError(
            f"set {', '.join(missing)} (the export lines `wattzon emulator` prints)"
        )
    link_url = env["WATTZON_LINK_URL"]
    if not link_url.endswith(_LINK_SUFFIX):
        raise EmulatorError(f"WATTZON_LINK_URL is not the emulator's: {link_url!r}")
    context = client_context(
        Path(env["WATTZON_CA_BUNDLE"]), Path(env["WATTZON_CERT"]), Path(env["WATTZON_KEY"])
    )
    base_url = link_url[: -len(_LINK_SUFFIX)]
    return await start_link_at(context, base_url, profile_id, tags, provider, bills)

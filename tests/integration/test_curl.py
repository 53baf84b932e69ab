"""The vendor's own curl commands (from seed-snap-api.txt) against the emulator, with real curl.

Each command is the vendor's text with the host swapped for the emulator's and
``--cacert ca.crt`` added (the emulator's CA is not in the system trust). The client
certificate comes from the vendor's CSR flow: ``openssl req -new -newkey rsa:2048 -nodes
...``, signed by the emulator as WattzOn would sign it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from wattzon_async.emulator import Emulator

from .conftest import PDF, poll_until

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

#: The vendor's create example, verbatim (the long line is split only here in the source).
CREATE = (
    "pdfcontent=$(base64 bill.pdf)\n"
    """postdata='{"email":"user@example.com","tags":["sfid:12345","demo"],"""
    """"document": {"name":"bill.pdf","content":"'$pdfcontent'"},"provider":4}'\n"""
    "curl -X POST --key client.key --cert client.crt \\\n"
    '-H "Content-Type: application/json" \\\n'
    "https://snap.wattzon.com/api/v1/jobs/ \\\n"
    "-d @<(echo $postdata)\n"
)
LIST = "curl -X GET --key client.key --cert client.crt https://snap.wattzon.com/api/v1/jobs/"
GET = "curl -X GET --key client.key --cert client.crt https://snap.wattzon.com/api/v1/jobs/578/"
GET_TRANSFORMED = (
    "curl -X GET --key client.key --cert client.crt "
    "https://snap.wattzon.com/api/v1/jobs/578/?results=transformed"
)
DOCUMENT = (
    "curl -X GET --key client.key --cert client.crt "
    "https://snap.wattzon.com/api/v1/jobs/578/document/"
)
ZIP = "curl -X GET --key client.key --cert client.crt https://api.wattzon.com/link/4.0/zips/00007"
UTILITIES = (
    "curl -X GET --key client.key --cert client.crt "
    "https://api.wattzon.com/link/4.0/utilities/?zipcode=00007"
)
UTILITY = (
    "curl -X GET --key client.key --cert client.crt https://api.wattzon.com/link/4.0/utilities/3150"
)


def make_csr(directory: Path, common_name: str) -> bytes:
    """The vendor's CSR step: openssl when installed, the same RSA 2048 CSR otherwise."""
    if shutil.which("openssl"):
        subprocess.run(
            [
                "openssl",
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "client.key",
                "-out",
                "client.csr",
                "-subj",
                f"/CN={common_name}",
            ],
            cwd=directory,
            check=True,
            capture_output=True,
        )
        return (directory / "client.csr").read_bytes()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (directory / "client.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def customer(wattzon_emulator: Emulator, tmp_path: Path) -> Path:
    """A folder as the vendor's customer has it: client.key, client.crt, bill.pdf, ca.crt."""
    csr = make_csr(tmp_path, "curl-customer")
    (tmp_path / "client.crt").write_bytes(wattzon_emulator.sign_csr(csr))
    shutil.copy(wattzon_emulator.ca_cert, tmp_path / "ca.crt")
    (tmp_path / "bill.pdf").write_bytes(PDF * 40)
    return tmp_path


async def run(emu: Emulator, folder: Path, command: str, job_id: int = 578) -> Any:
    """Run a vendor command against the emulator and decode its JSON output."""
    script = (
        command.replace("https://snap.wattzon.com/api/v1/", emu.snap_url)
        .replace("https://api.wattzon.com/link/4.0/", emu.link_url)
        .replace("curl -X", "curl -sS --cacert ca.crt -X")
        .replace("/jobs/578/", f"/jobs/{job_id}/")
    )
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        cwd=folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode() + out.decode()
    return json.loads(out)


async def test_vendor_curl_commands(wattzon_emulator: Emulator, customer: Path) -> None:
    emu = wattzon_emulator
    created = await run(emu, customer, CREATE)
    assert created["status"] == "ENQUEUED"
    assert created["tags"] == ["sfid:12345", "demo"]
    assert created["document"]["name"] == "bill.pdf"
    job_id = created["id"]
    listed = await run(emu, customer, LIST)
    assert [job["id"] for job in listed] == [job_id]
    document = await run(emu, customer, DOCUMENT, job_id)
    assert document["name"] == "bill.pdf"

    async def complete() -> dict[str, Any] | None:
        job: dict[str, Any] = await run(emu, customer, GET, job_id)
        return job if job["status"] == "COMPLETE" else None

    job = await poll_until(complete)
    assert job["results"]["Name"]["tokens"]["raw"]
    transformed = await run(emu, customer, GET_TRANSFORMED, job_id)
    assert transformed["results"]["Name"] == job["results"]["Name"]["tokens"]["content"]
    assert (await run(emu, customer, ZIP))["zipcode"] == "00007"
    assert 3150 in (await run(emu, customer, UTILITIES))["provider_ids"]
    assert (await run(emu, customer, UTILITY))["name"]


async def test_curl_without_a_certificate_is_refused(
    wattzon_emulator: Emulator, customer: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "--cacert",
        "ca.crt",
        wattzon_emulator.snap_url + "jobs/",
        cwd=customer,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode != 0
    assert out == b""

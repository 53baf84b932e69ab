"""A plain ``import wattzon_async`` leaves the modules of other features for their first use.

The create machinery (with document uploads), the converter's structuring hooks, the
certificate readers, the waits, the shared store (a client without one never loads it)
and the telemetry of waits, batches and the consumer are imported when first needed;
every public name still imports from ``wattzon_async``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import wattzon_async

#: Modules of the package that ``import wattzon_async`` does not load.
DEFERRED = (
    "wattzon_async.jobs._create",
    "wattzon_async.jobs._upload",
    "wattzon_async._serde",
    "wattzon_async._tls._context",
    "wattzon_async._tls._certinfo",
    "wattzon_async._telemetry._flows",
    "wattzon_async._telemetry._messaging",
    "wattzon_async.jobs._waiting",
    "wattzon_async.jobs._lanes",
    "wattzon_async.store",
    "wattzon_async.jobs._keyclaims",
)


def _modules_after(program: str) -> set[str]:
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            program + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(completed.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def loaded() -> set[str]:
    return _modules_after("import wattzon_async")


@pytest.mark.parametrize("module", DEFERRED)
def test_import_leaves_other_features_alone(module: str, loaded: set[str]) -> None:
    assert module not in loaded
    assert "wattzon_async._client" in loaded  # the client and the models are imported


def test_every_public_name_still_imports() -> None:
    for name in wattzon_async.__all__:
        assert getattr(wattzon_async, name) is not None, name
    from wattzon_async.jobs import Jobs
    from wattzon_async.resources import Jobs as AlsoJobs

    assert AlsoJobs is Jobs


def test_first_use_brings_what_it_needs(pki_paths: tuple[str, str, str]) -> None:
    cert, key, ca = pki_paths
    program = (
        "import wattzon_async\n"
        f"client = wattzon_async.WattzOnClient(cert=({cert!r}, {key!r}), ca_bundle={ca!r})\n"
        "client.jobs._creator\n"
        "client.jobs._waiter\n"
        "import asyncio\n"
        "asyncio.run(client.aclose())\n"
    )
    loaded = _modules_after(program)
    assert {
        "wattzon_async._tls._context",
        "wattzon_async.jobs._create",
        "wattzon_async._serde",
    } <= loaded
    assert "wattzon_async.jobs._waiting" in loaded


@pytest.fixture(scope="module")
def pki_paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    from tests.pki import CertificateAuthority

    folder = tmp_path_factory.mktemp("lazy-pki")
    ca = CertificateAuthority.create()
    ca.save(folder / "ca.crt", folder / "ca.key")
    cert, key = ca.issue("tenant-a").write(folder, "client")
    return str(cert), str(key), str(folder / "ca.crt")

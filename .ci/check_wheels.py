"""Checks the two wheels of this repository: each holds what its distribution promises.

``make dist`` builds both and runs this. The SDK's wheel (``wattzon-async``) must hold no
emulator code and register no pytest plugin, so that ``pip install wattzon-async``
installs no server and changes no test run; its ``emulator`` extra pins the emulator at
the SDK's version. The emulator's wheel (``wattzon-async-emulator``) must hold the
emulator and register the ``wattzon`` pytest plugin, and pin the SDK at the same version.

Usage: ``python .ci/check_wheels.py DIST_FOLDER``; exits 1 and names each failure.
"""

from __future__ import annotations

import configparser
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

#: The thin re-exports the SDK keeps (each only imports ``wattzon_emulator``).
SHIMS = {"wattzon_async/emulator.py", "wattzon_async/testing.py"}
#: More than a re-export would need: a shim this large holds code of its own.
SHIM_LIMIT = 2_000


def _wheel(folder: Path, prefix: str) -> zipfile.ZipFile:
    """The one wheel in ``folder`` whose file name starts with ``prefix-``."""
    found = sorted(folder.glob(f"{prefix}-*.whl"))
    if len(found) != 1:
        raise SystemExit(f"expected one {prefix} wheel in {folder}, found {len(found)}")
    return zipfile.ZipFile(found[0])


def _read(wheel: zipfile.ZipFile, suffix: str) -> str:
    """The text of the dist-info file ending with ``suffix`` (empty when absent)."""
    names = [n for n in wheel.namelist() if ".dist-info/" in n and n.endswith(suffix)]
    return wheel.read(names[0]).decode() if names else ""


def _entry_groups(wheel: zipfile.ZipFile) -> configparser.ConfigParser:
    """The wheel's entry points, group by group."""
    parser = configparser.ConfigParser()
    parser.read_string(_read(wheel, "/entry_points.txt"))
    return parser


def check_client(wheel: zipfile.ZipFile, version: str) -> list[str]:
    """What is wrong with the SDK's wheel (nothing: an empty list)."""
    problems = []
    names = wheel.namelist()
    server = [n for n in names if n.startswith("wattzon_emulator/") or "/emulator/" in n]
    if server:
        problems.append(f"the SDK wheel holds emulator code: {server[:3]}")
    for shim in SHIMS:
        if shim not in names:
            problems.append(f"the SDK wheel lacks the re-export {shim}")
        elif wheel.getinfo(shim).file_size > SHIM_LIMIT:
            problems.append(f"{shim} is more than a re-export")
    if _entry_groups(wheel).has_section("pytest11"):
        problems.append("the SDK wheel registers a pytest11 plugin")
    pin = f"wattzon-async-emulator=={version}; extra == 'emulator'"
    if pin not in _requirements(wheel):
        problems.append(f"the SDK wheel's emulator extra is not {pin!r}")
    return problems


def check_emulator(wheel: zipfile.ZipFile, version: str) -> list[str]:
    """What is wrong with the emulator's wheel (nothing: an empty list)."""
    problems = []
    names = set(wheel.namelist())
    for module in ("__init__", "_server", "_handle", "testing"):
        if f"wattzon_emulator/{module}.py" not in names:
            problems.append(f"the emulator wheel lacks wattzon_emulator/{module}.py")
    if any(n.startswith("wattzon_async/") for n in names):
        problems.append("the emulator wheel holds SDK modules")
    groups = _entry_groups(wheel)
    if not groups.has_section("pytest11") or groups["pytest11"].get("wattzon") != (
        "wattzon_emulator.testing"
    ):
        problems.append("the emulator wheel does not register wattzon_emulator.testing")
    if f"wattzon-async=={version}" not in _requirements(wheel):
        problems.append(f"the emulator wheel does not pin wattzon-async=={version}")
    return problems


def _requirements(wheel: zipfile.ZipFile) -> list[str]:
    """The wheel's ``Requires-Dist`` lines."""
    return Parser().parsestr(_read(wheel, "/METADATA")).get_all("Requires-Dist") or []


def _version(wheel: zipfile.ZipFile) -> str:
    """The wheel's version."""
    return str(Parser().parsestr(_read(wheel, "/METADATA"))["Version"])


def main(argv: list[str]) -> int:
    """Check the wheels in ``argv[0]``; print each problem, return 1 when there is one."""
    folder = Path(argv[0])
    client, emulator = _wheel(folder, "wattzon_async"), _wheel(folder, "wattzon_async_emulator")
    version = _version(client)
    problems = check_client(client, version) + check_emulator(emulator, version)
    if _version(emulator) != version:
        problems.append(f"versions differ: {version} and {_version(emulator)}")
    for problem in problems:
        print(f"check_wheels: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_wheels: wattzon-async {version} and wattzon-async-emulator {version}: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

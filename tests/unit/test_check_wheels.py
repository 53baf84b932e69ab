"""``make dist``'s wheel check fails on each thing it exists to catch (wheels made here)."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIM = "from wattzon_emulator import Emulator\n"


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_wheels", ROOT / ".ci" / "check_wheels.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_wheels = _checker()


def _wheel(path: Path, files: dict[str, str], requires: list[str], entry_points: str) -> None:
    name, version = path.name.split("-")[:2]
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as wheel:
        for file, text in files.items():
            wheel.writestr(file, text)
        wheel.writestr(f"{info}/METADATA", metadata)
        wheel.writestr(f"{info}/entry_points.txt", entry_points)


def _good(
    folder: Path,
    *,
    client_files: dict[str, str] | None = None,
    client_entry: str = "[console_scripts]\nwattzon = wattzon_async.cli:main\n",
    emulator_pin: str = "wattzon-async==0.3.0",
) -> Path:
    files = {"wattzon_async/__init__.py": "", **dict.fromkeys(check_wheels.SHIMS, SHIM)}
    files.update(client_files or {})
    _wheel(
        folder / "wattzon_async-0.3.0-py3-none-any.whl",
        files,
        ["wattzon-async-emulator==0.3.0; extra == 'emulator'"],
        client_entry,
    )
    emulator_files = {
        f"wattzon_emulator/{m}.py": "" for m in ("__init__", "_server", "_handle", "testing")
    }
    _wheel(
        folder / "wattzon_async_emulator-0.3.0-py3-none-any.whl",
        emulator_files,
        [emulator_pin],
        "[pytest11]\nwattzon = wattzon_emulator.testing\n",
    )
    return folder


def test_good_wheels_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_wheels.main([str(_good(tmp_path))]) == 0
    assert "ok" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"client_entry": "[pytest11]\nwattzon = wattzon_async.testing\n"}, "pytest11"),
        ({"client_files": {"wattzon_emulator/_server.py": ""}}, "emulator code"),
        ({"client_files": {"wattzon_async/emulator.py": "x = 1\n" * 1000}}, "re-export"),
        ({"emulator_pin": "wattzon-async>=0.3"}, "does not pin"),
    ],
)
def test_each_broken_promise_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], problem: str
) -> None:
    assert check_wheels.main([str(_good(tmp_path, **change))]) == 1
    assert problem in capsys.readouterr().err

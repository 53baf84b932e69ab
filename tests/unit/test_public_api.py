"""The public surface: __all__ sorted and complete, docstrings everywhere, cheap import."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types

import wattzon_async
import wattzon_async.jobs
import wattzon_async.models
from wattzon_async._httpx import httpx

from .conftest import MakeClient


def test_all_is_sorted() -> None:
    assert wattzon_async.__all__ == sorted(wattzon_async.__all__)


def test_all_is_complete_and_exists() -> None:
    public = {
        name
        for name in dir(wattzon_async)
        if not name.startswith("_")
        and not isinstance(getattr(wattzon_async, name), types.ModuleType)
    }
    assert public - {"annotations", "TYPE_CHECKING", "Any"} == set(wattzon_async.__all__) - {
        "__version__"
    }
    for name in wattzon_async.__all__:
        assert hasattr(wattzon_async, name), name


def test_every_public_name_has_a_docstring() -> None:
    for name in wattzon_async.__all__:
        value = getattr(wattzon_async, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name


def test_errors_have_one_line_docstrings_and_one_root() -> None:
    for name in wattzon_async.__all__:
        value = getattr(wattzon_async, name)
        if inspect.isclass(value) and issubclass(value, Exception):
            assert issubclass(value, wattzon_async.WattzOnError), name
            assert (value.__doc__ or "").strip(), name


def test_import_does_not_load_optional_dependencies() -> None:
    code = (
        "import sys, wattzon_async; "
        "print(sorted(m for m in ('aiobotocore', 'botocore', 'uvicorn', 'starlette', "
        "'moto', 'wattzon_async.notifications', 'asyncpg', 'sqlite3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_client_config_is_a_public_client_config(make_client: MakeClient) -> None:
    client = make_client(_unused)
    assert isinstance(client.config, wattzon_async.ClientConfig)
    assert client.config.retry == wattzon_async.RetryPolicy()


def test_token_is_textbox_by_its_older_name() -> None:
    assert wattzon_async.Token is wattzon_async.TextBox
    assert wattzon_async.models.Token is wattzon_async.TextBox


def test_one_spelling_of_await_job(make_client: MakeClient) -> None:
    client = make_client(_unused)
    method = client.await_job
    assert method == client.jobs.await_job
    assert isinstance(method, types.MethodType)
    assert method.__func__ is wattzon_async.jobs.Jobs.await_job


def _unused(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing should be sent, but {request.method} {request.url} was")

"""What every command gets: its arguments, the environment, a client maker and the output.

Settings are resolved here, once: flags (``--cert``, ``--key``, ...) win over the WATTZON_*
variables, which ``WattzOnClient.from_env`` reads. The client maker is injectable so that
tests can hand the commands a client on an ``httpx.MockTransport``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from attrs import define

from .._errors import ValidationError
from ._errors import CliError, ExitCode

if TYPE_CHECKING:
    from .._client import WattzOnClient
    from ._output import Output

__all__ = ["ClientFactory", "Context", "default_client_factory", "scrub"]

#: Makes a client from the environment and the overrides the flags ask for.
ClientFactory = Callable[[Mapping[str, str], dict[str, Any]], "WattzOnClient"]

_FLAG_SETTINGS = ("key_password", "ca_bundle", "snap_url", "link_url")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)", re.DOTALL)


def default_client_factory(environ: Mapping[str, str], overrides: dict[str, Any]) -> WattzOnClient:
    """Build the client the way a user's script would: ``WattzOnClient.from_env``.

    Args:
        environ: The variables to read WATTZON_* settings from.
        overrides: Settings from flags; they win over the variables.

    Returns:
        A new client (the caller closes it).
    """
    from .._client import WattzOnClient

    return WattzOnClient.from_env(environ, **overrides)


def scrub(message: str, secrets: tuple[str, ...] = ()) -> str:
    """Make a message safe to print: no PEM blocks, secrets or full email addresses.

    Args:
        message: The text to print.
        secrets: Exact values to blank out (passwords).

    Returns:
        The message with key material and secrets replaced and addresses masked.
    """
    message = _PEM.sub("[PEM data removed]", message)
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return _EMAIL.sub(r"\1***@\2", message)


@define
class Context:
    """One command's run: parsed arguments, environment, client maker and output.

    Attributes:
        args: The parsed command line.
        environ: The environment the WATTZON_* variables are read from.
        client_factory: Makes the client from the environment and the flag overrides.
        out: Where results go (tables or JSON).
    """

    args: argparse.Namespace
    environ: Mapping[str, str]
    client_factory: ClientFactory
    out: Output

    def option(self, name: str, default: Any = None) -> Any:
        """An argument by name, or ``default`` when the command has no such option."""
        value = getattr(self.args, name, None)
        return default if value is None else value

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be printed: the key passwords in use."""
        values = (self.option("key_password"), self.environ.get("WATTZON_KEY_PASSWORD"))
        return tuple(v for v in values if isinstance(v, str) and v)

    def overrides(self, **extra: Any) -> dict[str, Any]:
        """The client settings the flags ask for, on top of ``extra``.

        Raises:
            ValidationError: ``--key`` was given without any certificate to pair it with.
        """
        settings = dict(extra)
        cert, key = self.option("cert"), self.option("key")
        if cert is not None:
            settings["cert"] = (cert, key) if key is not None else cert
        elif key is not None:
            env_cert = self.environ.get("WATTZON_CERT")
            if not env_cert:
                raise ValidationError("--key needs --cert (or WATTZON_CERT)", field="key")
            settings["cert"] = (env_cert, key)
        for name in _FLAG_SETTINGS:
            value = self.option(name)
            if value is not None:
                settings[name] = value
        return settings

    def client(self, **extra: Any) -> WattzOnClient:
        """A new client from the flags and the environment (flags win).

        Args:
            extra: Further client settings, e.g. ``wait=WaitPolicy(...)``.

        Returns:
            The client; use it with ``async with``.

        Raises:
            CliError: No certificate is configured at all.
        """
        overrides = self.overrides(**extra)
        if "cert" not in overrides and not self.environ.get("WATTZON_CERT"):
            raise CliError(
                "no client certificate: set WATTZON_CERT (and WATTZON_KEY), or pass --cert "
                "(and --key)",
                ExitCode.USAGE,
            )
        return self.client_factory(self.environ, overrides)

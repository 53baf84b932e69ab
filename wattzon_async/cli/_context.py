"""What every command gets: its arguments, the environment, a client maker and the output.

Settings are resolved here, once: flags (``--cert``, ``--key``, ...) win over the WATTZON_*
variables, which ``WattzOnClient.from_env`` reads. The certificate and its key are
resolved each on its own, so they pair symmetrically: ``--cert`` alone takes its key
from WATTZON_KEY, ``--key`` alone its certificate from WATTZON_CERT, and ``--key ''``
says that the certificate file holds its key (a combined PEM or a .p12). The client
maker is injectable so that tests can hand the commands a client on an
``httpx.MockTransport``.

Errors speak in flags: an SDK error's hint names settings as Python does (``key_password=``)
and :func:`describe` renders it with the command line's flags instead. Nothing here masks
secrets after the fact: no message is ever made with a password or key material in it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from attrs import define

from .._errors import ValidationError, WattzOnError
from .._redact import mask_emails
from ._errors import CliError, ExitCode

if TYPE_CHECKING:
    from .._client import WattzOnClient
    from ._output import Output

__all__ = [
    "CLI_SETTINGS",
    "ClientFactory",
    "Context",
    "default_client_factory",
    "describe",
]

#: Makes a client from the environment and the overrides the flags ask for.
ClientFactory = Callable[[Mapping[str, str], dict[str, Any]], "WattzOnClient"]

_FLAG_SETTINGS = ("key_password", "ca_bundle", "snap_url", "link_url")
_CERT_VARIABLES = frozenset({"WATTZON_CERT", "WATTZON_KEY"})

#: How the command line names each setting in an error's hint (see ``WattzOnError.hint``).
CLI_SETTINGS: Mapping[str, str] = {
    "cert": "--cert (or WATTZON_CERT)",
    "cert_pair": "--cert CERT --key KEY (or WATTZON_CERT and WATTZON_KEY)",
    "cert_alone": "--cert with --key '' (one file, no separate key)",
    "key_password": "--key-password (or WATTZON_KEY_PASSWORD)",
    "ca_bundle": "--ca-bundle (or WATTZON_CA_BUNDLE)",
    "snap_url": "--snap-url (or WATTZON_SNAP_URL)",
    "link_url": "--link-url (or WATTZON_LINK_URL)",
    "force": "--force",
    "overwrite": "--force",
    "check_document": "--any-document",
}
#: The settings a ValidationError's ``field`` names, as the command line spells them.
_FIELDS: Mapping[str, str] = {
    **CLI_SETTINGS,
    "cert": "--cert/--key (or WATTZON_CERT/WATTZON_KEY)",
    "key_path": "--key",
    "csr_path": "--csr",
}


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


def describe(exc: BaseException) -> str:
    """An exception's message for the command line: settings named by their flags.

    Args:
        exc: The error.

    Returns:
        The message, its hint rendered with :data:`CLI_SETTINGS` and a setting a
        ValidationError starts with (``snap_url: ...``) named by its flag; addresses masked.
    """
    if not isinstance(exc, WattzOnError):
        return mask_emails(str(exc))
    message = exc.render(CLI_SETTINGS)
    field = exc.field if isinstance(exc, ValidationError) else None
    if field is not None and field in _FIELDS and message.startswith(f"{field}:"):
        message = _FIELDS[field] + message[len(field) :]
    return mask_emails(message)


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

    def certificate(self) -> str | tuple[str, str]:
        """The ``cert=`` setting: each of certificate and key from its flag, else its variable.

        Returns:
            ``(cert, key)``, or the certificate alone when there is no key (or ``--key ''``).

        Raises:
            CliError: No certificate is configured, or only a key.
        """
        cert = self.option("cert") or self.environ.get("WATTZON_CERT")
        key = self.option("key")
        if key is None:
            key = self.environ.get("WATTZON_KEY")
        if not cert:
            if key:
                raise CliError(
                    "a key but no certificate: pass --cert (or set WATTZON_CERT) too",
                    ExitCode.USAGE,
                )
            raise CliError(
                "no client certificate: set WATTZON_CERT (and WATTZON_KEY), or pass --cert "
                "(and --key)",
                ExitCode.USAGE,
            )
        return (cert, key) if key else cert

    def overrides(self, **extra: Any) -> dict[str, Any]:
        """The client settings the flags and variables ask for, on top of ``extra``.

        Raises:
            CliError: No certificate is configured (see :meth:`certificate`).
        """
        settings = dict(extra, cert=self.certificate())
        for name in _FLAG_SETTINGS:
            value = self.option(name)
            if value is not None:
                settings[name] = value
        return settings

    def client(self, **extra: Any) -> WattzOnClient:
        """A new client from the flags and the environment (flags win).

        The certificate is resolved here (:meth:`certificate`), so the client maker gets
        the environment without WATTZON_CERT and WATTZON_KEY.

        Args:
            extra: Further client settings, e.g. ``wait=WaitPolicy(...)``.

        Returns:
            The client; use it with ``async with``.

        Raises:
            CliError: No certificate is configured at all.
        """
        overrides = self.overrides(**extra)
        environ = {k: v for k, v in self.environ.items() if k not in _CERT_VARIABLES}
        return self.client_factory(environ, overrides)

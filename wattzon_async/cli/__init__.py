"""The ``wattzon`` command line: submit bills, read jobs, look things up, manage certificates.

The same SDK calls a script would make, packaged as commands for a shell, a cron job or
a CI step. Output is a readable table (through ``rich``, the ``cli`` extra), or one JSON
document on stdout with ``--json``. Settings come from flags or from the WATTZON_*
variables (WATTZON_CERT, WATTZON_KEY, WATTZON_KEY_PASSWORD, WATTZON_CA_BUNDLE,
WATTZON_SNAP_URL, WATTZON_LINK_URL); each flag wins over its variable, the certificate
and the key each on its own (``--key ''``: the certificate file holds its key).

Commands::

    wattzon submit FILES... --provider N --email E [--tag T ...] [--wait] [--out F]
    wattzon jobs list|get|wait
    wattzon document download JOB_ID [--dest PATH] [--force]
    wattzon zips get ZIP
    wattzon utilities find|get
    wattzon link bills PROFILE_ID
    wattzon cert csr|check
    wattzon emulator
    wattzon demo

Exit codes are :class:`ExitCode`'s, defined once with each code's meaning; ``wattzon
--help`` lists them (``ExitCode.TIMEOUT.meaning`` says what 5 means).

An error is one line on stderr, ``wattzon: error: <message>``; ``--debug`` adds the
traceback. Key material and passwords never enter a message (nothing is masked after
the fact); settings are named by their flags and email addresses are masked.
"""

from __future__ import annotations

from ._app import ClientFactory, ExitCode, main, run

__all__ = ["ClientFactory", "ExitCode", "main", "run"]

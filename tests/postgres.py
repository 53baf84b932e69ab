"""A real PostgreSQL server for the test session: started in a temporary folder, then stopped.

The server binaries come from the ``pgserver`` wheel (Python 3.11 and 3.12), else from
``initdb``/``pg_ctl`` on PATH (or Debian's ``/usr/lib/postgresql/<version>/bin``); with
neither, the tests that need PostgreSQL are skipped with the reason. Each server gets a
fresh data folder and socket folder under the system's temporary folder and a TCP port
the OS just handed out, so pytest-xdist workers (one server each) never clash. As root
(PostgreSQL refuses to run as root), the server runs as the ``postgres`` user, or
``nobody``. Stopping it is ``pg_ctl stop -m fast`` (then immediate), and the folder
is removed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import attrs

USER = "wattzon"
#: The password of USER over TCP; tests check that it never shows in a message.
PASSWORD = "s3cret-Pg-pw"
DATABASE = "postgres"


def binaries() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    # Found, not imported: importing pgserver warns about XDG_RUNTIME_DIR on some hosts.
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin is not None:
        folder = Path(spec.origin).parent / "pginstall" / "bin"
        if (folder / "initdb").exists():
            return folder
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(initdb).resolve().parent
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").exists():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run_as() -> str | None:
    """The user to run the server as when this is root (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return None


@attrs.define
class PostgresServer:
    """One running server: its URLs, and stop() / restart()."""

    bin: Path
    folder: Path
    port: int
    user: str | None

    @property
    def data(self) -> Path:
        """The data folder."""
        return self.folder / "data"

    @property
    def sockets(self) -> Path:
        """The folder of the server's Unix socket."""
        return self.folder / "sock"

    @property
    def url(self) -> str:
        """A TCP URL with a password: ``postgresql://user:pw@127.0.0.1:port/db``."""
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def socket_url(self) -> str:
        """libpq's socket form: ``postgresql://user@/db?host=/socket/dir&port=N``."""
        return f"postgresql://{USER}@/{DATABASE}?host={self.sockets}&port={self.port}"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), *args],
            user=self.user,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} "
            "-c fsync=off -c synchronous_commit=off -c max_connections=300"
        )
        self._ctl("-l", str(self.folder / "server.log"), "-w", "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        """Stop the server (fast, then immediate if that fails)."""
        if self._ctl("-m", "fast", "-w", "-t", "60", "stop", check=False).returncode != 0:
            self._ctl("-m", "immediate", "-w", "stop", check=False)

    def restart(self) -> None:
        """Stop and start again: every connection is dropped."""
        self.stop()
        self.start()

    def log(self) -> str:
        """The server's log so far."""
        with contextlib.suppress(OSError):
            return (self.folder / "server.log").read_text(errors="replace")
        return ""


def _reachable(path: Path, user: str) -> bool:
    """Whether ``user`` can reach ``path``: no folder above it shuts others out.

    A clone in a private folder (``mktemp -d`` makes them 0700) holds the pgserver wheel's
    binaries where the server's own user cannot run them.
    """
    uid = pwd.getpwnam(user).pw_uid
    for folder in (path, *path.parents):
        info = folder.stat()
        if info.st_uid != uid and not info.st_mode & stat.S_IXOTH:
            return False
    return True


def _copied(bin: Path, folder: Path) -> Path:
    """A copy of the installation ``bin`` belongs to, inside ``folder``: its ``bin``.

    The layout is kept two levels up, as the wheel's binaries find the libraries it vendors
    (``pgserver.libs``, beside the package) by a path relative to themselves.
    """
    install = bin.parent
    package = install.parent
    target = folder / "pg" / package.name / install.name
    shutil.copytree(install, target, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, folder / "pg" / libs.name, symlinks=True)
    return target / bin.name


def _init(bin: Path, folder: Path, user: str | None) -> None:
    (folder / "data").mkdir()
    (folder / "sock").mkdir()
    password = folder / "pw"
    password.write_text(PASSWORD + "\n")
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (folder, folder / "data", folder / "sock", password):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    command = [
        str(bin / "initdb"), "-D", str(folder / "data"), "-U", USER, "-E", "UTF8",
        "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={password}",
        "--no-sync", "--no-instructions",
    ]  # fmt: skip
    subprocess.run(
        command,
        user=user,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """A fresh server for as long as the block runs (RuntimeError when none can start).

    Raises:
        LookupError: No PostgreSQL binaries on this machine (the reason to skip).
    """
    bin = binaries()
    if bin is None:
        raise LookupError(
            "no PostgreSQL server binaries: install the pgserver wheel (Python 3.11/3.12, "
            "in the dev group) or PostgreSQL (initdb and pg_ctl on PATH)"
        )
    user = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="wzpg-", dir="/tmp" if os.path.isdir("/tmp") else None))
    os.chmod(folder, 0o755)
    try:
        if user is not None and not _reachable(bin, user):
            bin = _copied(bin, folder)
        _init(bin, folder, user)
        server = PostgresServer(bin=bin, folder=folder, port=_free_port(), user=user)
        for attempt in range(5):  # the port may be taken between choosing and binding it
            try:
                server.start()
                break
            except subprocess.CalledProcessError:
                if attempt == 4:
                    raise RuntimeError(f"PostgreSQL did not start:\n{server.log()}") from None
                server.port = _free_port()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

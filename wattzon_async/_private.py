"""Files and folders that hold personal data or keys: owner-only, whatever the umask.

A batch journal holds email addresses and job ids, the emulator's state holds jobs and
keys, a key file is a key. On a shared machine the default umask (``022``) would make
each of them readable by every user. Everything here creates with the owner-only mode
from the start (``0600`` for files, ``0700`` for folders), so there is no moment at
which another user could open the file, and sets the mode again after creation in case
the umask was unusual. A umask can only take permissions away, never add them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "create_private_file",
    "open_private",
    "private_dir",
]

#: Read and write for the owner only.
PRIVATE_FILE_MODE = 0o600
#: Read, write and enter for the owner only.
PRIVATE_DIR_MODE = 0o700


def create_private_file(path: str | os.PathLike[str]) -> bool:
    """Create ``path`` empty with mode ``0600`` unless it exists; an existing one is kept.

    Returns:
        True when the file was created now.

    Raises:
        OSError: It could not be created (no such folder, no permission).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    try:
        _fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return True


def open_private(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open(path, flags)`` where a file it creates is ``0600`` (an existing one too)."""
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_FILE_MODE)
    with contextlib.suppress(OSError):  # a file of another owner: leave its mode alone
        _fchmod(fd, PRIVATE_FILE_MODE)
    return fd


def private_dir(path: str | os.PathLike[str], *, tighten: bool = False) -> Path:
    """Make a folder (and its missing parents) with mode ``0700``.

    Args:
        path: The folder.
        tighten: Also set ``0700`` on a folder that already exists (one the SDK owns,
            such as the emulator's state folder); else an existing folder is left as
            it is.

    Returns:
        The folder as a Path.
    """
    folder = Path(path)
    existed = folder.is_dir()
    folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if not existed or tighten:
        os.chmod(folder, PRIVATE_DIR_MODE)
    return folder


def _fchmod(fd: int, mode: int) -> None:
    if hasattr(os, "fchmod"):  # not on Windows before 3.13: the umask has no say there
        os.fchmod(fd, mode)

"""Files that say "I am still here" by being ``flock``-ed for as long as their owner is:
waiting for an owner costs no CPU, and a crash never leaves anybody waiting."""

import fcntl
import os
from pathlib import Path
from typing import Optional

from . import files

O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def mkdir(directory: Path) -> None:
    """*directory* as a private directory of ours (made when missing)."""
    files.private_dir(directory)


def unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def create_held(directory: Path, name: str, content: bytes, tries: int = 5) -> Optional[int]:
    """Create ``directory/name`` with *content*, exclusively locked; the descriptor that
    holds the lock (close it, after unlinking the file, to let go).  None if the
    directory kept disappearing (its last user removes it) or the name exists."""
    for _ in range(tries):
        mkdir(directory)
        hidden = directory / f".new-{os.urandom(6).hex()}"
        try:
            fd = os.open(hidden, os.O_RDWR | os.O_CREAT | os.O_EXCL | O_CLOEXEC, 0o600)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, content)
            if os.path.lexists(directory / name):
                raise FileExistsError(str(directory / name))
            os.rename(hidden, directory / name)
        except FileNotFoundError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            unlink(hidden)
            raise
        return fd
    return None


def released(path: Path, blocking: bool) -> bool:
    """Whether the owner of *path* has let go of it (waiting for that when *blocking*).
    A leftover of a dead owner is removed.  A file that is not a regular file of ours
    holds nobody: it is not waited for (and left alone)."""
    try:
        fd = files.open_owned(path)
    except FileNotFoundError:
        return True
    except files.Untrusted:
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        if same_file(fd, path):
            unlink(path)
        return True
    finally:
        os.close(fd)


def let_go(path: Path, fd: int) -> None:
    """The owner's end: remove *path*, then release its lock (in that order, so that a
    waiter finds it gone rather than left over)."""
    unlink(path)
    files.close_quietly(fd)

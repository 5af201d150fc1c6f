"""Files that say "I am still here" by being ``flock``-ed for as long as their owner is:
waiting for an owner costs no CPU, and a crash never leaves anybody waiting."""

import os

from . import files

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Optional

O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def mkdir(directory: str) -> None:
    """*directory* as a private directory of ours (made when missing)."""
    files.private_dir(directory)


def unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def same_file(fd: int, path: str) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def create_held(directory: str, name: str, content: bytes, tries: int = 5) -> "Optional[int]":
    """Create ``directory/name`` with *content*, exclusively locked; the descriptor that
    holds the lock (close it, after unlinking the file, to let go).  None if the
    directory kept disappearing (its last user removes it) or the name exists."""
    import fcntl  # a job's or a terminal's queue only: not on the way of a lone process's session

    for _ in range(tries):
        mkdir(directory)
        hidden = os.path.join(directory, f".new-{os.urandom(6).hex()}")
        target = os.path.join(directory, name)
        try:
            fd = os.open(hidden, os.O_RDWR | os.O_CREAT | os.O_EXCL | O_CLOEXEC, 0o600)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, content)
            if os.path.lexists(target):
                raise FileExistsError(target)
            os.rename(hidden, target)
        except FileNotFoundError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            unlink(hidden)
            raise
        return fd
    return None


def released(path: str, blocking: bool) -> bool:
    """Whether the owner of *path* has let go of it (waiting for that when *blocking*).
    A leftover of a dead owner is removed.  A file that is not a regular file of ours
    holds nobody: it is not waited for (and left alone)."""
    import fcntl  # see create_held

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


def let_go(path: str, fd: int) -> None:
    """The owner's end: remove *path*, then release its lock (in that order, so that a
    waiter finds it gone rather than left over)."""
    unlink(path)
    files.close_quietly(fd)

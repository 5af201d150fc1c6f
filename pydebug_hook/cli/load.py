"""``pydebug-hook load PATH``: ipdb (pdb where ipdb cannot be used) at the raising frame
of a dump, the stack navigable, locals as values."""

import contextlib
import gzip
import io
import linecache
import os
import stat
import sys
import time
import zlib
from typing import Any, Dict, Optional, Tuple

from ..core import notice
from ..modes.console.debugger import make_debugger
from ..modes.dump.files import HEADER_LIMIT, DumpError, parse_header

_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


def _read(path: str) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]], int]:
    """The dump's rebuilt objects, our metadata (None for a plain coredumpy dump), and
    the owner of the file; DumpError (one line) for anything that is no readable dump."""
    try:
        # O_NONBLOCK: a FIFO in place of the file must not hang the command.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise DumpError(f"cannot be opened ({error.strerror or error})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DumpError(f"is {_KINDS.get(stat.S_IFMT(st.st_mode), 'not a regular file')}, not a dump")
        meta = parse_header(os.pread(fd, HEADER_LIMIT, 0))
        # coredumpy, once main() took the working directory off sys.path: a dump names
        # modules to import, and a `coredumpy.py` or `torch.py` there is not to be one.
        from ..modes.dump import bounds

        chatter = io.StringIO()  # coredumpy prints a version warning on stdout; ours is below
        try:
            with contextlib.redirect_stdout(chatter):
                data = bounds.load_data(f"/proc/self/fd/{fd}")  # this very file, whatever the path is now
        except (EOFError, zlib.error) as error:
            raise DumpError(f"is truncated or damaged ({notice.describe_error(error)})") from None
        except gzip.BadGzipFile as error:
            raise DumpError(f"is damaged ({notice.describe_error(error)})") from None
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
            raise DumpError(f"is not a dump coredumpy can read ({notice.describe_error(error)})") from None
        except MemoryError:
            raise DumpError("is too large to open here (out of memory)") from None
        if data.get("frame") is None or not hasattr(data["frame"], "f_code"):
            raise DumpError("holds no stack")
        return data, meta, st.st_uid
    finally:
        os.close(fd)


def _intro(path: str, meta: Optional[Dict[str, Any]]) -> None:
    from ..modes.dump.bounds import version  # imported by _read already

    if meta is None:
        notice.say(f"{path}: a coredumpy dump without pydebug-hook's header")
        return
    where = [f"pid {meta.get('pid')}", f"host {meta.get('host')}"]
    if meta.get("thread") not in (None, "MainThread"):
        where.append(f"thread {meta.get('thread')}")
    if meta.get("child"):
        where.append(str(meta["child"]))
    label = f" [{meta['label']}]" if meta.get("label") else ""
    saved = meta.get("saved_at")
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(saved)) if isinstance(saved, (int, float)) else "?"
    notice.say(
        notice.printable(
            f"{meta.get('kind', 'post-mortem')} of {meta.get('exception')} on rank {meta.get('rank')}/{meta.get('world_size')} "
            f"({', '.join(map(str, where))}){label}, saved {when}, Python {meta.get('python')}"
        )
    )
    if meta.get("coredumpy") not in (None, version()):
        notice.say(f"written with coredumpy {meta.get('coredumpy')}, read with {version()}: some objects may not come back")
    left_out = meta.get("left_out")
    if isinstance(left_out, dict) and left_out:
        what = ", ".join(f"{key}: {value}" for key, value in left_out.items())
        notice.say(notice.printable(f"not everything was saved ({what}); such values show as <not saved: ...>"))
    text = meta.get("traceback")
    if isinstance(text, str) and text and meta.get("kind") != "snapshot":
        notice.write("".join(notice.printable(line) + "\n" for line in text.splitlines()))


def main(path: str) -> int:
    shown = os.path.abspath(path)
    # `python -m pydebug_hook load` puts the working directory first on sys.path, and a
    # dump names modules to import: a shared directory's `torch.py` must not be the one.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    try:
        data, meta, owner = _read(path)
    except DumpError as error:
        notice.say(f"{shown} {error}")  # "... is truncated or damaged (...)"
        return 1
    if owner not in (os.geteuid(), 0):
        notice.say(f"{shown} belongs to uid {owner}: opening a dump imports the modules it names; open only dumps you trust")
    _intro(shown, meta)
    for filename, lines in (data.get("files") or {}).items():
        if isinstance(filename, str) and isinstance(lines, list):
            linecache.cache[filename] = (len(lines), None, lines, filename)  # the source as it was
    debugger = make_debugger()
    hooks = sys.excepthook, sys.displayhook
    try:
        debugger.reset()
        debugger.interaction(data["frame"], None)
    except KeyboardInterrupt:
        return 130
    finally:
        sys.excepthook, sys.displayhook = hooks
    return 0

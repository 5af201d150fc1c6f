"""A job's shared place in a directory its hosts share (``IPDB_JOB_DIR``: shared home or
scratch on a cluster), for jobs without torch (Slurm, MPI).  The directory must be ours
and private (0700, made so when missing); a job has a folder in it, every file there is
0600 and read with core/files' checks.  ``ls`` reads it from any machine that sees it,
a login node included."""

import os
import re
import time
import zlib

from ..core import files
from .place import EXPIRES_S, Place, PlaceError

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _folder_name(key: str) -> str:
    return f"{_SAFE.sub('_', key)[:60]}-{zlib.crc32(key.encode()):08x}"


def _private(path: str, create: bool = True) -> str:
    try:
        return files.private_dir(path, create)
    except files.Untrusted as exc:
        raise PlaceError(f"IPDB_JOB_DIR: {exc}; not using it (it must be a directory of yours that only you can enter: chmod 700)") from None
    except FileNotFoundError:
        raise PlaceError(f"IPDB_JOB_DIR: {path} does not exist (nor its parent)") from None


def _read(path: str) -> "Optional[Dict[str, Any]]":
    try:
        return files.read_json(path)
    except (OSError, ValueError):
        return None  # gone meanwhile, half-made by a crash, or not a file of ours


class DirPlace(Place):
    """``<IPDB_JOB_DIR>/<job>/``: ``root`` (the first failure: made once, by ``link``),
    ``e-<id>.json`` (an entry, with its last beat), ``open/<id>`` (present while a
    counted entry is open), ``pulse`` (rewritten by every beat).  For ``ls``, one place
    may stand for every job folder of the directory."""

    poll_s = 3.0  # shared file systems: the exit hold lists ``open/`` this often
    trusted = True  # nobody but us can write in a private directory of ours

    def __init__(self, root: str, folders: "List[str]") -> None:
        self.base = root
        self.folders = folders
        self.describe = f"the job directory {folders[0] if len(folders) == 1 else root}"

    @classmethod
    def for_job(cls, root: str, key: str) -> "DirPlace":
        base = _private(root)
        folder = _private(os.path.join(base, _folder_name(key)))
        _private(os.path.join(folder, "open"))
        return cls(base, [folder])

    @classmethod
    def for_listing(cls, root: str) -> "DirPlace":
        """Every job folder of *root*, read only (``ls`` makes nothing)."""
        base = root
        try:
            files.private_dir(base, create=False)
        except FileNotFoundError:
            return cls(base, [base])  # nothing was ever shared there
        except files.Untrusted as exc:
            raise PlaceError(f"{exc}: not a private directory of yours") from None
        folders = []
        for name in sorted(os.listdir(base)):
            try:
                folders.append(files.private_dir(os.path.join(base, name), create=False))
            except OSError:
                continue  # not a folder of ours
        place = cls(base, folders or [base])
        place.describe = f"the job directory {root}"
        return place

    @property
    def folder(self) -> str:
        return self.folders[0]

    # -- the root cause --------------------------------------------------------------

    def claim_root(self, info: "Dict[str, Any]") -> "Dict[str, Any]":
        target = os.path.join(self.folder, "root")
        staged = os.path.join(self.folder, f".root-{os.urandom(6).hex()}")
        files.write_json(staged, info)
        try:
            os.link(staged, target)  # fails when another failure claimed it first
        except FileExistsError:
            pass
        finally:
            os.unlink(staged)
        return self.root() or info

    def root(self) -> "Optional[Dict[str, Any]]":
        return _read(os.path.join(self.folder, "root"))

    def is_ended(self, entry_id: str) -> bool:
        entry = _read(self._entry_path(entry_id))
        return entry is not None and entry.get("ended_at") is not None

    # -- entries -------------------------------------------------------------------------

    def _entry_path(self, entry_id: str) -> str:
        return os.path.join(self.folder, f"e-{entry_id}.json")

    def opened(self, entry: "Dict[str, Any]") -> None:
        self.write(entry)
        if entry.get("counts"):
            fd = os.open(os.path.join(self.folder, "open", entry["id"]), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            os.close(fd)

    def write(self, entry: "Dict[str, Any]") -> None:
        files.write_json(self._entry_path(entry["id"]), {**entry, "beat_at": time.time()})

    def closed(self, entry: "Dict[str, Any]") -> None:
        self.write(entry)
        try:
            os.unlink(os.path.join(self.folder, "open", entry["id"]))
        except FileNotFoundError:
            pass

    def beat(self, entry_ids: "Iterable[str]") -> None:
        now = time.time()
        for entry_id in entry_ids:
            path = self._entry_path(entry_id)
            entry = _read(path)
            if entry is not None and entry.get("ended_at") is None:
                entry["beat_at"] = now
                files.write_json(path, entry)
        files.write_json(os.path.join(self.folder, "pulse"), {"at": now, "by": os.urandom(6).hex()})

    def entries(self) -> "List[Dict[str, Any]]":
        found = []
        now = time.time()
        for folder in self.folders:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                if not (name.startswith("e-") and name.endswith(".json")):
                    continue
                entry = _read(os.path.join(folder, name))
                if entry is None:
                    continue
                last = entry.get("ended_at") or entry.get("beat_at")
                if not isinstance(last, (int, float)) or now - last > EXPIRES_S:
                    self._expire(folder, name, entry)
                    continue
                found.append(entry)
        return found

    def _expire(self, folder: str, name: str, entry: "Dict[str, Any]") -> None:
        """An entry ended or silent for an hour: forgotten, and its job's folder with the
        last one."""
        for path in (os.path.join(folder, name), os.path.join(folder, "open", str(entry.get("id")))):
            try:
                os.unlink(path)
            except OSError:
                pass
        try:
            if not any(n.startswith("e-") for n in os.listdir(folder)):
                for leftover in ("root", "pulse"):
                    try:
                        os.unlink(os.path.join(folder, leftover))
                    except OSError:
                        pass
                os.rmdir(os.path.join(folder, "open"))
                os.rmdir(folder)
        except OSError:
            pass

    def open_count(self) -> int:
        try:
            return len(os.listdir(os.path.join(self.folder, "open")))
        except FileNotFoundError:
            return 0

    def pulse(self) -> "Optional[str]":
        data = _read(os.path.join(self.folder, "pulse"))
        return None if data is None else str(data.get("by"))

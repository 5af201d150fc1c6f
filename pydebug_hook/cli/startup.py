"""Whether this interpreter starts pydebug_hook: the ``.pth`` line and where Python reads
it, and the ``sitecustomize`` template for installs where it does not (``pip install
--target`` with ``PYTHONPATH``, zipapps, directories put on ``sys.path`` by hand).
"""

import os
import site
import sys
from dataclasses import dataclass
from typing import List, Optional

from .. import _bootstrap
from ..core import notice

TEMPLATE_NAME = "sitecustomize.py.template"  # in the package; the repo's sitecustomize_template/sitecustomize.py
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../site-packages/pydebug_hook


def template_text() -> str:
    with open(os.path.join(PACKAGE_DIR, TEMPLATE_NAME), encoding="utf-8") as f:
        return f.read()


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return path


def _site_dirs() -> List[str]:
    """The system (or virtual environment) site directories."""
    try:
        return list(site.getsitepackages())
    except AttributeError:  # some old virtualenv layouts
        return []


def _user_site() -> Optional[str]:
    try:
        return site.getusersitepackages()
    except AttributeError:
        return None


def _candidates() -> List[str]:
    """Where a ``pydebug_hook.pth`` may be: next to the package that runs now first (an
    install puts both in one directory), then the site directories and ``sys.path``."""
    dirs = [os.path.dirname(PACKAGE_DIR), *_site_dirs()]
    user = _user_site()
    if user:
        dirs.append(user)
    dirs.extend(p for p in sys.path if p and os.path.isdir(p))
    seen, out = set(), []
    for d in dirs:
        key = _real(d)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def why_not_read(directory: str) -> Optional[str]:
    """Why this interpreter did not run the ``.pth`` files of *directory* at start-up,
    or None when it did."""
    if sys.flags.no_site:
        return "python -S imports no site module: no .pth file is read"
    here = _real(directory)
    if here in {_real(d) for d in _site_dirs()}:
        return None
    user = _user_site()
    if user and here == _real(user):
        if site.ENABLE_USER_SITE:
            return None
        if sys.flags.no_user_site or sys.flags.isolated:
            flag = "-I" if sys.flags.isolated else "-s"
            return f"it is the user site directory, which python {flag} skips"
        if os.environ.get("PYTHONNOUSERSITE"):
            return "it is the user site directory, which PYTHONNOUSERSITE turns off"
        return "it is the user site directory, which this interpreter does not use (a virtual environment)"
    return (
        f"{directory} is not a site directory: Python reads .pth files only in site directories "
        f"(write a sitecustomize there instead: pydebug-hook sitecustomize {directory})"
    )


@dataclass
class Startup:
    pth: Optional[str]  # the pydebug_hook.pth found, if any
    pth_current: bool  # it holds the line of this version
    pth_skipped: Optional[str]  # why this interpreter does not read it (None: it does)
    start_file: Optional[str]  # the PEP 829 file found, if any
    sitecustomize: Optional[str]  # our sitecustomize, when it is the one site imports

    @property
    def can_start(self) -> bool:
        """Whether the hook can be active in this interpreter (when IPDB_DEBUG says so)."""
        return (self.pth is not None and self.pth_skipped is None) or self.sitecustomize is not None


def _our_sitecustomize() -> Optional[str]:
    """The ``sitecustomize.py`` that ``site`` imports in this interpreter (the first on
    ``sys.path``), when it is a copy of our template."""
    if sys.flags.no_site:
        return None
    try:
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec("sitecustomize", sys.path)
        origin = getattr(spec, "origin", None)
        if not origin or not os.path.isfile(origin):
            return None
        with open(origin, encoding="utf-8") as f:
            return origin if f.read() == template_text() else None
    except Exception:
        return None


def survey() -> Startup:
    pth = start = None
    current = False
    for d in _candidates():
        path = os.path.join(d, _bootstrap.PTH_NAME)
        if pth is None and os.path.isfile(path):
            pth = path
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read() == _bootstrap.PTH_LINE
            except OSError:
                pass
        path = os.path.join(d, _bootstrap.START_NAME)
        if start is None and os.path.isfile(path):
            start = path
    skipped = why_not_read(os.path.dirname(pth)) if pth is not None else None
    return Startup(pth, current, skipped, start, _our_sitecustomize())


def write_sitecustomize(directory: str, force: bool = False) -> int:
    """``pydebug-hook sitecustomize DIR``: the template as ``DIR/sitecustomize.py``."""
    text = template_text()
    target = os.path.join(directory, "sitecustomize.py")
    try:
        with open(target, encoding="utf-8") as f:
            existing: Optional[str] = f.read()
    except FileNotFoundError:
        existing = None
    except (OSError, UnicodeDecodeError) as exc:
        notice.say(f"cannot read {target}: {exc}")
        return 1
    if existing == text:
        print(f"{target} is already pydebug_hook's sitecustomize")
        return 0
    if existing is not None and not force:
        notice.say(f"{target} exists and is not pydebug_hook's: left alone (--force replaces it)")
        return 1
    try:
        os.makedirs(directory, exist_ok=True)
        tmp = f"{target}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        notice.say(f"cannot write {target}: {exc}")
        return 1
    print(f"wrote {target}: interpreters with {directory} on sys.path (PYTHONPATH) start pydebug_hook when IPDB_DEBUG is set")
    return 0

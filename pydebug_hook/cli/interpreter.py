"""Which Python ``run`` and ``doctor`` are about: the one ``python`` means to the user (an
activated environment, or ``--python``), handed over to when it is not this one."""

import os
import shutil
import sys
from typing import List, Optional

TOOL_MARKERS = ("uv-receipt.toml", "pipx_metadata.json")  # in the venv of a uv / pipx tool
handed_over = False  # set in the interpreter handed over to: it must not hand over again


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return a == b


def tool_install() -> bool:
    return any(os.path.exists(os.path.join(sys.prefix, marker)) for marker in TOOL_MARKERS)


def active_python() -> Optional[str]:
    """The interpreter of the user's active environment, when it is not this one."""
    if handed_over:
        return None
    venv = os.environ.get("VIRTUAL_ENV")
    if venv and os.path.isabs(venv):
        candidate = os.path.join(venv, "bin", "python")
        if _same_dir(venv, sys.prefix):
            return None
        if os.access(candidate, os.X_OK):
            return candidate
    if tool_install():
        ours = os.path.dirname(os.path.abspath(sys.executable))
        for name in ("python", "python3"):
            found = shutil.which(name)
            if found and not _same_dir(os.path.dirname(os.path.abspath(found)), ours):
                return found
    return None


# Run in the other interpreter: its own pydebug_hook if it has one, else ours, loaded
# from its directory without putting our environment on sys.path.
_BOOT = """
import sys
if sys.version_info < (3, 10):
    sys.stderr.write("pydebug_hook: %s is Python %d.%d; pydebug-hook needs 3.10 or later\\n" % ((sys.executable,) + sys.version_info[:2]))
    raise SystemExit(2)
try:
    import pydebug_hook.cli
except ImportError:
    import importlib.util
    spec = importlib.util.spec_from_file_location("pydebug_hook", {init!r}, submodule_search_locations=[{package!r}])
    module = importlib.util.module_from_spec(spec)
    sys.modules["pydebug_hook"] = module
    spec.loader.exec_module(module)
    import pydebug_hook.cli
try:
    import pydebug_hook.cli.interpreter
    pydebug_hook.cli.interpreter.handed_over = True
except ImportError:  # its own pydebug_hook, older: it does not hand over anyway
    pass
sys.argv[0] = "pydebug-hook"
raise SystemExit(pydebug_hook.cli.main(sys.argv[1:]))
"""


def hand_over(python: str, argv: List[str]) -> None:
    """Replace this process with *python* running ``pydebug-hook ARGV`` (does not return)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    boot = _BOOT.format(init=os.path.join(package, "__init__.py"), package=package)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(python, [python, "-c", boot, *argv])

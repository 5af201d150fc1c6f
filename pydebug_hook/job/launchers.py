"""Launcher processes (torchrun's agent, accelerate, deepspeed) are not ours to debug:
they inherit ``IPDB_DEBUG`` like their workers, and report their workers' failures with a
summary exception that a session would hold up forever (docs/distributed.md)."""

import os
import sys

from ..core.notice import printable, say

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Optional

_LAUNCHER_MODULES = ("torch.distributed.run", "torch.distributed.launch", "accelerate.commands.launch")
_LAUNCHER_SCRIPTS = ("torchrun", "accelerate", "deepspeed")
_SUMMARY_EXCEPTIONS = (("torch.distributed.elastic.multiprocessing.errors", "ChildFailedError"),)


def _main_module_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return getattr(spec, "name", "") or ""


def is_launcher_process() -> bool:
    if _main_module_name() in _LAUNCHER_MODULES:
        return True
    argv0 = os.path.basename((getattr(sys, "argv", None) or [""])[0])
    return argv0 in _LAUNCHER_SCRIPTS


def _launcher_name() -> str:
    name = _main_module_name()
    if name in _LAUNCHER_MODULES:
        return name
    return os.path.basename((getattr(sys, "argv", None) or [""])[0]) or "a launcher"


_TOLD = "__pydebug_hook_launcher_told__"


def is_launcher_failure(exc: "Optional[BaseException]") -> bool:
    """True for an exception of a launcher process, or a launcher's summary of its
    workers' failure: not debugged, and said so in one line (once per exception)."""
    summary = exc is not None and any((cls.__module__, cls.__name__) in _SUMMARY_EXCEPTIONS for cls in type(exc).__mro__)
    if not (summary or is_launcher_process()):
        return False
    if exc is not None and not getattr(exc, _TOLD, False):
        say(
            f"{printable(type(exc).__name__)} in the launcher {_launcher_name()} (pid {os.getpid()}) is not debugged: "
            "launchers report their workers' failures, which are debugged in the workers"
        )
        try:
            setattr(exc, _TOLD, True)
        except Exception:
            pass
    return True

"""Launcher processes (torchrun's agent, accelerate, deepspeed) are not ours to debug.

They inherit ``IPDB_DEBUG`` from the user's shell like their workers do.  When a worker
fails, the agent raises a summary exception (``ChildFailedError``) at its top level; a
session there would take rank 0's endpoint and keep the job from ever exiting.
"""

import os
import sys
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


def is_launcher_failure(exc: Optional[BaseException]) -> bool:
    if exc is not None:
        for cls in type(exc).__mro__:
            if (cls.__module__, cls.__name__) in _SUMMARY_EXCEPTIONS:
                return True
    return is_launcher_process()

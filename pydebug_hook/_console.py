"""Console mode: ipdb (pdb when ipdb cannot be used) on the process's own terminal."""

import sys
from typing import Any

from . import _notice
from ._session import Session, SessionError
from ._terminal import stdin_fd


def _new_ipdb() -> Any:
    # ipdb.post_mortem() would also replace sys.excepthook for good (wrap_sys_excepthook);
    # _init_pdb is the documented-by-use constructor behind it that does not.
    from ipdb.__main__ import _init_pdb

    return _init_pdb()


def make_debugger() -> Any:
    """An ipdb debugger, or pdb's when ipdb is missing or broken (said in one line)."""
    hooks = sys.excepthook, sys.displayhook
    try:
        return _new_ipdb()
    except ModuleNotFoundError as exc:
        if exc.name not in ("ipdb", "IPython"):
            _notice.say(f"ipdb could not be loaded ({_notice.describe_error(exc)}); using pdb")
    except Exception as exc:
        _notice.say(f"ipdb could not be loaded ({_notice.describe_error(exc)}); using pdb")
    finally:
        # IPython's start-up may swap process-wide hooks; the host keeps its own.
        sys.excepthook, sys.displayhook = hooks
    import pdb

    return pdb.Pdb()


def run(session: Session) -> None:
    if stdin_fd() < 0:
        raise SessionError("console mode needs a terminal, but stdin is closed; set IPDB_MODE=socket or web")
    debugger = make_debugger()
    hooks = sys.excepthook, sys.displayhook
    try:
        if session.is_breakpoint:
            debugger.set_trace(session.frame)
            return
        if session.tb is None:
            raise SessionError("nothing to debug: the exception has no traceback")
        debugger.reset()
        debugger.interaction(None, session.tb)
    finally:
        sys.excepthook, sys.displayhook = hooks

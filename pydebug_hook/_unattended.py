"""``auto`` where nobody would know a session waits (a pipe a parent reads, no terminal;
a CI job): no session.  One line in the captured stderr, the traceback, the crash site
saved as in dump mode (DESIGN, "Unattended jobs: dumps"), and the program goes on as
without the tool (docs/auto.md).
"""

from typing import Callable

from .core.session import Session

# The dispatch lets run() print the header: here it carries the outcome instead of a mode.
ANNOUNCES = True


def run(session: Session, announce: Callable[..., None], why: str) -> None:
    if session.is_breakpoint:  # a live stop nobody can see: the program runs on
        announce(f"no session: {why}")
        return
    announce(f"no session: {why}; the post-mortem is saved instead (IPDB_MODE=socket would wait)")
    from .modes.dump.files import save

    save(session)

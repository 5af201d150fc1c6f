"""``auto`` where nobody would know a session waits (a pipe a parent reads, no terminal;
a CI job): no session.  One line in the captured stderr, then the traceback, and the
program goes on as without the tool (docs/auto.md).
"""

from typing import Callable, Optional

from ._session import Session

# The dispatch lets run() print the header: here it carries the outcome instead of a mode.
ANNOUNCES = True


def save_post_mortem(session: Session) -> Optional[str]:
    """Keep the crash site of a failure nobody can debug now; return a line saying where
    it went, or None.  The one call site for dump mode (DESIGN, "Unattended jobs: dumps"):
    until it lands, nothing is kept."""
    return None


def run(session: Session, announce: Callable[..., None], why: str) -> None:
    kept = save_post_mortem(session)
    announce(f"no session: {why}; {kept or 'IPDB_MODE=socket waits anyway'}")

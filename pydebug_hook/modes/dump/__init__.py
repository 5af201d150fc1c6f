"""Dump mode: no session to wait for.  The stack, every frame with its locals, is saved to
a file in ``IPDB_DUMP_DIR`` (files.py, within the bounds of bounds.py), one line says
where, and the program goes on at once; ``pydebug-hook load`` opens it.  docs/dump.md."""


from ...core.session import Session
from .files import directory, save

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Callable


def preflight(session: Session) -> None:
    """A post-mortem without a traceback has no frame to save, said before any header, as
    in every mode; anything else that makes a dump fail is said after the header, in
    its own line (files.save), once it was tried."""
    session.require_stack()


def where(session: Session) -> str:
    return f"a dump file in {directory(session.settings)}"


def run(session: Session, announce: "Callable[[], None]") -> None:
    announce()
    save(session)  # a live breakpoint: a snapshot of its stack, and the program runs on

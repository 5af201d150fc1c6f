"""Dump mode: no session to wait for.  The stack, every frame with its locals, is saved
to a file in ``IPDB_DUMP_DIR`` (:mod:`._dumps`), one line says where, and the program
goes on at once as it would have without the tool.  A live breakpoint saves a snapshot
of its stack and the program runs on.
"""

from ...core.session import Session
from .files import save


def run(session: Session) -> None:
    save(session)

"""Dump mode: no session to wait for.  The stack, every frame with its locals, is saved to
a file in ``IPDB_DUMP_DIR`` (files.py, within the bounds of bounds.py), one line says
where, and the program goes on at once; ``pydebug-hook load`` opens it.  docs/dump.md."""

from typing import Callable

from ...core.session import Session
from .files import directory, save


def preflight(session: Session) -> None:
    """Nothing makes a dump impossible before it is tried: a dump that cannot be written
    says why in its own line, after the header (files.save)."""


def where(session: Session) -> str:
    return f"a dump file in {directory(session.settings)}"


def run(session: Session, announce: Callable[[], None]) -> None:
    announce()
    save(session)  # a live breakpoint: a snapshot of its stack, and the program runs on

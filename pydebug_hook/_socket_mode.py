"""Placeholder until its issue lands."""

from ._session import Session, SessionError


def run(session: Session) -> None:
    raise SessionError("socket_mode is not implemented yet")

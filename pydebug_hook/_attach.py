"""Placeholder until the socket issue lands."""

from typing import Optional


def main(target: Optional[str]) -> int:
    return 1

"""Patches for frameworks that catch a worker's exception before any excepthook sees it.

Filled in by the worker-process issue; registered lazily through post-import hooks.
"""


def register() -> None:
    """Arrange for the patches to apply when their modules are imported."""


def unregister() -> None:
    """Stop patching modules imported from now on."""

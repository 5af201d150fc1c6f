"""Patches for frameworks that catch a worker's exception before any excepthook sees it.

:func:`register` runs at start-up (from the hooks' ``install()``), so it only asks for a
post-import hook on each module concerned: nothing is imported, and the patch itself
(:mod:`._catchsites`) loads when the program imports one of these modules (at once for
those it imported already).  A patch that finds the framework in a shape it was not
written for steps aside silently; :data:`status` says what happened here, and
``pydebug-hook doctor`` says what would happen with the installed versions.
"""

TYPE_CHECKING = False  # start-up path: no typing import at run time
if TYPE_CHECKING:
    from typing import Any, Callable, Dict

# The modules whose catch sites are patched (see patches.SITES).
TARGETS = (
    "multiprocessing.process",
    "multiprocessing.pool",
    "concurrent.futures.process",
    "torch.utils.data._utils.worker",
    "torch.multiprocessing.spawn",
)

status: "Dict[str, str]" = {}  # module -> "patched" or "stepped aside: why", once imported
_callbacks: "Dict[str, Callable[[Any], None]]" = {}


def _callback(name: str) -> "Callable[[Any], None]":
    def patch(module: "Any") -> None:
        from .children import patches

        status[name] = patches.apply(name, module)

    return patch


def register() -> None:
    """Arrange for the patches to apply when their modules are imported."""
    if _callbacks:
        return
    from . import _postimport

    for name in TARGETS:
        _callbacks[name] = callback = _callback(name)
        _postimport.when_imported(name, callback)


def unregister() -> None:
    """Stop patching modules imported from now on, and undo the patches applied."""
    from . import _postimport

    for name, callback in _callbacks.items():
        _postimport.forget(name, callback)
    _callbacks.clear()
    if status:
        from .children import patches

        patches.restore()
        status.clear()

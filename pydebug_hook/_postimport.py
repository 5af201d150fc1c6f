"""Post-import hooks: a callback right after a named module is first imported (how the
hooks reach ``threading`` and the worker frameworks without importing them at start-up)."""

import sys

TYPE_CHECKING = False  # start-up path: no typing import at run time
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List

    Callback = Callable[[Any], None]

_callbacks: "Dict[str, List[Callback]]" = {}


def _run(name: str, module: "Any") -> None:
    for callback in list(_callbacks.pop(name, ())):
        try:
            callback(module)
        except Exception as exc:
            from .core import notice  # a patch failed: rare, and never at start-up

            notice.warn_once(("postimport", name), f"patch for {name} skipped: {notice.describe_error(exc)}")
    if not _callbacks:
        _remove_finder()


class _Loader:
    """Wraps the real loader for one import; the module gets the real one back after."""

    def __init__(self, loader: "Any", name: str) -> None:
        self._loader = loader
        self._name = name

    def __getattr__(self, attr: str) -> "Any":
        return getattr(self._loader, attr)

    def create_module(self, spec: "Any") -> "Any":
        return self._loader.create_module(spec)

    def exec_module(self, module: "Any") -> None:
        module.__loader__ = self._loader
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        self._loader.exec_module(module)
        _run(self._name, sys.modules.get(self._name, module))


class _Finder:
    def find_spec(self, name: str, path: "Any" = None, target: "Any" = None) -> "Any":
        if name not in _callbacks:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, name)
        return spec


_FINDER = _Finder()


def _remove_finder() -> None:
    try:
        sys.meta_path.remove(_FINDER)
    except ValueError:
        pass


def when_imported(name: str, callback: "Callback") -> None:
    """Call ``callback(module)`` once *name* is imported (now, if it already is)."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    _callbacks.setdefault(name, []).append(callback)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def forget(name: str, callback: "Callback") -> None:
    callbacks = _callbacks.get(name)
    if callbacks and callback in callbacks:
        callbacks.remove(callback)
        if not callbacks:
            del _callbacks[name]
    if not _callbacks:
        _remove_finder()

"""pydebug_hook: an uncaught exception opens a debugger at the frame that raised.

Set ``IPDB_DEBUG=1`` and run any program; see the README.  Importing this package does
nothing by itself (its names load on first use), so the start-up hook stays free.
"""

__all__ = ["Debugger", "__version__", "install", "post_mortem", "set_trace", "uninstall"]

_LAZY = {
    "__version__": "._version",  # not even this one at start-up: one module fewer to load
    "Debugger": "._api",
    "post_mortem": "._api",
    "set_trace": "._api",
    "install": "._hooks",
    "uninstall": "._hooks",
}


def __getattr__(name: str):  # PEP 562: names load on first use
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pydebug_hook' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))

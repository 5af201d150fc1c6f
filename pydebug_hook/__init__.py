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


# The words that leave debugging off: a copy of _bootstrap.OFF_WORDS (the start-up line's
# home, which setup.py reads without importing the package); a test holds them equal.
_OFF_WORDS = ("", "0", "false", "no", "off")


def _start() -> None:
    """What the start-up line (``pydebug_hook.pth``), the ``pydebug_hook.start`` entry point
    and the sitecustomize template run: install the hooks when ``IPDB_DEBUG`` asks for it;
    never raise.  Here rather than in a module of its own: the package is imported anyway,
    and one module fewer is a tenth of a millisecond off every start-up."""
    import os  # imported by site already: free

    if os.environ.get("IPDB_DEBUG", "").strip().lower() in _OFF_WORDS:
        return
    try:
        # Only now that IPDB_DEBUG is on: the start-up line imported nothing before.
        from ._hooks import install

        install()
    except Exception as exc:  # the host program must start whatever happens here
        try:
            os.write(2, f"pydebug_hook: start-up hook failed: {exc!r}\n".encode())
        except OSError:
            pass


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))

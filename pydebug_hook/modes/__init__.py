"""The modes a session runs in: one registry, one protocol.

A mode is a package ``pydebug_hook/modes/<name>/`` whose ``__init__`` defines three
functions, the only ones the dispatch calls (``announce`` is explained below):

``preflight(session) -> None``
    Raise :class:`~pydebug_hook.core.session.SessionError` when the session cannot run
    at all (console without stdin, a web port out of range, no traceback to debug): the
    user then gets that one line and the traceback, and no header announces a session
    that never opens.  Nothing is bound, opened or printed here.
``run(session, announce) -> None``
    The session, from its start to its end.  ``announce()`` prints the header and the
    traceback; the mode calls it once, when the person should see them: before it starts
    waiting, or, on a terminal shared with other processes, when its turn comes.  A
    failure is a ``SessionError`` (its message is the one line the user sees).  When
    ``run`` returns, the program goes on as it would have without the tool.
``where(session) -> str``
    Where such a session would be found, in a few words (``socket at /tmp/pdb.sock.0``):
    what ``pydebug-hook doctor`` prints.  It binds, opens and prints nothing.

The debugger policy every mode follows (frames skipped, what ``c`` and ``q`` do after a
post-mortem) is :mod:`pydebug_hook.core.pdb_policy`; what a session holds is released
through :class:`pydebug_hook.core.cleanup.Resource`; the session's own words (who it is,
its label) are :class:`pydebug_hook.core.session.Session`'s.

Adding a mode: a folder here and one line in :data:`MODES` (docs/architecture.md, "Adding
a mode").  A mode's package is imported only when a session runs in it (or ``doctor``
asks it), never when ``IPDB_MODE`` is checked against these names.
"""

# name (IPDB_MODE) -> the package that implements it
MODES = {
    "console": "pydebug_hook.modes.console",
    "web": "pydebug_hook.modes.web",
    "socket": "pydebug_hook.modes.socket",
    "dump": "pydebug_hook.modes.dump",
    "dap": "pydebug_hook.modes.dap",
}

AUTO = "auto"  # not a mode: the rule that picks one (pydebug_hook.core.reach)


def names() -> tuple:
    """What ``IPDB_MODE`` may say: the registered modes, then ``auto``."""
    return (*MODES, AUTO)


def get(name: str):
    """The module of mode *name* (imported now, if it was not)."""
    # __import__ rather than importlib.import_module: importlib (and the warnings module
    # it imports) is not loaded at start-up, and this is on every session's way.
    return __import__(MODES[name], fromlist=("run",))

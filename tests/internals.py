"""The one door from the tests into the package's modules.

Most tests drive pydebug_hook from outside: its public API, the command, real processes.
A few unit tests of one module are worth keeping (the settings parser, the wire protocol,
the terminal queue's tickets...): they reach it through this file and never name a
module path themselves, so that moving a module changes the table below and no test.

    from internals import settings, Session          # in a test
    script = internals.PRELUDE + "internals.dispatch.handle(...)"   # in a script a test runs

A name is imported when first used (PEP 562), so a script that uses one module loads
that module only.  ``pydebug_hook._bootstrap`` is also named by the installed ``.pth``
and ``.start`` files: its path is part of the install, not only of the code.
"""

import importlib
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# What a script run in a subprocess starts with to use this file (appended, not
# prepended: the tests directory must not shadow anything the script imports).
PRELUDE = f"import sys; sys.path.append({str(TESTS)!r}); import internals\n"

# name -> "module" or "module:attribute"
_WHERE = {
    # the start-up modules (the .pth line imports the first)
    "bootstrap": "pydebug_hook._bootstrap",
    "hooks": "pydebug_hook._hooks",
    # core
    "settings": "pydebug_hook.core.settings",
    "Settings": "pydebug_hook.core.settings:Settings",
    "breakpoint_ranks": "pydebug_hook.core.settings:breakpoint_ranks",
    "rank": "pydebug_hook.core.rank",
    "RankInfo": "pydebug_hook.core.rank:RankInfo",
    "notice": "pydebug_hook.core.notice",
    "files": "pydebug_hook.core.files",
    "locks": "pydebug_hook.core.locks",
    "registry": "pydebug_hook.core.registry",
    "Record": "pydebug_hook.core.registry:Record",
    "terminal": "pydebug_hook.core.terminal",
    "Session": "pydebug_hook.core.session:Session",
    "ChildInfo": "pydebug_hook.core.session:ChildInfo",
    "SessionError": "pydebug_hook.core.session:SessionError",
    "dispatch": "pydebug_hook.core.dispatch",
    # a distributed job
    "is_consequence": "pydebug_hook.job.consequence:is_consequence",
    "job_sessions": "pydebug_hook.job.sessions",
    "job_board": "pydebug_hook.job.board",
    "job_store": "pydebug_hook.job.store",
    "shared_dir": "pydebug_hook.job.shared_dir",
    # worker processes
    "catch_sites": "pydebug_hook._catch_sites",
    "patches": "pydebug_hook.children.patches",
    "patch_status": "pydebug_hook.children.patches:status",
    # the modes
    "modes": "pydebug_hook.modes",
    "terminal_queue": "pydebug_hook.modes.console.terminal_queue",
    "socket_mode": "pydebug_hook.modes.socket",
    "listener": "pydebug_hook.modes.socket.listener",
    "probe": "pydebug_hook.core.files:probe",
    "Channel": "pydebug_hook.modes.socket.channel:Channel",
    "wire": "pydebug_hook.modes.socket.wire",
    "web_mode": "pydebug_hook.modes.web",
    "web_guard": "pydebug_hook.modes.web.guard",
    "dap_debugger": "pydebug_hook.modes.dap.debugger",
    # the command
    "attach": "pydebug_hook.cli.attach",
    "jobwide": "pydebug_hook.cli.jobwide",
    "client": "pydebug_hook.cli.client",
    "Client": "pydebug_hook.cli.client:Client",
}

# The modules an interpreter imports at start-up with IPDB_DEBUG=1, and the module
# whose functions are the installed excepthooks (sys.excepthook.__module__).
STARTUP_MODULES = frozenset(
    ("pydebug_hook", "pydebug_hook._hooks", "pydebug_hook._postimport", "pydebug_hook._catch_sites")
)
HOOKS_MODULE = "pydebug_hook._hooks"
# What every module of the dump code is named like (none is imported at start-up).
DUMP_MODULES = "pydebug_hook.modes.dump"


def __getattr__(name: str):
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"internals has no {name!r}; add it to the table in {__file__}")
    module_name, _, attribute = where.partition(":")
    value = importlib.import_module(module_name)
    if attribute:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))

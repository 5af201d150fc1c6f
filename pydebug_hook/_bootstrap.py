"""Interpreter start-up hook: what ``pydebug_hook.pth`` and ``pydebug_hook.start`` run.

The build writes :data:`PTH_LINE` into ``site-packages/pydebug_hook.pth``.  ``site``
executes it for every interpreter, so it must cost nothing when ``IPDB_DEBUG`` is unset:
it looks at ``os.environ`` (``os`` is already imported by ``site``) and stops.  Only when
the variable holds something other than an off value does it import this module.

Python 3.15+ (PEP 829) runs entry points listed in ``<name>.start`` files and ignores the
import lines of the matching ``<name>.pth``; :data:`START_LINE` is that entry point.
There the import of this module cannot be avoided, so this module and the package's
``__init__`` import nothing beyond ``os``.
"""

import os

# ``.pth`` files run in name order; "pydebug_hook" sorts after setuptools'
# "__editable__.*" and "distutils-precedence", so an editable install's path entry
# exists before the line imports us.
PTH_NAME = "pydebug_hook.pth"
START_NAME = "pydebug_hook.start"

_OFF = ("", "0", "false", "no", "off")

PTH_LINE = (
    "import os; os.environ.get('IPDB_DEBUG', '').strip().lower() not in "
    + repr(_OFF)
    + " and __import__('pydebug_hook._bootstrap')._bootstrap.start()\n"
)
START_LINE = "pydebug_hook._bootstrap:start\n"


def start() -> None:
    """Install the hooks when ``IPDB_DEBUG`` asks for it; never raise."""
    if os.environ.get("IPDB_DEBUG", "").strip().lower() in _OFF:
        return
    try:
        from pydebug_hook._hooks import install

        install()
    except Exception as exc:  # the host program must start whatever happens here
        try:
            os.write(2, f"pydebug_hook: start-up hook failed: {exc!r}\n".encode())
        except OSError:
            pass

"""Interpreter start-up: the lines ``pydebug_hook.pth`` and ``pydebug_hook.start`` hold
(setup.py reads them from this file).  They call ``pydebug_hook._start``: nothing is
imported while ``IPDB_DEBUG`` is off, and not this module when it is on."""

# ``.pth`` files run in name order; "pydebug_hook" sorts after setuptools'
# "__editable__.*" and "distutils-precedence", so an editable install's path entry
# exists before the line imports us.
PTH_NAME = "pydebug_hook.pth"
START_NAME = "pydebug_hook.start"

# The words that leave debugging off (a copy: this module imports nothing; a test holds
# it, the template's and pydebug_hook.core.settings' to the same).
OFF_WORDS = ("", "0", "false", "no", "off")

PTH_LINE = (
    "import os; os.environ.get('IPDB_DEBUG', '').strip().lower() not in "
    + repr(OFF_WORDS)
    + " and __import__('pydebug_hook')._start()\n"
)
START_LINE = "pydebug_hook:_start\n"


def start() -> None:
    """The entry point of earlier versions' lines, kept for the sitecustomize copies they
    wrote: the same as ``pydebug_hook._start``."""
    import pydebug_hook  # loaded already (this module is in it): only its _start is wanted

    pydebug_hook._start()

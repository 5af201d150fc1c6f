"""Interpreter start-up: what ``pydebug_hook.pth`` and ``pydebug_hook.start`` run.  Nothing
is imported while ``IPDB_DEBUG`` is off; this module imports nothing but ``os``."""

import os

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
    + " and __import__('pydebug_hook._bootstrap')._bootstrap.start()\n"
)
START_LINE = "pydebug_hook._bootstrap:start\n"


def start() -> None:
    """Install the hooks when ``IPDB_DEBUG`` asks for it; never raise."""
    if os.environ.get("IPDB_DEBUG", "").strip().lower() in OFF_WORDS:
        return
    try:
        # Only now that IPDB_DEBUG is on: the start-up line imported nothing before.
        from pydebug_hook._hooks import install

        install()
    except Exception as exc:  # the host program must start whatever happens here
        try:
            os.write(2, f"pydebug_hook: start-up hook failed: {exc!r}\n".encode())
        except OSError:
            pass

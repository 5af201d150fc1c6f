"""pydebug_hook start-up for interpreters that do not read its ``.pth`` file.

Python runs the ``.pth`` files of site directories only: a package installed with
``pip install --target DIR`` and found through ``PYTHONPATH=DIR`` (or a zipapp, or a
directory added to ``sys.path`` by hand) never gets its start-up line run.  Python does
import the first ``sitecustomize`` module on ``sys.path`` at start-up, so copy this file
into a directory on ``PYTHONPATH`` (the ``--target`` directory will do).

It installs pydebug_hook's hooks when ``IPDB_DEBUG`` asks for it, exactly as the ``.pth``
line would, and does nothing if pydebug_hook cannot be imported.  Then it runs the
``sitecustomize`` it shadows, if any (the first one found on ``sys.path`` after this
file's directory), so a distribution's or a site's own start-up code keeps running.
"""

import os


def _start_pydebug_hook() -> None:
    # Same test as the .pth line: nothing is imported while IPDB_DEBUG is off.
    if os.environ.get("IPDB_DEBUG", "").strip().lower() in ("", "0", "false", "no", "off"):
        return
    try:
        from pydebug_hook import _start as start
    except Exception:  # not installed here, or broken: the program must start anyway
        return
    start()  # never raises; idempotent when the .pth already ran


def _run_shadowed_sitecustomize() -> None:
    import sys
    from importlib.machinery import PathFinder
    from importlib.util import module_from_spec

    here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    later = []
    seen_here = False
    for entry in sys.path:
        try:
            real = os.path.realpath(entry or os.getcwd())
        except (OSError, TypeError, ValueError):
            continue
        if real == here:
            seen_here = True
            later = []  # only what comes after this copy's (last) place on sys.path
        elif seen_here:
            later.append(entry)
    spec = PathFinder.find_spec("sitecustomize", later)
    if spec is None or spec.loader is None:
        return
    module = module_from_spec(spec)
    # The shadowed module takes the name, as if it had been imported by site itself;
    # what it raises propagates to site, which reports it as it always does.
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_start_pydebug_hook()
_run_shadowed_sitecustomize()

"""``pydebug-hook doctor``: what is installed, what is active, where a session would go."""

import importlib
import importlib.util
import json
import os
import sys
import warnings
from typing import Any, Dict

from .. import _catch_sites, _hooks
from .._version import __version__
from ..children import patches
from ..core import dispatch, notice, rank
from ..core.settings import current as current_settings
from ..core.settings import parse_switch_word
from . import startup


def worker_patches() -> Dict[str, str]:
    """What each catch site's patch does, or would do, with the frameworks installed here
    (imported to look, torch included: a command can afford it, a program never does)."""
    found: Dict[str, str] = {}
    for name in _catch_sites.MODULES:
        if name in patches.status:  # imported by this process already, and patched or not
            found[name] = patches.status[name]
            continue
        top = name.split(".", 1)[0]
        try:
            if importlib.util.find_spec(top) is None:
                found[name] = f"{top} is not installed"
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(name)
        except Exception as exc:
            found[name] = f"cannot import it: {type(exc).__name__}: {exc}"
            continue
        found[name] = patches.check(name, module)
    return found


def report() -> Dict[str, Any]:
    settings = current_settings()
    info = rank.detect()
    files = startup.survey()
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "prefix": sys.prefix,
        "pth": files.pth,
        "pth_current": files.pth_current,
        "pth_not_read": files.pth_skipped,
        "start_file": files.start_file,
        "sitecustomize": files.sitecustomize,
        "hook_can_start": files.can_start,
        "hook_active": _hooks.installed(),
        "settings": {"IPDB_DEBUG": os.environ.get("IPDB_DEBUG"), **settings.as_dict()},
        "rank": {"rank": info.rank, "local_rank": info.local_rank, "world_size": info.world_size, "source": info.source},
        "job_id": rank.job_id(),
        "session_would_go_to": dispatch.destination(),
        "worker_patches": worker_patches(),
    }


def main(as_json: bool = False) -> int:
    r = report()
    # Non-zero when the hook cannot be active here: no start-up file this interpreter runs.
    status = 0 if r["hook_can_start"] or r["hook_active"] else 1
    if as_json:
        print(json.dumps(r, indent=2))
        return status
    s = r["settings"]
    if r["pth"] is None:
        pth = "not found: this interpreter does not load pydebug_hook at start-up (use `pydebug-hook run` or sitecustomize)"
    else:
        pth = r["pth"] + ("" if r["pth_current"] else "  (outdated: reinstall pydebug-hook)")
        if r["pth_not_read"]:
            pth += f"\n{'':18s}not read by this interpreter: {r['pth_not_read']}"
    bad_flag = parse_switch_word(s["IPDB_DEBUG"]) is None
    if r["hook_active"] and bad_flag and not s["enabled"]:
        # The start-up line installs the hooks for any value but the off words, so that
        # the warning about the value comes when an exception does.
        active = f"yes, but debugging is off: IPDB_DEBUG={s['IPDB_DEBUG']!r} is not one of 1/true/yes/on"
    elif r["hook_active"]:
        active = "yes"
    elif s["IPDB_DEBUG"] is None:
        active = "no (IPDB_DEBUG is unset)"
    else:
        active = f"no (IPDB_DEBUG={s['IPDB_DEBUG']!r})"
    if s["enabled"]:
        debugging = "on"
    elif bad_flag:
        debugging = f"off (IPDB_DEBUG={s['IPDB_DEBUG']!r} is not an on/off word: exceptions are reported, not debugged)"
    else:
        debugging = "off"
    info = r["rank"]
    timeout = "forever" if s["wait_timeout"] is None else notice.duration(s["wait_timeout"])
    lines = [
        f"pydebug-hook {r['version']} on Python {r['python']} ({r['executable']})",
        f"environment       {r['prefix']}",
        f"start-up file     {pth}",
        f"PEP 829 file      {r['start_file'] or 'not found'}",
        f"sitecustomize     {r['sitecustomize'] or 'not pydebug_hook' + chr(39) + 's'}",
        f"hook active here  {active}",
        f"debugging         {debugging}",
        f"mode              {s['mode']}",
        f"socket path       {s['socket_path']}",
        f"web address       {s['web_host']}:{s['web_port']} + rank",
        f"dap address       {s['dap_host']}:{s['dap_port']} + rank",
        f"wait for client   {timeout}",
        f"dumps go to       {s['dump_dir']} (given up after {s['dump_timeout']:g} s)",
        f"rank              {info['rank']} of {info['world_size']} (local {info['local_rank']}; from {info['source']})",
        f"job id            {r['job_id'] or '-'}",
        f"a session goes to {r['session_would_go_to']}",
    ]
    # Each patch either applies or steps aside (the framework then runs untouched).
    width = max(len(name) for name in r["worker_patches"])
    for index, (name, what) in enumerate(r["worker_patches"].items()):
        lines.append(f"{'worker patches' if index == 0 else '':17s} {name:{width}s}  {what}")
    if status:
        lines.append("pydebug_hook cannot start in this interpreter: see `start-up file` above")
    print("\n".join(lines))
    return status

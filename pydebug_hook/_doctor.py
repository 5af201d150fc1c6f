"""``pydebug-hook doctor``: what is installed, what is active, where a session would go."""

import json
import os
import site
import sys
from typing import Any, Dict, List

from . import _bootstrap, _catchsites, _hooks, _rank, _settings
from ._version import __version__


def _site_dirs() -> List[str]:
    dirs: List[str] = []
    try:
        dirs.extend(site.getsitepackages())
    except AttributeError:  # some virtualenv layouts
        pass
    try:
        dirs.append(site.getusersitepackages())
    except AttributeError:
        pass
    dirs.extend(p for p in sys.path if p and os.path.isdir(p))
    seen, out = set(), []
    for d in dirs:
        key = os.path.realpath(d)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _startup_files() -> Dict[str, Any]:
    found: Dict[str, Any] = {"pth": None, "pth_current": False, "start": None}
    for d in _site_dirs():
        pth = os.path.join(d, _bootstrap.PTH_NAME)
        if found["pth"] is None and os.path.isfile(pth):
            found["pth"] = pth
            try:
                with open(pth, encoding="utf-8") as f:
                    found["pth_current"] = f.read() == _bootstrap.PTH_LINE
            except OSError:
                pass
        start = os.path.join(d, _bootstrap.START_NAME)
        if found["start"] is None and os.path.isfile(start):
            found["start"] = start
    return found


def _destination(settings: _settings.Settings, info: _rank.RankInfo) -> str:
    from ._dispatch import resolve_mode

    mode = resolve_mode(settings.mode)
    if mode == "console":
        from ._terminal import console_terminal

        terminal = console_terminal()
        if terminal is None:
            return "console on stdin"
        terminal.close()
        return f"console on {terminal.name}"
    if mode == "socket":
        path = settings.socket_path.format(rank=info.rank, local_rank=info.local_rank, pid="<pid>")
        return f"socket at {path}"
    if mode == "dap":
        from ._web_guard import url_host

        return f"dap (an IDE attaches) at {url_host(settings.dap_host)}:{settings.dap_port + info.rank}"
    port = settings.web_port + info.rank
    return f"web at http://{settings.web_host}:{port}/"


def report() -> Dict[str, Any]:
    settings = _settings.current()
    info = _rank.detect()
    files = _startup_files()
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "pth": files["pth"],
        "pth_current": files["pth_current"],
        "start_file": files["start"],
        "hook_active": _hooks.installed(),
        "settings": {
            "IPDB_DEBUG": os.environ.get("IPDB_DEBUG"),
            "enabled": settings.enabled,
            "mode": settings.mode,
            "socket_path": settings.socket_path,
            "web_host": settings.web_host,
            "web_port": settings.web_port,
            "dap_host": settings.dap_host,
            "dap_port": settings.dap_port,
            "wait_timeout": settings.wait_timeout,
        },
        "rank": {"rank": info.rank, "local_rank": info.local_rank, "world_size": info.world_size, "source": info.source},
        "job_id": _rank.job_id(),
        "session_would_go_to": _destination(settings, info),
        "worker_patches": _catchsites.survey(),
    }


def main(as_json: bool = False) -> int:
    r = report()
    if as_json:
        print(json.dumps(r, indent=2))
        return 0
    s = r["settings"]
    if r["pth"] is None:
        pth = "not found: this interpreter does not load pydebug_hook at start-up (use `pydebug-hook run` or sitecustomize)"
    else:
        pth = r["pth"] + ("" if r["pth_current"] else "  (outdated: reinstall pydebug-hook)")
    if r["hook_active"]:
        active = "yes"
    elif s["IPDB_DEBUG"] is None:
        active = "no (IPDB_DEBUG is unset)"
    else:
        active = f"no (IPDB_DEBUG={s['IPDB_DEBUG']!r})"
    rank = r["rank"]
    timeout = "forever" if s["wait_timeout"] is None else f"{s['wait_timeout']:g} s"
    lines = [
        f"pydebug-hook {r['version']} on Python {r['python']} ({r['executable']})",
        f"start-up file     {pth}",
        f"PEP 829 file      {r['start_file'] or 'not found'}",
        f"hook active here  {active}",
        f"debugging         {'on' if s['enabled'] else 'off'}",
        f"mode              {s['mode']}",
        f"socket path       {s['socket_path']}",
        f"web address       {s['web_host']}:{s['web_port']} + rank",
        f"dap address       {s['dap_host']}:{s['dap_port']} + rank",
        f"wait for client   {timeout}",
        f"rank              {rank['rank']} of {rank['world_size']} (local {rank['local_rank']}; from {rank['source']})",
        f"job id            {r['job_id'] or '-'}",
        f"a session goes to {r['session_would_go_to']}",
    ]
    # Each patch either applies or steps aside (the framework then runs untouched).
    width = max(len(name) for name in r["worker_patches"])
    for index, (name, what) in enumerate(r["worker_patches"].items()):
        lines.append(f"{'worker patches' if index == 0 else '':17s} {name:{width}s}  {what}")
    print("\n".join(lines))
    return 0

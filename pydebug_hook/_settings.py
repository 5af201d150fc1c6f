"""The settings of the DESIGN's table, read when an exception is handled.

Values come from ``Debugger.debug_flag`` / ``Debugger.debug_mode`` when set in code, else
from the environment.  A bad value is reported once (one line on stderr) and replaced by
its documented default; parsing never raises.
"""

import os
from dataclasses import dataclass
from typing import Mapping, Optional

from . import _notice

MODES = ("console", "web", "socket", "dump", "dap", "auto")
_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off", "")

DEFAULT_SOCKET_PATH = "/tmp/pdb.sock.{rank}"
DEFAULT_WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 4444
DEFAULT_DUMP_DIR = "pydebug-dumps"  # relative: in the working directory at the time of the dump
DEFAULT_DUMP_TIMEOUT = 60.0
DEFAULT_DAP_HOST = "127.0.0.1"
DEFAULT_DAP_PORT = 5678  # the port VS Code users know from debugpy


@dataclass(frozen=True)
class Settings:
    enabled: bool = False
    mode: str = "auto"
    socket_path: str = DEFAULT_SOCKET_PATH
    web_host: str = DEFAULT_WEB_HOST
    web_port: int = DEFAULT_WEB_PORT
    dap_host: str = DEFAULT_DAP_HOST
    dap_port: int = DEFAULT_DAP_PORT
    wait_timeout: Optional[float] = None  # seconds to wait for a client; None: forever
    dump_dir: str = DEFAULT_DUMP_DIR
    dump_timeout: float = DEFAULT_DUMP_TIMEOUT  # seconds a dump may take before it is given up


def parse_switch_word(value: Optional[str]) -> Optional[bool]:
    """True/False for an on/off word (unset: False), None for anything else."""
    if value is None:
        return False
    word = value.strip().lower()
    return True if word in _ON else False if word in _OFF else None


def parse_switch(name: str, value: Optional[str], when_bad: bool, meaning: str) -> bool:
    """An on/off variable: ``1 true yes on`` / ``0 false no off`` or empty (unset: off);
    anything else warns once (``...; <meaning>``) and gives *when_bad*."""
    known = parse_switch_word(value)
    if known is not None:
        return known
    _notice.warn_once((name, value), f"{name}={value!r} is not one of 1/true/yes/on or 0/false/no/off; {meaning}")
    return when_bad


def parse_flag(value: Optional[str]) -> bool:
    """``IPDB_DEBUG`` semantics: on/off words, anything else warns and means off."""
    return parse_switch("IPDB_DEBUG", value, False, "debugging stays off")


def parse_mode(value: Optional[str], source: str = "IPDB_MODE") -> str:
    if value is None or not str(value).strip():
        return "auto"
    word = str(value).strip().lower()
    if word in MODES:
        return word
    _notice.warn_once(
        (source, value), f"{source}={value!r} is not one of {', '.join(MODES)}; using auto"
    )
    return "auto"


def _parse_port(name: str, value: Optional[str], default: int) -> int:
    if value is None or not value.strip():
        return default
    try:
        port = int(value.strip())
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        _notice.warn_once((name, value), f"{name}={value!r} is not a port number; using {default}")
        return default
    return port


def _parse_timeout(value: Optional[str]) -> Optional[float]:
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        _notice.warn_once(
            ("IPDB_WAIT_TIMEOUT", value),
            f"IPDB_WAIT_TIMEOUT={value!r} is not a number of seconds >= 0; waiting without limit",
        )
        return None
    return seconds


def _parse_dump_timeout(value: Optional[str]) -> float:
    if value is None or not value.strip():
        return DEFAULT_DUMP_TIMEOUT
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        _notice.warn_once(
            ("IPDB_DUMP_TIMEOUT", value),
            f"IPDB_DUMP_TIMEOUT={value!r} is not a number of seconds > 0; using {DEFAULT_DUMP_TIMEOUT:g}",
        )
        return DEFAULT_DUMP_TIMEOUT
    return seconds


SOCKET_PATH_FIELDS = ("rank", "local_rank", "pid")


def _template_error(template: str) -> Optional[str]:
    """Why *template* is not a socket path template, or None.  Only the plain fields
    ``{rank}``, ``{local_rank}``, ``{pid}`` (and ``{{``/``}}``): an attribute, an index,
    a conversion or a format spec would make ``str.format`` run the program's objects'
    code on a string taken from the environment."""
    import string

    try:
        for _, name, spec, conversion in string.Formatter().parse(template):
            if name is None:
                continue
            if name not in SOCKET_PATH_FIELDS:
                return f"{{{name}}} is not one of {{rank}}, {{local_rank}}, {{pid}}"
            if spec or conversion:
                return f"{{{name}}} takes no conversion or format spec"
    except ValueError as exc:
        return str(exc)
    return None


def expand_socket_path(template: str, rank: object, local_rank: object, pid: object) -> str:
    """*template* with its fields filled in; the default template when it is not one
    (``read`` warned about it already)."""
    if _template_error(template) is not None:
        template = DEFAULT_SOCKET_PATH
    return template.format(rank=rank, local_rank=local_rank, pid=pid)


def _parse_socket_path(value: Optional[str]) -> str:
    if value is None or not value.strip():
        return DEFAULT_SOCKET_PATH
    error = _template_error(value)
    if error is not None:
        _notice.warn_once(
            ("IPDB_SOCKET_PATH", value),
            f"IPDB_SOCKET_PATH={value!r} is not a valid template ({error}); using {DEFAULT_SOCKET_PATH}",
        )
        return DEFAULT_SOCKET_PATH
    return value


def read(
    environ: Optional[Mapping[str, str]] = None,
    flag_override: Optional[bool] = None,
    mode_override: Optional[str] = None,
) -> Settings:
    env = os.environ if environ is None else environ
    enabled = bool(flag_override) if flag_override is not None else parse_flag(env.get("IPDB_DEBUG"))
    if mode_override is not None:
        mode = parse_mode(mode_override, "Debugger.debug_mode")
    else:
        mode = parse_mode(env.get("IPDB_MODE"))
    host = (env.get("IPDB_WEB_HOST") or "").strip() or DEFAULT_WEB_HOST
    # Its own host setting, not IPDB_WEB_HOST's: a page opened to the network still asks
    # for a token, a DAP port has none, so it is opened only when asked for by name.
    dap_host = (env.get("IPDB_DAP_HOST") or "").strip() or DEFAULT_DAP_HOST
    return Settings(
        enabled=enabled,
        mode=mode,
        socket_path=_parse_socket_path(env.get("IPDB_SOCKET_PATH")),
        web_host=host,
        web_port=_parse_port("IPDB_WEB_PORT", env.get("IPDB_WEB_PORT"), DEFAULT_WEB_PORT),
        dap_host=dap_host,
        dap_port=_parse_port("IPDB_DAP_PORT", env.get("IPDB_DAP_PORT"), DEFAULT_DAP_PORT),
        wait_timeout=_parse_timeout(env.get("IPDB_WAIT_TIMEOUT")),
        dump_dir=(env.get("IPDB_DUMP_DIR") or "").strip() or DEFAULT_DUMP_DIR,
        dump_timeout=_parse_dump_timeout(env.get("IPDB_DUMP_TIMEOUT")),
    )


def current() -> Settings:
    """Settings now: code overrides from :class:`Debugger`, then the environment."""
    from ._api import Debugger

    return read(None, Debugger._flag_override, Debugger._mode_override)

"""The settings of the DESIGN's table, read when an exception is handled.

Values come from the code overrides (``Debugger.debug_flag`` / ``Debugger.debug_mode``
store theirs here) when set, else from the environment.  A bad value is reported once
(one line on stderr) and replaced by its documented default; parsing never raises.
"""

import os

# What string.Formatter().parse() calls: importing string compiles a regular expression.
from _string import formatter_parser

from .. import modes
from . import notice
from .values import Value

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, FrozenSet, Mapping, Optional

ON_WORDS = ("1", "true", "yes", "on")
# The start-up line (pydebug_hook._bootstrap, which may import nothing) and the
# sitecustomize template keep their own copy; a test holds them to this one.
OFF_WORDS = ("", "0", "false", "no", "off")

DEFAULT_SOCKET_PATH = "/tmp/pdb.sock.{rank}"
DEFAULT_WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 4444
DEFAULT_DUMP_DIR = "pydebug-dumps"  # relative: in the working directory at the time of the dump
DEFAULT_DUMP_TIMEOUT = 60.0
DEFAULT_DAP_HOST = "127.0.0.1"
DEFAULT_DAP_PORT = 5678  # the port VS Code users know from debugpy
DEFAULT_SSH = "ssh -t"  # how `attach` reaches a session on another host of the job


class Settings(Value):
    __slots__ = (  # noqa: RUF023 -- the fields' order
        "enabled", "mode", "socket_path", "web_host", "web_port", "dap_host", "dap_port",
        "wait_timeout", "dump_dir", "dump_timeout", "job_dir", "ssh",
    )

    def __init__(
        self,
        enabled: bool = False,
        mode: str = "auto",
        socket_path: str = DEFAULT_SOCKET_PATH,
        web_host: str = DEFAULT_WEB_HOST,
        web_port: int = DEFAULT_WEB_PORT,
        dap_host: str = DEFAULT_DAP_HOST,
        dap_port: int = DEFAULT_DAP_PORT,
        wait_timeout: "Optional[float]" = None,  # seconds to wait for a client; None: forever
        dump_dir: str = DEFAULT_DUMP_DIR,
        dump_timeout: float = DEFAULT_DUMP_TIMEOUT,  # seconds a dump may take before it is given up
        job_dir: "Optional[str]" = None,  # a directory the hosts of a job share (job/shared_dir.py)
        ssh: str = DEFAULT_SSH,  # a command line, split by `attach` (cli/jobwide.py), never by a shell
    ) -> None:
        self.enabled = enabled
        self.mode = mode
        self.socket_path = socket_path
        self.web_host = web_host
        self.web_port = web_port
        self.dap_host = dap_host
        self.dap_port = dap_port
        self.wait_timeout = wait_timeout
        self.dump_dir = dump_dir
        self.dump_timeout = dump_timeout
        self.job_dir = job_dir
        self.ssh = ssh


def parse_switch_word(value: "Optional[str]") -> "Optional[bool]":
    """True/False for an on/off word (unset: False), None for anything else."""
    if value is None:
        return False
    word = value.strip().lower()
    return True if word in ON_WORDS else False if word in OFF_WORDS else None


def parse_switch(name: str, value: "Optional[str]", when_bad: bool, meaning: str) -> bool:
    """An on/off variable: ``1 true yes on`` / ``0 false no off`` or empty (unset: off);
    anything else warns once (``...; <meaning>``) and gives *when_bad*."""
    known = parse_switch_word(value)
    if known is not None:
        return known
    notice.warn_once((name, value), f"{name}={value!r} is not one of 1/true/yes/on or 0/false/no/off; {meaning}")
    return when_bad


def parse_flag(value: "Optional[str]") -> bool:
    """``IPDB_DEBUG`` semantics: on/off words, anything else warns and means off."""
    return parse_switch("IPDB_DEBUG", value, False, "debugging stays off")


def parse_mode(value: "Optional[str]", source: str = "IPDB_MODE") -> str:
    """A mode's name (one of :func:`pydebug_hook.modes.names`); anything else warns once
    and gives ``auto``."""
    if value is None or not str(value).strip():
        return modes.AUTO
    word = str(value).strip().lower()
    known = modes.names()
    if word in known:
        return word
    notice.warn_once(
        (source, value), f"{source}={value!r} is not one of {', '.join(known)}; using auto"
    )
    return modes.AUTO


def _parse_port(name: str, value: "Optional[str]", default: int) -> int:
    if value is None or not value.strip():
        return default
    try:
        port = int(value.strip())
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        notice.warn_once((name, value), f"{name}={value!r} is not a port number; using {default}")
        return default
    return port


def _parse_timeout(value: "Optional[str]") -> "Optional[float]":
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        notice.warn_once(
            ("IPDB_WAIT_TIMEOUT", value),
            f"IPDB_WAIT_TIMEOUT={value!r} is not a number of seconds >= 0; waiting without limit",
        )
        return None
    return seconds


def _parse_dump_timeout(value: "Optional[str]") -> float:
    if value is None or not value.strip():
        return DEFAULT_DUMP_TIMEOUT
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        notice.warn_once(
            ("IPDB_DUMP_TIMEOUT", value),
            f"IPDB_DUMP_TIMEOUT={value!r} is not a number of seconds > 0; using {DEFAULT_DUMP_TIMEOUT:g}",
        )
        return DEFAULT_DUMP_TIMEOUT
    return seconds


SOCKET_PATH_FIELDS = ("rank", "local_rank", "pid")


def _template_error(template: str) -> "Optional[str]":
    """Why *template* is not a socket path template, or None.  Only the plain fields
    ``{rank}``, ``{local_rank}``, ``{pid}`` (and ``{{``/``}}``): an attribute, an index,
    a conversion or a format spec would make ``str.format`` run the program's objects'
    code on a string taken from the environment."""
    try:
        for _, name, spec, conversion in formatter_parser(template):
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


def _parse_socket_path(value: "Optional[str]") -> str:
    if value is None or not value.strip():
        return DEFAULT_SOCKET_PATH
    error = _template_error(value)
    if error is not None:
        notice.warn_once(
            ("IPDB_SOCKET_PATH", value),
            f"IPDB_SOCKET_PATH={value!r} is not a valid template ({error}); using {DEFAULT_SOCKET_PATH}",
        )
        return DEFAULT_SOCKET_PATH
    return value


def read(
    environ: "Optional[Mapping[str, str]]" = None,
    flag_override: "Optional[bool]" = None,
    mode_override: "Optional[str]" = None,
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
        job_dir=(env.get("IPDB_JOB_DIR") or "").strip() or None,
        ssh=(env.get("IPDB_SSH") or "").strip() or DEFAULT_SSH,
    )


# -- what the program set in code --------------------------------------------------------

# Debugger.debug_flag / Debugger.debug_mode assigned in code (None: the environment's).
_overrides = {"flag": None, "mode": None}
_KEEP: "Any" = object()


def override(*, flag: "Optional[bool]" = _KEEP, mode: "Optional[str]" = _KEEP) -> None:
    """Set a code override (a ``Debugger.debug_flag`` / ``debug_mode`` assignment); None
    gives the setting back to the environment, and one not named stays as it is."""
    if flag is not _KEEP:
        _overrides["flag"] = None if flag is None else bool(flag)
    if mode is not _KEEP:
        _overrides["mode"] = mode


def enabled() -> bool:
    """Whether debugging is on now: the code's override, else ``IPDB_DEBUG``."""
    flag = _overrides["flag"]
    return flag if flag is not None else parse_flag(os.environ.get("IPDB_DEBUG"))


def mode() -> str:
    """The mode asked for now: the code's override, else ``IPDB_MODE``."""
    if _overrides["mode"] is not None:
        return parse_mode(_overrides["mode"], "Debugger.debug_mode")
    return parse_mode(os.environ.get("IPDB_MODE"))


def current() -> Settings:
    """Settings now: the code overrides, then the environment."""
    return read(None, _overrides["flag"], _overrides["mode"])


# -- live breakpoints ----------------------------------------------------------------------


def breakpoint_ranks(value: "Optional[str]" = None) -> "Optional[FrozenSet[int]]":
    """``IPDB_BREAKPOINT_RANKS`` (``1`` or ``0,2``; empty or ``all``: every rank) parsed:
    the ranks whose breakpoints stop, None for every rank."""
    raw = os.environ.get("IPDB_BREAKPOINT_RANKS") if value is None else value
    if raw is None or raw.strip().lower() in ("", "all", "*"):
        return None
    try:
        ranks = frozenset(int(part) for part in raw.split(",") if part.strip())
        if ranks and min(ranks) >= 0:
            return ranks
    except ValueError:
        pass
    notice.warn_once(
        ("IPDB_BREAKPOINT_RANKS", raw),
        f"IPDB_BREAKPOINT_RANKS={raw!r} is not a comma-separated list of ranks; every rank stops",
    )
    return None

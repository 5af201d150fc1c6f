"""Which user owns the other end of a loopback TCP connection: the entry of
``/proc/net/tcp`` whose addresses are the connection's, as ``identd`` answers."""

import os
import socket
import struct
from typing import Optional, Tuple

Address = Tuple  # (host, port) or (host, port, flowinfo, scope_id), as asyncio gives them


def _proc_hex(host: str, port: int) -> Tuple[str, str]:
    """An address as the kernel prints it: each 32-bit word in host byte order, in hex."""
    if ":" in host:
        packed = socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
        words = struct.unpack("=4I", packed)
        return "".join(f"{w:08X}" for w in words) + f":{port:04X}", "tcp6"
    (word,) = struct.unpack("=I", socket.inet_aton(host))
    return f"{word:08X}:{port:04X}", "tcp"


def owner_uid(peer: Address, local: Address) -> Optional[int]:
    """The uid owning the client socket *peer* connected to our *local*, or None when it
    cannot be told (no /proc, not found: a client in another network namespace)."""
    try:
        want_local, table = _proc_hex(peer[0], peer[1])
        want_remote, _ = _proc_hex(local[0], local[1])
    except (OSError, ValueError, struct.error, IndexError, TypeError):
        return None
    try:
        with open(f"/proc/net/{table}", encoding="ascii") as f:
            next(f, None)  # the column titles
            for line in f:
                fields = line.split()
                if len(fields) > 7 and fields[1] == want_local and fields[2] == want_remote:
                    return int(fields[7])
    except (OSError, ValueError):
        return None
    return None


def have_table() -> bool:
    try:
        with open("/proc/net/tcp", "rb"):
            return True
    except OSError:
        return False


def stranger(peer: Address, local: Address) -> Optional[str]:
    """Why the client at *peer* may not use our endpoint at *local*: None for our own
    user and root, else one line (a client whose user cannot be told is a stranger)."""
    uid = owner_uid(peer, local)
    me = os.geteuid()
    if uid is not None and uid in (0, me):
        return None
    who = "an unknown user" if uid is None else f"uid {uid}"
    return f"connection from {who}; this debugger belongs to uid {me}"

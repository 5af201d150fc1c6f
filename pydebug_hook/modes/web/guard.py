"""Who may talk to a web session: the checks made on every HTTP request before web-pdb
sees it (Host, Origin, token, owner).  Pure functions; why each check: docs/architecture.md."""

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, Optional, Tuple, Union
from urllib.parse import parse_qs, urlsplit

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
WILDCARDS = ("", "0.0.0.0", "::")
LOCALHOST_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _ip(text: str) -> Optional[IPAddress]:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _ip_is_loopback(address: IPAddress) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def is_wildcard(host: str) -> bool:
    return host.strip("[]") in WILDCARDS


def is_loopback(host: str) -> bool:
    """True when binding *host* listens on loopback only.

    An IP literal is judged by its address (all of 127.0.0.0/8 and ::1 are loopback); a
    name by every address it resolves to (``localhost``); a wildcard or an unresolvable
    name is not loopback: when in doubt, the token is required.
    """
    if is_wildcard(host):
        return False
    address = _ip(host)
    if address is not None:
        return _ip_is_loopback(address)
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = [_ip(str(info[4][0])) for info in infos]
    return bool(addresses) and all(a is not None and _ip_is_loopback(a) for a in addresses)


def split_host_header(value: str) -> Tuple[str, Optional[str]]:
    """``'[::1]:4444'`` -> ``('::1', '4444')``; ``'Example.COM'`` -> ``('example.com', None)``."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, None
        host, rest = value[1:end], value[end + 1 :]
        return host, rest[1:] if rest.startswith(":") else None
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, port
    return value, None


def url_host(host: str) -> str:
    """A host as it appears in a URL: IPv6 literals in brackets."""
    address = _ip(host)
    if address is not None and address.version == 6:
        return f"[{address}]"
    return host


def ssh_forward(port: int, bound: str, machine: str) -> str:
    """The command a user on another machine runs to reach *port*, bound on loopback
    address *bound* of *machine*, as the same port of their own localhost."""
    target = "localhost" if bound == "localhost" else url_host(bound)
    return f"ssh -L {port}:{target}:{port} {machine}"


@dataclass(frozen=True)
class Refusal:
    status: str  # "403 Forbidden"
    reason: str  # one line for the user's stderr and the response body
    kind: str  # "host", "origin", "token", "user": one stderr line per kind


@dataclass
class Guard:
    """The decision for one session: built once, asked for every request."""

    bound_host: str
    port: int
    token: Optional[str] = None
    names: FrozenSet[str] = field(default_factory=frozenset)  # extra Host names accepted

    @classmethod
    def for_bind(cls, host: str, port: int, token: Optional[str], machine_names: Iterable[str] = ()) -> "Guard":
        names = {host.strip("[]").lower()}
        if is_loopback(host):
            names |= LOCALHOST_NAMES
        else:
            # Off loopback the token is what keeps others out; the machine's own names
            # are how users reach it.  (On loopback they are not needed, and accepting a
            # DNS name there is exactly what a rebinding attack relies on.)
            names |= {n.lower() for n in machine_names if n}
            names |= LOCALHOST_NAMES
        return cls(bound_host=host, port=port, token=token, names=frozenset(names))

    @property
    def cookie_name(self) -> str:
        return f"pydebug_hook_{self.port}"

    def set_cookie_header(self) -> str:
        return f"{self.cookie_name}={self.token}; Path=/; HttpOnly; SameSite=Strict"

    def host_allowed(self, header: Optional[str]) -> bool:
        if not header:
            return False
        host, _port = split_host_header(header)
        if host in self.names:
            return True
        # Bound to every interface: any IP literal is one of ours or unroutable to us,
        # and an IP literal cannot be a DNS-rebinding name.
        return is_wildcard(self.bound_host) and _ip(host) is not None

    @staticmethod
    def origin_matches(origin: Optional[str], host_header: str) -> bool:
        if not origin:
            return False
        try:
            parts = urlsplit(origin.strip())
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.strip().lower() and not parts.path.strip("/")

    def token_in(self, query: str, cookies: Dict[str, str]) -> Tuple[bool, bool]:
        """``(accepted, from_url)``: whether the request carries our token, and whether it
        came in the URL (then the page's first load sets the cookie)."""
        if self.token is None:
            return True, False
        # hmac loads OpenSSL's hashes: only where a token is asked for
        from hmac import compare_digest

        for value in parse_qs(query).get("token", []):
            if compare_digest(value.encode(), self.token.encode()):
                return True, True
        value = cookies.get(self.cookie_name)
        if value is not None and compare_digest(value.encode(), self.token.encode()):
            return True, False
        return False, False

    def check(self, path: str, query: str, headers: Dict[str, str]) -> Tuple[Optional[Refusal], bool]:
        """``(refusal or None, token came in the URL)`` for one request; *headers* are
        lower-cased names."""
        host_header = headers.get("host", "")
        if not self.host_allowed(host_header):
            shown = host_header[:80] if host_header else "(none)"
            return Refusal("403 Forbidden", f"Host {shown!r} is not this debugger's address", "host"), False
        accepted, from_url = self.token_in(query, parse_cookies(headers.get("cookie", "")))
        if not accepted:
            return Refusal("403 Forbidden", f"no valid token for {path} (open the URL printed with ?token=)", "token"), False
        if path == "/ws":
            origin = headers.get("origin")
            if not self.origin_matches(origin, host_header):
                shown = origin[:80] if origin else "(none)"
                return Refusal("403 Forbidden", f"WebSocket from origin {shown!r}, not from this debugger's page", "origin"), False
        return None, from_url


def parse_cookies(header: str) -> Dict[str, str]:
    cookies: Dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies

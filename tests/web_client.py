"""A small HTTP + WebSocket client for the web-mode tests.

Written on raw sockets on purpose: the tests must control exactly which ``Host``,
``Origin`` and ``Cookie`` headers are sent (an HTTP library would fill them in), and a
refused upgrade must be observable as the status line the server answered.
"""

import base64
import json
import os
import socket
import struct
import time
from typing import Dict, Optional, Tuple

HTTP_TIMEOUT = 10.0


def request(port: int, path: str = "/", host: str = "127.0.0.1", headers: Optional[Dict[str, str]] = None, connect: str = "127.0.0.1") -> Tuple[int, Dict[str, str], bytes]:
    """One GET; returns (status, lower-cased headers, body).  ``Host`` defaults to
    *host*:*port*; pass ``headers={"Host": ...}`` to send another."""
    sent = {"Host": f"{host}:{port}", "Connection": "close"}
    sent.update(headers or {})
    lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in sent.items() if v is not None]
    with socket.create_connection((connect, port), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    got = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        got[name.strip().lower()] = value.strip()
    return status, got, body


def frame_data(port: int, **kw) -> dict:
    status, _, body = request(port, "/frame-data", **kw)
    assert status == 200, (status, body)
    return json.loads(body)


class WebSocket:
    """A WebSocket client speaking just enough RFC 6455 for web-pdb's console."""

    def __init__(self, port: int, origin: Optional[str] = "same", host: str = "127.0.0.1", cookie: Optional[str] = None, path: str = "/ws", connect: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((connect, port), timeout=HTTP_TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        headers = {
            "Host": f"{host}:{port}",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
        }
        if origin == "same":
            origin = f"http://{host}:{port}"
        if origin is not None:
            headers["Origin"] = origin
        if cookie is not None:
            headers["Cookie"] = cookie
        lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        self.response = head.decode("latin-1")
        self.body = b""
        if self.status != 101:
            self.body = self._read_rest()

    def _read_rest(self) -> bytes:
        data = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return data
                data += chunk
        except OSError:
            return data

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        n = len(payload)
        if n < 126:
            header = bytes([0x81, 0x80 | n])
        elif n < 65536:
            header = bytes([0x81, 0x80 | 126]) + struct.pack(">H", n)
        else:
            header = bytes([0x81, 0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(header + mask + masked)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def wait_history(port: int, needle: str, timeout: float = 20.0, **kw) -> str:
    """Poll /frame-data until the console history contains *needle*."""
    deadline = time.monotonic() + timeout
    history = ""
    while time.monotonic() < deadline:
        history = frame_data(port, **kw).get("console_history", "")
        if needle in history:
            return history
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not in the page's console within {timeout}s; history:\n{history}")


def free_port_block(count: int = 8) -> int:
    """A base port with *count* free ports after it (checked, not reserved: the tests
    that use it bind right away, and a busy port only moves the session)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count >= 65535:
            continue
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no block of free ports found")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def refused(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


class Watched:
    """A running program whose stdout and stderr are collected by reader threads, so a
    test can wait for a line without blocking on a pipe."""

    def __init__(self, proc) -> None:
        import threading

        self.proc = proc
        self.out: list = []
        self.err: list = []
        self._threads = [
            threading.Thread(target=self._pump, args=(proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(proc.stderr, self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, into: list) -> None:
        for line in iter(stream.readline, ""):
            into.append(line)

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def wait_err(self, needle: str, timeout: float = 20.0) -> str:
        """The first stderr line containing *needle*."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.err):
                if needle in line:
                    return line
            if self.proc.poll() is not None and not any(t.is_alive() for t in self._threads):
                break
            time.sleep(0.02)
        raise AssertionError(f"no stderr line with {needle!r} within {timeout}s; stderr:\n{self.stderr}\nstdout:\n{self.stdout}")

    def wait_out(self, needle: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.stdout:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not on stdout within {timeout}s; stdout:\n{self.stdout}\nstderr:\n{self.stderr}")
            time.sleep(0.02)

    def url(self, timeout: float = 20.0) -> str:
        import re

        line = self.wait_err("web debugger at ", timeout)
        return re.search(r"web debugger at (\S+?)[;,]?(\s|$)", line).group(1)

    def finish(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)
        return code


def port_of(url: str) -> int:
    from urllib.parse import urlsplit

    return urlsplit(url).port

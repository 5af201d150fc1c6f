"""Reading a torch job's store without torch: the three requests ``ls`` and ``attach``
make (check, get, multi_get), in the wire format of torch's TCPStore client (torch 2.x:
a one-byte request type, 64-bit little-endian lengths).  Importing torch costs ``ls`` a
second or more, and a pipx or uv tool install has no torch at all.  The connection starts
as torch's client starts it, with a "validate" and a "ping" whose nonce must come back:
a server that speaks another format does not echo it, and then job/store.py uses torch's
own client instead."""

import os
import socket
import struct

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import List

# torch/csrc/distributed/c10d/TCPStoreBackend.hpp: QueryType, CheckResponseType
VALIDATE, GET, CHECK, MULTI_GET, PING = 0, 3, 5, 10, 13
READY = 0
MAGIC = 0x3C85F7CE
MAX_VALUE = 64 << 20  # what one answer may hold: a job's entries are a few hundred KiB


class Mismatch(Exception):
    """The server does not answer as torch's TCPStore server does."""


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


class StoreReader:
    """A read-only client of a TCPStore; every request bounded by *timeout* seconds."""

    # torch's client puts "/" before every key (torch 2.x; "" before): see `settle`.
    key_prefix = "/"

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        try:
            nonce = int.from_bytes(os.urandom(4), "little")
            self.sock.sendall(struct.pack("<BIBI", VALIDATE, MAGIC, PING, nonce))
            if self._exactly(4, mismatch=True) != struct.pack("<I", nonce):
                raise Mismatch("the store did not answer the ping as torch's TCPStore does")
        except BaseException:
            self.sock.close()
            raise

    def _exactly(self, size: int, mismatch: bool = False) -> bytes:
        chunks, left = [], size
        while left:
            chunk = self.sock.recv(min(left, 1 << 20))
            if not chunk:
                if mismatch:
                    raise Mismatch("the store closed the connection at the handshake")
                raise ConnectionError("the store closed the connection")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _value(self) -> bytes:
        (size,) = struct.unpack("<Q", self._exactly(8))
        if size > MAX_VALUE:
            raise ConnectionError(f"the store answered {size} bytes")
        return self._exactly(size)

    def settle(self, key: str) -> None:
        """Use the key prefix under which *key*, written by torch's client, is found."""
        for prefix in ("/", ""):
            if self._check([prefix + key]):
                self.key_prefix = prefix
                return

    def _keys(self, keys: "List[str]") -> bytes:
        return struct.pack("<Q", len(keys)) + b"".join(_string(self.key_prefix + key) for key in keys)

    def _check(self, raw_keys: "List[str]") -> bool:
        self.sock.sendall(struct.pack("<BQ", CHECK, len(raw_keys)) + b"".join(map(_string, raw_keys)))
        return self._exactly(1)[0] == READY

    def check(self, keys: "List[str]") -> bool:
        return self._check([self.key_prefix + key for key in keys])

    def get(self, key: str) -> bytes:
        """The value of *key*, which must exist (``check`` first: the server has no answer
        for a missing key, torch's client waits for it to appear)."""
        self.sock.sendall(struct.pack("<B", GET) + _string(self.key_prefix + key))
        return self._value()

    def multi_get(self, keys: "List[str]") -> "List[bytes]":
        self.sock.sendall(struct.pack("<B", MULTI_GET) + self._keys(keys))
        return [self._value() for _ in keys]

    def close(self) -> None:
        self.sock.close()

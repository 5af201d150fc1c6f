"""The wire between the socket server and `pydebug-hook attach`, as tables of
(what the peer sends, what comes back) over socketpair(), in the test process."""

import json
import socket

import pytest
from internals import Channel, Client, wire

HELLO = wire.hello().encode()


def channel_pair(completer=None):
    server, peer = socket.socketpair()
    peer.settimeout(5)
    channel = Channel(lambda: None, lambda: -1)
    channel.attach(server)
    channel.completer = completer
    channel.detach_prompts = {"(Pdb) "}
    return channel, peer


def received(peer, until: bytes) -> bytes:
    data = b""
    while until not in data:
        chunk = peer.recv(65536)
        assert chunk, f"closed before {until!r}; got {data!r}"
        data += chunk
    return data


@pytest.mark.parametrize(
    "incoming, lines",
    [
        (b"p x\n", ["p x\n"]),
        (b"p x\r\n", ["p x\r\n"]),  # cmd strips the \r itself
        (b"a\nb\n", ["a\n", "b\n"]),
        (b"caf\xc3\xa9\n", ["caf\u00e9\n"]),
        (b"\xff\n", ["\ufffd\n"]),
    ],
)
def test_plain_lines(incoming, lines):
    channel, peer = channel_pair()
    peer.sendall(incoming)
    assert [channel.readline() for _ in lines] == lines


def test_plain_client_never_sees_control_lines():
    channel, peer = channel_pair()
    channel.write("(Pdb) ")
    peer.sendall(b"p 1\n")
    assert channel.readline() == "p 1\n"
    peer.sendall(b"q\n")
    channel.readline()
    channel.drop()
    assert peer.recv(100) == b"(Pdb) "
    assert peer.recv(100) == b""


@pytest.mark.parametrize(
    "prompt, eof",
    [("(Pdb) ", wire.EOF_DETACHES), (">>> ", wire.EOF_SENT), ("Name? ", wire.EOF_SENT)],
)
def test_hello_ok_then_ready_says_what_ctrl_d_means(prompt, eof):
    channel, peer = channel_pair()
    channel.write("banner\n" + prompt)
    peer.sendall(HELLO + b"p 1\n")
    assert channel.readline() == "p 1\n"  # the hello is consumed, not returned
    channel.write(prompt)
    peer.sendall(b"p 2\n")
    assert channel.readline() == "p 2\n"
    data = received(peer, b"\x00ready " + eof.encode() + b"\n")
    assert data.startswith(b"banner\n" + prompt.encode() + b"\x00ok 1\n")


def test_completion_request():
    calls = []

    def completer(text, line, begidx, endidx):
        calls.append((text, line, begidx, endidx))
        return ["secret", "second"]

    channel, peer = channel_pair(completer)
    request = wire.control(wire.COMPLETE, {"text": "sec", "line": "p sec", "begidx": 2, "endidx": 5})
    peer.sendall(HELLO + request.encode() + b"p secret\n")
    assert channel.readline() == "p secret\n"
    assert calls == [("sec", "p sec", 2, 5)]
    data = received(peer, b"\x00completions ")
    data += received(peer, b"\n") if not data.endswith(b"\n") else b""
    payload = data.split(b"\x00completions ", 1)[1].split(b"\n", 1)[0]
    assert json.loads(payload) == ["secret", "second"]


def test_completer_errors_give_no_matches():
    def completer(*args):
        raise RuntimeError("boom")

    channel, peer = channel_pair(completer)
    peer.sendall(HELLO + wire.control(wire.COMPLETE, {"text": "x"}).encode() + b"go\n")
    assert channel.readline() == "go\n"
    assert b"\x00completions []\n" in received(peer, b"\x00completions []\n")


def test_eof_control_is_end_of_input_without_detaching():
    channel, peer = channel_pair()
    peer.sendall(HELLO + b"\x00eof\n" + b"next\n")
    assert channel.readline() == ""
    assert channel.attached
    assert channel.readline() == "next\n"


def test_client_gone_is_end_of_input_and_detach():
    channel, peer = channel_pair()
    peer.close()
    assert channel.readline() == ""
    assert not channel.attached
    assert channel.readline() == ""


def test_last_line_without_newline_still_runs():
    channel, peer = channel_pair()
    peer.sendall(b"p 1\nq")
    peer.close()
    assert channel.readline() == "p 1\n"
    assert channel.readline() == "q\n"
    assert channel.readline() == ""


def test_failed_write_is_remembered_and_handled_at_the_next_read():
    channel, peer = channel_pair()
    peer.close()
    for _ in range(3):
        channel.write("x" * 100000)  # never raises
    assert channel.broken
    assert channel.readline() == ""
    assert not channel.attached


def client_pair():
    ours, server = socket.socketpair()
    server.settimeout(5)
    return Client(ours, "0"), server


@pytest.mark.parametrize(
    "incoming, eof, shown, pending, welcomed",
    [
        (b"> f.py(3)f()\n(Pdb) \x00ok 1\n\x00ready detach\n", "detach", "> f.py(3)f()\n", "(Pdb) ", True),
        (b"out\n>>> \x00ready send\n", "send", "out\n", ">>> ", False),
        (b"a\x00ok 1\nb\n(Pdb) \x00ready detach\n", "detach", "ab\n", "(Pdb) ", True),
        (b"bad \x00\xff marker\n(Pdb) \x00ready detach\n", "detach", "bad \ufffd marker\n", "(Pdb) ", False),
    ],
)
def test_client_reads_until_ready(capsys, incoming, eof, shown, pending, welcomed):
    client, server = client_pair()
    server.sendall(incoming)
    assert client._until_ready() == eof
    assert capsys.readouterr().out == shown
    assert client.pending == pending
    assert client.welcomed is welcomed


def test_client_sees_the_end(capsys):
    client, server = client_pair()
    server.sendall(b"pydebug_hook: refused: another client is attached\n")
    server.close()
    assert client._until_ready() is None
    assert "refused" in capsys.readouterr().out
    assert not client.welcomed


def test_control_lines_parse():
    assert wire.parse("\x00ready detach\n") == ("ready", "detach")
    assert wire.parse("\x00ok\n") == ("ok", "")
    assert wire.parse("ready\n") is None
    assert wire.parse("\x00\xff x\n") is None
    assert wire.load("[1]") == [1] and wire.load("{") is None

"""Dap mode's pieces one by one: ports, what `attach` prints, the guarded listener."""

import json
import socket
import threading

import internals
from internals import ChildInfo, RankInfo, Record, Session, Settings


def _session(rank, world, worker=None):
    child = ChildInfo("dataloader", worker, 1) if worker is not None else None
    settings = Settings(dap_port=5678)
    return Session(exc=None, tb=None, rank=RankInfo(rank, rank, world, "env"), settings=settings, mode="dap", origin="child", child=child)


def test_ports_are_the_base_plus_rank_with_worker_offsets():
    ports = [_session(r, 4).port(5678) for r in range(4)]
    assert ports == [5678, 5679, 5680, 5681]
    assert _session(1, 4, worker=0).port(5678) == 5678 + 1 + 4 and _session(1, 4, worker=2).port(5678) == 5678 + 1 + 12


def test_ssh_forward():
    assert internals.web_guard.ssh_forward(5679, "127.0.0.1", "node7") == "ssh -L 5679:127.0.0.1:5679 node7"
    assert internals.web_guard.ssh_forward(5679, "::1", "node7") == "ssh -L 5679:[::1]:5679 node7"
    assert internals.web_guard.ssh_forward(5679, "localhost", "node7") == "ssh -L 5679:localhost:5679 node7"


def _record(host, endpoint, bound):
    return Record(rank=3, local_rank=3, world_size=4, host=host, pid=42, mode="dap", endpoint=endpoint, exception="E", failed_at=0.0, extra={"port": int(endpoint.rsplit(":", 1)[1]), "bound": bound})


def _launch(text):
    return json.loads(text[text.index("{"): text.rindex("}") + 1])


def test_attach_prints_host_port_and_launch_json_here():
    text = internals.attach.ide_instructions(_record(socket.gethostname(), "127.0.0.1:5681", "127.0.0.1"))
    assert text.startswith("host  127.0.0.1\nport  5681\n")
    launch = _launch(text)
    assert launch == {"name": "pydebug-hook rank 3 (pid 42)", "type": "debugpy", "request": "attach", "connect": {"host": "127.0.0.1", "port": 5681}, "justMyCode": False}
    assert f"From another machine, open a tunnel first, then attach to localhost:5681:\n    ssh -L 5681:127.0.0.1:5681 {socket.gethostname()}" in text


def test_attach_to_a_session_on_another_host_goes_through_a_tunnel():
    text = internals.attach.ide_instructions(_record("gpu-node-12", "127.0.0.1:5681", "127.0.0.1"))
    assert text.startswith("host  localhost\nport  5681\n")
    assert _launch(text)["connect"] == {"host": "localhost", "port": 5681}
    assert "The session is on gpu-node-12: from here, open a tunnel first" in text and "ssh -L 5681:127.0.0.1:5681 gpu-node-12" in text


def test_attach_to_a_session_bound_to_the_network_needs_no_tunnel():
    text = internals.attach.ide_instructions(_record("gpu-node-12", "gpu-node-12:5681", "0.0.0.0"))
    assert _launch(text)["connect"] == {"host": "gpu-node-12", "port": 5681} and "ssh" not in text
    assert _launch(internals.attach.ide_instructions(_record(socket.gethostname(), "[::1]:5681", "::1")))["connect"]["host"] == "::1"


def test_listener_closes_refused_connections_before_pydevd_sees_them():
    Listener, bind = internals.dap_debugger.Listener, internals.dap_debugger.bind

    sock, port = bind("127.0.0.1", range(20000, 20100))
    refused, accepted = [], []
    verdicts = iter(["uid 1234 is not ours", None])
    listener = Listener(sock, lambda conn: next(verdicts), lambda why, peer: refused.append((why, peer)), lambda: accepted.append(1))
    got = []
    thread = threading.Thread(target=lambda: got.append(listener.accept()))
    thread.start()
    first = socket.create_connection(("127.0.0.1", port))
    second = socket.create_connection(("127.0.0.1", port))
    thread.join(10)
    assert first.recv(10) == b""  # closed at once, not handed on
    conn, peer = got[0]
    assert peer == second.getsockname() and accepted == [1]
    assert refused == [("uid 1234 is not ours", first.getsockname())]
    lost = []
    listener.on_lost = lambda: lost.append(1)
    second.close()
    assert conn.recv(10) == b"" and lost == [1]  # the IDE went away: said once
    conn.recv(10)
    assert lost == [1]
    listener.close()
    assert sock.fileno() == -1 and conn.fileno() == -1

"""The pure decisions of web mode (the installed package, in this process): which
addresses are loopback, which Host/Origin/token/cookie pass, which port a session
starts from."""

import pytest
from internals import ChildInfo, RankInfo, Session, Settings, web_guard, web_mode


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"])
def test_loopback_addresses(host):
    assert web_guard.is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.2", "10.1.2.3", "198.51.100.7", "2001:db8::1", "no-such-host.invalid"])
def test_non_loopback_addresses_require_the_token(host):
    assert not web_guard.is_loopback(host)


def test_host_header_parsing_and_url_host():
    assert web_guard.split_host_header("[::1]:4444") == ("::1", "4444")
    assert web_guard.split_host_header("Example.COM") == ("example.com", None)
    assert web_guard.split_host_header("127.0.0.1:80") == ("127.0.0.1", "80")
    assert web_guard.url_host("::1") == "[::1]" and web_guard.url_host("127.0.0.1") == "127.0.0.1" and web_guard.url_host("localhost") == "localhost"


def test_loopback_guard_accepts_localhost_forms_only():
    guard = web_guard.Guard.for_bind("127.0.0.1", 4444, None)
    for host in ("127.0.0.1:4444", "localhost:4444", "LOCALHOST:9000", "[::1]:4444", "127.0.0.1"):
        assert guard.host_allowed(host), host
    for host in ("evil.example:4444", "127.0.0.2:4444", "", None, "myhost:4444", "0.0.0.0:4444"):
        assert not guard.host_allowed(host), host


def test_wildcard_guard_accepts_ip_literals_and_machine_names():
    guard = web_guard.Guard.for_bind("0.0.0.0", 4444, "tok", machine_names=["node7", "node7.cluster.example"])
    for host in ("192.0.2.2:4444", "node7:4444", "NODE7.cluster.example:4444", "localhost:4444", "[2001:db8::1]:4444"):
        assert guard.host_allowed(host), host
    assert not guard.host_allowed("rebind.example:4444")


def test_origin_must_be_our_own_page():
    ok = web_guard.Guard.origin_matches
    assert ok("http://127.0.0.1:4444", "127.0.0.1:4444")
    assert ok("https://localhost:9000", "localhost:9000")
    for origin in ("http://evil.example", "http://127.0.0.1:4445", "null", "", None, "file://", "http://127.0.0.1:4444/x", "ws://127.0.0.1:4444"):
        assert not ok(origin, "127.0.0.1:4444"), origin


def test_every_request_needs_the_token_when_there_is_one():
    guard = web_guard.Guard.for_bind("127.0.0.1", 4444, "s3cret-token")
    headers = {"host": "127.0.0.1:4444"}
    refusal, _ = guard.check("/frame-data", "", headers)
    assert refusal is not None and refusal.kind == "token"
    assert guard.check("/", "token=wrong", headers)[0].kind == "token"
    assert guard.check("/", "token=s3cret-token", headers) == (None, True)
    cookie = dict(headers, cookie="other=1; pydebug_hook_4444=s3cret-token")
    assert guard.check("/frame-data", "", cookie) == (None, False)
    assert guard.check("/frame-data", "", dict(headers, cookie="pydebug_hook_4445=s3cret-token"))[0].kind == "token"
    ws = dict(cookie, origin="http://127.0.0.1:4444")
    assert guard.check("/ws", "", ws) == (None, False)
    assert guard.check("/ws", "", dict(cookie, origin="http://evil.example"))[0].kind == "origin"
    assert guard.set_cookie_header() == "pydebug_hook_4444=s3cret-token; Path=/; HttpOnly; SameSite=Strict"


def test_without_token_the_host_is_checked_first():
    guard = web_guard.Guard.for_bind("127.0.0.1", 4444, None)
    assert guard.check("/", "", {"host": "127.0.0.1:4444"}) == (None, False)
    assert guard.check("/", "", {"host": "evil.example:4444"})[0].kind == "host"
    assert guard.check("/ws", "", {"host": "127.0.0.1:4444"})[0].kind == "origin"


def test_cookie_parsing():
    assert web_guard.parse_cookies('a=1; b="two";c=3=3; bad') == {"a": "1", "b": "two", "c": "3=3"}


def _base_port(rank, world, worker=None, child=True):
    info = ChildInfo("dataloader", worker, 1) if child else None
    session = Session(exc=None, tb=None, rank=RankInfo(rank, rank, world, "env"), settings=Settings(web_port=5000), mode="web", origin="child", child=info)
    return web_mode.base_port(session)


def test_ports_of_ranks_and_worker_processes_never_collide():
    assert _base_port(0, 1, child=False) == 5000
    assert _base_port(1, 4, child=False) == 5001
    # rank r of W, worker w: base + r + W * (w + 1)
    assert _base_port(1, 4, 0) == 5005 and _base_port(1, 4, 2) == 5013 and _base_port(3, 4, 0) == 5007
    ports = {_base_port(r, 4, child=False) for r in range(4)} | {_base_port(r, 4, w) for r in range(4) for w in range(3)}
    assert len(ports) == 4 + 12


def test_token_setting(monkeypatch):
    monkeypatch.delenv("IPDB_WEB_TOKEN", raising=False)
    assert not web_mode.token_forced()
    for value, expected in (("1", True), ("on", True), ("0", False), ("", False), ("maybe", True)):
        monkeypatch.setenv("IPDB_WEB_TOKEN", value)
        assert web_mode.token_forced() is expected, value

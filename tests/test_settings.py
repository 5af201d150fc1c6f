"""Settings: the DESIGN's table, parsed strictly, bad values warned about once."""

import pytest
from helpers import header_lines, run, write_script
from internals import notice, settings


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(notice, "_warned", set())


def warnings_of(capfd):
    out, err = capfd.readouterr()
    assert out == ""  # the tool never writes to stdout
    return [line for line in err.splitlines() if line.startswith("pydebug_hook: ")]


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "Yes", "on", " on "])
def test_debug_on_words(value, capfd):
    assert settings.read({"IPDB_DEBUG": value}).enabled is True
    assert warnings_of(capfd) == []


@pytest.mark.parametrize("value", [None, "", "0", "false", "No", "OFF", "  "])
def test_debug_off_words(value, capfd):
    env = {} if value is None else {"IPDB_DEBUG": value}
    assert settings.read(env).enabled is False
    assert warnings_of(capfd) == []


@pytest.mark.parametrize("value", ["2", "maybe", "enable", "-1"])
def test_debug_bad_value_warns_once_and_stays_off(value, capfd):
    for _ in range(3):
        assert settings.read({"IPDB_DEBUG": value}).enabled is False
    lines = warnings_of(capfd)
    assert len(lines) == 1
    assert repr(value) in lines[0] and "stays off" in lines[0]


@pytest.mark.parametrize("value, mode", [(None, "auto"), ("", "auto"), ("console", "console"), ("WEB", "web"), (" socket ", "socket"), ("auto", "auto")])
def test_mode_words(value, mode, capfd):
    env = {} if value is None else {"IPDB_MODE": value}
    assert settings.read(env).mode == mode
    assert warnings_of(capfd) == []


def test_mode_bad_value_warns_once_and_uses_auto(capfd):
    assert settings.read({"IPDB_MODE": "tty"}).mode == "auto"
    assert settings.read({"IPDB_MODE": "tty"}).mode == "auto"
    lines = warnings_of(capfd)
    assert lines == ["pydebug_hook: IPDB_MODE='tty' is not one of console, web, socket, dump, dap, auto; using auto"]


def test_defaults():
    s = settings.read({})
    assert (s.enabled, s.mode, s.socket_path, s.web_host, s.web_port, s.wait_timeout) == (
        False, "auto", "/tmp/pdb.sock.{rank}", "127.0.0.1", 4444, None
    )


def test_socket_path_template(capfd):
    assert settings.read({"IPDB_SOCKET_PATH": "/run/x/{rank}-{local_rank}-{pid}"}).socket_path == "/run/x/{rank}-{local_rank}-{pid}"
    assert settings.read({"IPDB_SOCKET_PATH": "/run/x/{host}"}).socket_path == settings.DEFAULT_SOCKET_PATH
    assert settings.read({"IPDB_SOCKET_PATH": "/run/x/{"}).socket_path == settings.DEFAULT_SOCKET_PATH
    assert len(warnings_of(capfd)) == 2


@pytest.mark.parametrize("value, port, warned", [("5000", 5000, False), (" 80 ", 80, False), ("0", 4444, True), ("70000", 4444, True), ("http", 4444, True), ("", 4444, False)])
def test_web_port(value, port, warned, capfd):
    assert settings.read({"IPDB_WEB_PORT": value}).web_port == port
    assert len(warnings_of(capfd)) == int(warned)


@pytest.mark.parametrize("value, port, warned", [("6000", 6000, False), ("", 5678, False), ("0", 5678, True), ("65536", 5678, True), ("vscode", 5678, True)])
def test_dap_port(value, port, warned, capfd):
    assert settings.read({"IPDB_DAP_PORT": value}).dap_port == port
    lines = warnings_of(capfd)
    assert len(lines) == int(warned)
    if warned:
        assert lines == [f"pydebug_hook: IPDB_DAP_PORT={value!r} is not a port number; using 5678"]


def test_dap_mode_and_host():
    s = settings.read({"IPDB_MODE": "DAP"})
    assert (s.mode, s.dap_host, s.dap_port) == ("dap", "127.0.0.1", 5678)
    # Its own host: a page opened to the network (IPDB_WEB_HOST) does not open the DAP port.
    assert settings.read({"IPDB_WEB_HOST": "0.0.0.0"}).dap_host == "127.0.0.1"
    assert settings.read({"IPDB_DAP_HOST": "::1"}).dap_host == "::1"
    assert settings.read({"IPDB_DAP_HOST": " "}).dap_host == "127.0.0.1"


def test_web_host():
    assert settings.read({"IPDB_WEB_HOST": "0.0.0.0"}).web_host == "0.0.0.0"
    assert settings.read({"IPDB_WEB_HOST": " "}).web_host == "127.0.0.1"


@pytest.mark.parametrize("value, seconds, warned", [("30", 30.0, False), ("0.5", 0.5, False), ("0", 0.0, False), ("", None, False), ("-1", None, True), ("soon", None, True), ("inf", None, True), ("nan", None, True)])
def test_wait_timeout(value, seconds, warned, capfd):
    assert settings.read({"IPDB_WAIT_TIMEOUT": value}).wait_timeout == seconds
    assert len(warnings_of(capfd)) == int(warned)


@pytest.mark.parametrize("value, seconds, warned", [("30", 30.0, False), (" 2.5 ", 2.5, False), ("", 60.0, False), ("0", 60.0, True), ("-3", 60.0, True), ("later", 60.0, True), ("inf", 60.0, True)])
def test_dump_timeout(value, seconds, warned, capfd):
    assert settings.read({"IPDB_DUMP_TIMEOUT": value}).dump_timeout == seconds
    lines = warnings_of(capfd)
    assert len(lines) == int(warned)
    if warned:
        assert lines[0] == f"pydebug_hook: IPDB_DUMP_TIMEOUT={value!r} is not a number of seconds > 0; using 60"


def test_dump_dir():
    assert settings.read({}).dump_dir == "pydebug-dumps"
    assert settings.read({"IPDB_DUMP_DIR": " "}).dump_dir == "pydebug-dumps"
    assert settings.read({"IPDB_DUMP_DIR": "/shared/dumps/{user}"}).dump_dir == "/shared/dumps/{user}"
    assert settings.read({"IPDB_MODE": "dump"}).mode == "dump"


def test_code_overrides_win():
    env = {"IPDB_DEBUG": "1", "IPDB_MODE": "web"}
    assert settings.read(env, flag_override=False).enabled is False
    assert settings.read({}, flag_override=True).enabled is True
    assert settings.read(env, mode_override="socket").mode == "socket"
    assert settings.read(env, mode_override=None).mode == "web"


def test_bad_override_mode_is_named_as_such(capfd):
    assert settings.read({}, mode_override="gui").mode == "auto"
    assert "Debugger.debug_mode='gui'" in warnings_of(capfd)[0]


def test_settings_are_read_when_an_exception_is_handled_not_at_start(tmp_path, env, python):
    # IPDB_DEBUG=1 at start installs the hooks; the program then changes the mode
    script = write_script(tmp_path, """
        import os
        os.environ["IPDB_MODE"] = "console"
        def inner():
            secret = 42
            return 1 / 0
        inner()
    """)
    env.update(IPDB_DEBUG="1", IPDB_MODE="web")
    result = run([python, str(script)], env, input="p secret\n")
    assert "-> console session" in result.stderr and "42" in result.stdout


def test_bad_values_in_a_real_program_give_exactly_one_line_each(tmp_path, env, procs, python):
    # two exceptions (a thread's and the main thread's), two sessions: one warning
    script = write_script(tmp_path, """
        import threading
        t = threading.Thread(target=lambda: 1 / 0)
        t.start()
        t.join()
        raise ValueError("main")
    """)
    env.update(IPDB_DEBUG="1", IPDB_MODE="bogus", IPDB_WEB_PORT="http")
    child = procs.spawn([python, str(script)], env)  # a terminal: auto is console
    child.expect("ipdb>")
    child.sendline("q")
    child.expect("ipdb>")
    child.sendline("q")
    from helpers import finish, transcript

    assert finish(child) == 1
    out = transcript(child)
    assert len(header_lines(out)) == 2
    assert out.count("pydebug_hook: IPDB_MODE='bogus' is not one of") == 1
    assert out.count("pydebug_hook: IPDB_WEB_PORT='http' is not a port number; using 4444") == 1


def test_bad_debug_value_in_a_real_program_warns_once(tmp_path, env, python, bare_python):
    script = write_script(tmp_path, "def f():\n    return 1 / 0\nf()\n")
    plain = run([bare_python, str(script)], env)
    env["IPDB_DEBUG"] = "maybe"
    ours = run([python, str(script)], env)
    first, rest = ours.stderr.split("\n", 1)
    assert first == "pydebug_hook: IPDB_DEBUG='maybe' is not one of 1/true/yes/on or 0/false/no/off; debugging stays off"
    assert rest == plain.stderr
    assert ours.returncode == plain.returncode == 1

"""The dispatch's decisions, in this process and fast: which exceptions get a session,
in which mode, labelled how, and what the user sees when the tool fails.  A recording
mode (recording_mode.py) stands in for the debugger; the end-to-end tests run the real
modes in real processes."""

import os

import internals
import pytest
import recording_mode
from internals import ChildInfo

MODE = "recording"


@pytest.fixture(autouse=True)
def recording(monkeypatch, tmp_path):
    """IPDB_DEBUG=1 with the recording mode; nothing of the developer's terminal used."""
    monkeypatch.setitem(internals.modes.MODES, MODE, "recording_mode")
    launchers = ("IPDB_", "SLURM_", "OMPI_", "PMI_", "PMIX_", "TORCHELASTIC_")
    for name in [n for n in os.environ if n.startswith(launchers) or n in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("IPDB_DEBUG", "1")
    monkeypatch.setenv("IPDB_MODE", MODE)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("CI", "1")  # our lines never go to a terminal this run may have (core/reach.py)
    monkeypatch.setattr(internals.notice, "_warned", set())
    recording_mode.reset()
    yield
    internals.settings.override(flag=None, mode=None)


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def handle(exc, **kw):
    reported = []
    taken = internals.dispatch.handle(exc, exc.__traceback__, origin=kw.pop("origin", "excepthook"), report=lambda: reported.append(exc), **kw)
    return taken, reported


def ours(capfd) -> list:
    return [line for line in capfd.readouterr().err.splitlines() if line.startswith("pydebug_hook: ")]


def test_an_exception_gets_a_session_in_the_mode_asked_for(capfd):
    exc = raised(ValueError("bad value"))
    assert handle(exc) == (True, [exc])
    [session] = recording_mode.sessions
    assert (session.mode, session.exc, session.origin, session.label) == (MODE, exc, "excepthook", None)
    [header] = ours(capfd)
    assert header.startswith("pydebug_hook: ValueError on rank 0/1 (pid ") and header.endswith(f") -> {MODE} session")


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()], ids=type)
def test_exits_and_interrupts_are_never_debugged(exc, capfd):
    assert handle(raised(exc)) == (False, [])
    assert recording_mode.sessions == [] and ours(capfd) == []


def test_bdb_quit_is_never_debugged():
    import bdb

    assert handle(raised(bdb.BdbQuit())) == (False, [])


def test_an_exception_is_debugged_once():
    exc = raised(KeyError("k"))
    assert handle(exc)[0] and not handle(exc)[0]
    assert len(recording_mode.sessions) == 1


def test_debugging_off_leaves_exceptions_alone_unless_asked(monkeypatch):
    monkeypatch.setenv("IPDB_DEBUG", "0")
    assert handle(raised(ValueError())) == (False, [])
    assert handle(raised(ValueError()), force=True)[0]  # Debugger.post_mortem(): you asked for it
    internals.settings.override(flag=True)  # Debugger.debug_flag = True wins over the environment
    assert handle(raised(ValueError()))[0]
    assert len(recording_mode.sessions) == 2


def test_the_mode_argument_wins_over_the_setting(monkeypatch):
    monkeypatch.setenv("IPDB_MODE", "web")
    handle(raised(ValueError()), mode=MODE)  # blocking_console_post_mortem() asks for console so
    assert [s.mode for s in recording_mode.sessions] == [MODE]


def test_a_preflight_failure_is_one_line_before_any_header(capfd):
    recording_mode.fail_preflight.append("this mode cannot work here")
    exc = raised(ValueError())
    assert handle(exc) == (True, [exc])  # taken: the traceback is reported, as without the tool
    assert ours(capfd) == ["pydebug_hook: this mode cannot work here"]
    assert recording_mode.sessions == []


def test_a_failing_mode_never_hides_the_users_exception(capfd):
    recording_mode.fail_run.append(OSError(28, "No space left on device"))
    exc = raised(ValueError())
    assert handle(exc) == (True, [exc])
    lines = ours(capfd)
    assert len(lines) == 2 and lines[1] == "pydebug_hook: session failed: OSError: [Errno 28] No space left on device"


def test_a_mode_that_never_announces_still_reports_the_exception(capfd):
    recording_mode.announce_first[:] = [False]
    exc = raised(ValueError())
    assert handle(exc) == (True, [exc])
    assert ours(capfd) == []  # no header: no session was announced


def test_a_consequence_on_a_rank_is_labelled(monkeypatch, capfd):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    handle(raised(RuntimeError("[gloo/transport/tcp/pair.cc:553] Connection closed by peer")))
    [session] = recording_mode.sessions
    assert session.label == "consequence of a peer's failure"
    [header] = ours(capfd)
    assert "rank 1/2" in header and header.endswith(f"[consequence of a peer's failure] -> {MODE} session")


def test_a_launchers_summary_of_its_workers_is_not_debugged(capfd):
    ChildFailedError = type("ChildFailedError", (Exception,), {"__module__": "torch.distributed.elastic.multiprocessing.errors"})
    assert handle(raised(ChildFailedError("worker 1 failed"))) == (False, [])
    [line] = ours(capfd)
    assert "is not debugged: launchers report their workers' failures" in line


def test_a_workers_failure_debugged_in_the_worker_opens_no_second_session(capfd):
    exc = raised(ValueError("in the worker"))
    exc.__pydebug_hook_from_child__ = "pool worker 2 of pid 1 (pid 2)"  # the note the worker's patch leaves
    assert handle(exc) == (False, [])
    assert ours(capfd) == ["pydebug_hook: ValueError reports the failure of pool worker 2 of pid 1 (pid 2), debugged there; no second session here"]


def test_a_workers_session_says_whose_it_is(capfd):
    handle(raised(ValueError()), origin="child", child=ChildInfo("pool", 2, 99))
    [session] = recording_mode.sessions
    assert session.child.describe() == "pool worker 2 of pid 99"
    assert "pool worker 2 of pid 99" in ours(capfd)[0]


def test_a_session_within_a_session_opens_none():
    """Code run at the prompt that fails through a decorated function: no nested session."""
    inner = []

    def run_nested(session, announce):
        announce()
        inner.append(handle(raised(KeyError("at the prompt"))))

    recording_mode.run, original = run_nested, recording_mode.run
    try:
        handle(raised(ValueError()))
    finally:
        recording_mode.run = original
    assert inner == [(False, [])]


def test_auto_where_nobody_would_see_a_session_saves_a_dump_instead(monkeypatch, capfd, tmp_path):
    monkeypatch.setenv("IPDB_MODE", "auto")  # CI=1 (the fixture): nobody attends
    monkeypatch.setenv("IPDB_DUMP_DIR", str(tmp_path / "dumps"))
    exc = raised(ValueError("at 3 a.m."))
    assert handle(exc) == (True, [exc])
    lines = ours(capfd)
    assert lines[0].endswith("(no session: CI is set: nobody attends a CI job; the post-mortem is saved instead (IPDB_MODE=socket would wait))")
    assert " post-mortem saved to " in lines[1]
    assert recording_mode.sessions == []
    assert len(list((tmp_path / "dumps").iterdir())) == 1


def test_where_a_session_would_go_is_the_modes_answer():
    assert internals.dispatch.destination() == "recorded in this test's process"

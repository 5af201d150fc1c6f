"""``Debugger.attach_on_error``: decorator and context manager.

Metadata and pass-through are checked in this process (the installed package, debugging
off); sessions are opened in real interpreters with piped stdin.
"""

import asyncio
import functools
import inspect

import internals
import pytest
from helpers import TRACEBACK, header_lines, run, strip_ansi, write_script

import pydebug_hook
from pydebug_hook import Debugger


@pytest.fixture(autouse=True)
def debugging_off(monkeypatch):
    monkeypatch.delenv("IPDB_DEBUG", raising=False)
    monkeypatch.delenv("IPDB_MODE", raising=False)
    Debugger.debug_flag = None  # no override from code: the environment's settings
    Debugger.debug_mode = None


class Boom(Exception):
    pass


def plain(x: int) -> int:
    """Plain doc."""
    raise Boom(x)


async def coro(x: int) -> int:
    """Coroutine doc."""
    await asyncio.sleep(0)
    raise Boom(x)


def gen(x: int):
    """Generator doc."""
    yield x
    raise Boom(x)


async def agen(x: int):
    """Async generator doc."""
    yield x
    raise Boom(x)


KINDS = {
    "plain": (plain, inspect.isfunction),
    "coroutine": (coro, inspect.iscoroutinefunction),
    "generator": (gen, inspect.isgeneratorfunction),
    "async generator": (agen, inspect.isasyncgenfunction),
}


def _drive(func, arg):
    """Call *func* as its kind wants; return the exception it raised."""
    try:
        if inspect.iscoroutinefunction(func):
            asyncio.run(func(arg))
        elif inspect.isasyncgenfunction(func):

            async def consume():
                return [item async for item in func(arg)]

            asyncio.run(consume())
        elif inspect.isgeneratorfunction(func):
            list(func(arg))
        else:
            func(arg)
    except Boom as exc:
        return exc
    raise AssertionError("no exception")


@pytest.mark.parametrize("form", ["bare", "called", "debugger-bare", "debugger-called"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_wraps_metadata_and_kind(kind, form):
    func, is_kind = KINDS[kind]
    decorate = {
        "bare": pydebug_hook.Debugger.attach_on_error,
        "called": pydebug_hook.Debugger.attach_on_error(),
        "debugger-bare": Debugger.attach_on_error,
        "debugger-called": Debugger.attach_on_error(),
    }[form]
    wrapped = decorate(func)
    assert wrapped is not func
    assert is_kind(wrapped)
    for attr in functools.WRAPPER_ASSIGNMENTS:
        assert getattr(wrapped, attr) == getattr(func, attr), attr
    assert wrapped.__wrapped__ is func
    assert inspect.signature(wrapped) == inspect.signature(func)
    exc = _drive(wrapped, 5)
    assert exc.args == (5,)


def test_generators_still_stream_and_take_sent_values():
    @Debugger.attach_on_error
    def echo():
        received = []
        while len(received) < 2:
            received.append((yield len(received)))
        return received

    g = echo()
    assert next(g) == 0
    assert g.send("a") == 1
    with pytest.raises(StopIteration) as stop:
        g.send("b")
    assert stop.value.value == ["a", "b"]

    @Debugger.attach_on_error
    async def aecho():
        got = yield 1
        yield got * 2

    async def consume():
        a = aecho()
        first = await a.__anext__()
        second = await a.asend(21)
        await a.aclose()
        return first, second

    assert asyncio.run(consume()) == (1, 42)


def test_exceptions_pass_untouched_when_debugging_is_off(capfd):
    marker = Boom("marker")

    @Debugger.attach_on_error()
    def fails():
        raise marker

    with pytest.raises(Boom) as info:
        fails()
    assert info.value is marker
    with pytest.raises(Boom) as info, Debugger.attach_on_error():
        raise marker
    assert info.value is marker
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_context_manager_does_not_swallow_and_returns_itself():
    cm = Debugger.attach_on_error()
    with cm as entered:
        assert entered is cm
    with pytest.raises(KeyError), Debugger.attach_on_error():
        {}["missing"]


def test_rejects_a_non_callable():
    with pytest.raises(TypeError):
        Debugger.attach_on_error(42)


# --- sessions in real interpreters -------------------------------------------------

SCENARIOS = {
    "bare": """
        @Debugger.attach_on_error
        def target():
            secret = 42
            raise ERR
        def call():
            target()
    """,
    "called": """
        @Debugger.attach_on_error()
        def target():
            secret = 42
            raise ERR
        def call():
            target()
    """,
    "with": """
        def call():
            with Debugger.attach_on_error():
                secret = 42
                raise ERR
    """,
    "async": """
        import asyncio
        @Debugger.attach_on_error()
        async def target():
            secret = 42
            await asyncio.sleep(0)
            raise ERR
        def call():
            asyncio.run(target())
    """,
    "async-with": """
        import asyncio
        async def target():
            async with Debugger.attach_on_error():
                secret = 42
                raise ERR
        def call():
            asyncio.run(target())
    """,
    "generator": """
        @Debugger.attach_on_error()
        def target():
            yield 1
            secret = 42
            raise ERR
        def call():
            list(target())
    """,
    "async-generator": """
        import asyncio
        @Debugger.attach_on_error()
        async def target():
            yield 1
            secret = 42
            raise ERR
        async def consume():
            return [x async for x in target()]
        def call():
            asyncio.run(consume())
    """,
}

PROLOGUE = """
import sys
from pydebug_hook import Debugger

class Failure(Exception):
    pass

ERR = Failure("the one")
"""

CAUGHT = """
try:
    call()
except Failure as exc:
    print("same object:", exc is ERR, "with its traceback:", exc.__traceback__ is not None)
print("hooks:", sys.excepthook.__module__)
"""


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_session_at_the_raising_frame_then_the_same_object_is_reraised(tmp_path, env, python, scenario):
    import textwrap

    script = write_script(tmp_path, PROLOGUE + textwrap.dedent(SCENARIOS[scenario]) + CAUGHT)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    result = run([python, str(script)], env, input="p secret\nq\n")
    assert "42" in result.stdout, result.stdout + result.stderr
    assert "same object: True with its traceback: True" in result.stdout
    assert f"hooks: {internals.HOOKS_MODULE}" in result.stdout  # q in ipdb left our hook in place
    assert len(header_lines(result.stderr)) == 1
    assert result.stderr.count(TRACEBACK) == 1
    assert result.returncode == 0


def test_outer_decorator_and_excepthook_open_no_second_session(tmp_path, env, python):
    script = write_script(tmp_path, """
        from pydebug_hook import Debugger

        @Debugger.attach_on_error()
        def inner():
            secret = 42
            raise ValueError("once")

        @Debugger.attach_on_error()
        def outer():
            with Debugger.attach_on_error():
                inner()

        outer()
    """)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    result = run([python, str(script)], env, input="p secret\nwhere\nq\n")
    assert "42" in result.stdout
    assert len(header_lines(result.stderr)) == 1
    assert result.stderr.count(TRACEBACK) == 1
    assert result.returncode == 1
    # the traceback printed with the session is the whole stack, as Python would print
    # it for the uncaught exception: the excepthook, which prints nothing more, loses nothing
    tb = result.stderr.split(TRACEBACK, 1)[1]
    assert tb.index("<module>") < tb.index("in outer") < tb.index("in inner")
    assert tb.rstrip().endswith("ValueError: once")
    # and `where` in the session reaches the callers too
    assert "<module>()" in strip_ansi(result.stdout)


def test_decorated_function_in_a_thread_gets_one_session(tmp_path, env, python):
    script = write_script(tmp_path, """
        import threading
        from pydebug_hook import Debugger

        @Debugger.attach_on_error()
        def work():
            secret = 42
            raise ValueError("in a thread")

        t = threading.Thread(target=work)
        t.start()
        t.join()
        print("main goes on")
    """)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    result = run([python, str(script)], env, input="p secret\nq\n")
    assert "42" in result.stdout and "main goes on" in result.stdout
    assert len(header_lines(result.stderr)) == 1
    assert result.stderr.count(TRACEBACK) == 1 and "AttributeError" not in result.stderr
    assert result.returncode == 0


def test_decorated_call_with_debugging_on_in_code_only(tmp_path, env, python):
    # IPDB_DEBUG unset: Debugger.debug_flag = True is what turns debugging on
    script = write_script(tmp_path, """
        from pydebug_hook import Debugger
        Debugger.debug_flag = True
        Debugger.debug_mode = "console"

        @Debugger.attach_on_error()
        def target():
            secret = 42
            raise ValueError("x")

        try:
            target()
        except ValueError:
            print("re-raised")
    """)
    result = run([python, str(script)], env, input="p secret\nq\n")
    assert "42" in result.stdout and "re-raised" in result.stdout
    assert len(header_lines(result.stderr)) == 1
    assert result.returncode == 0


@pytest.mark.parametrize(
    "raise_it, status",
    [
        ("raise SystemExit(4)", 4),
        ("raise KeyboardInterrupt", -2),
        ("raise GeneratorExit", 1),
        ("import bdb; raise bdb.BdbQuit", 1),
    ],
    ids=["SystemExit", "KeyboardInterrupt", "GeneratorExit", "BdbQuit"],
)
def test_exceptions_that_are_not_errors_pass_without_a_session(tmp_path, env, python, raise_it, status):
    script = write_script(tmp_path, f"""
        from pydebug_hook import Debugger

        @Debugger.attach_on_error()
        def target():
            {raise_it}

        with Debugger.attach_on_error():
            target()
    """)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    result = run([python, str(script)], env, input="q\n")
    assert header_lines(result.stderr) == []
    assert result.stdout == ""  # no session
    assert result.returncode == status

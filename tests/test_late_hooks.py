"""Hooks the program installs after our start-up hook, and the interactive prompt."""

from helpers import PROMPT, command, finish, transcript, write_script

LATE_HOOK = """
    import sys

    def own_hook(typ, value, tb):  # like rich.traceback.install(): does not chain
        print("OWN HOOK:", typ.__name__, value, file=sys.stderr)

    sys.excepthook = own_hook

    def work():
        secret = 99
        raise KeyError("gone")

    work()
"""


def test_hook_replaced_after_startup_debugs_at_exit(tmp_path, python, env, procs):
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    child = procs.spawn([python, str(write_script(tmp_path, LATE_HOOK))], env)
    child.expect(PROMPT)
    out = command(child, "p secret")
    assert "99" in out
    child.sendline("q")
    assert finish(child) == 1
    text = transcript(child)
    # The program's hook printed the error its way, once; then the session opened.
    assert text.count("OWN HOOK: KeyError 'gone'") == 1
    assert "replaced sys.excepthook after start-up; debugging its uncaught KeyError at exit" in text
    assert text.index("OWN HOOK") < text.index("KeyError on rank 0/1")


def test_hook_replaced_after_startup_without_debugging_is_untouched(tmp_path, python, bare_python, env):
    from helpers import run

    script = str(write_script(tmp_path, LATE_HOOK))
    ours = run([python, script], dict(env, IPDB_DEBUG="0"))
    plain = run([bare_python, script], env)
    assert (ours.returncode, ours.stderr) == (plain.returncode, plain.stderr)


def test_errors_at_the_interactive_prompt_are_reported_not_debugged(python, env, procs):
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    child = procs.spawn([python, "-q"], env)
    child.expect(">>> ")
    child.sendline("1/0")
    child.expect("ZeroDivisionError")
    child.expect(">>> ")
    child.sendline("print('still here')")
    child.expect("still here")
    child.sendline("exit()")
    assert finish(child) == 0
    assert "session" not in transcript(child)

"""The shortest path a new user takes: an unmodified script crashes into ipdb."""

import sys
import textwrap

from helpers import strip_ansi


def test_uncaught_exception_opens_ipdb_at_raising_frame(tmp_path, env, procs):
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent("""
        def inner(n):
            secret = n * 2
            return 10 / (n - n)
        inner(21)
    """))
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    child = procs.spawn([sys.executable, str(script)], env)
    child.expect("ipdb>")
    assert "return 10 / (n - n)" in strip_ansi(child.before)
    child.sendline("p secret")
    child.expect("42")
    child.sendline("q")
    child.expect_exact(child.EOF if hasattr(child, "EOF") else __import__("pexpect").EOF)
    child.close()
    assert child.exitstatus == 1

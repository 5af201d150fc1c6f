"""Console mode in worker processes, on a real pty: multiprocessing replaces a worker's
stdin by /dev/null, so its console session needs the terminal it was started from, and
sibling workers failing together take turns on it.

Which terminal a console session uses, and the turns, come from ``_terminal`` and the
terminal queue, as for the ranks of a job.
"""

import re
import textwrap

from helpers import PROMPT, command, finish, header_lines, transcript, write_script

PROCESS = """
import multiprocessing as mp

def work(n):
    secret = n * 3
    raise KeyError(f"bad {n}")

if __name__ == "__main__":
    mp.set_start_method("fork")
    p = mp.Process(target=work, args=(7,))
    p.start()
    p.join()
    print("exitcode", p.exitcode, flush=True)
"""


def test_console_mode_in_a_worker_uses_the_terminal(procs, python, env, tmp_path):
    script = write_script(tmp_path, PROCESS)
    child = procs.spawn([python, str(script)], dict(env, IPDB_DEBUG="1", IPDB_MODE="console"))
    child.expect(PROMPT)
    first = transcript(child)
    (header,) = header_lines(first)
    assert f"process worker 1 of pid {child.pid}" in header and header.endswith("-> console session")
    assert 'raise KeyError(f"bad {n}")' in first.split("Process Process-1:")[-1]
    assert "21" in command(child, "p secret")
    child.sendline("q")
    assert finish(child) == 0
    assert "exitcode 1" in transcript(child)


def test_auto_mode_in_a_spawned_pool_worker_started_from_a_terminal(procs, python, env, tmp_path):
    source = """
    import multiprocessing as mp

    def work(n):
        secret = n * 3
        if n == 2:
            raise ValueError(f"bad {n}")
        return n

    if __name__ == "__main__":
        with mp.get_context("spawn").Pool(1) as pool:
            print(pool.map(work, range(4)))
    """
    script = write_script(tmp_path, textwrap.dedent(source))
    child = procs.spawn([python, str(script)], dict(env, IPDB_DEBUG="1"))  # IPDB_MODE unset: auto
    child.expect(PROMPT)
    assert "pool worker 1 of pid" in header_lines(transcript(child))[0]
    assert "6" in command(child, "p secret")
    child.sendline("c")
    assert finish(child) == 1
    out = transcript(child)
    assert "RemoteTraceback" in out and "debugged there; no second session here" in out


def test_sibling_workers_failing_together_take_turns(procs, python, env, tmp_path):
    source = """
    import multiprocessing as mp

    def work(n, ready):
        ready.wait()  # both fail at about the same time
        secret = n * 100
        raise ValueError(f"worker {n}")

    if __name__ == "__main__":
        mp.set_start_method("fork")
        ready = mp.Barrier(2)
        workers = [mp.Process(target=work, args=(n, ready)) for n in (1, 2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        print("exitcodes", [w.exitcode for w in workers], flush=True)
    """
    script = write_script(tmp_path, textwrap.dedent(source))
    child = procs.spawn([python, str(script)], dict(env, IPDB_DEBUG="1", IPDB_MODE="console"))
    seen = []
    for turn in range(2):
        if turn:
            child.sendline("q")
            child.expect(r"worker \d of pid \d+\)[^\n]*-> console session")  # the next one's turn
        child.expect(PROMPT)
        seen.append(command(child, "p secret"))
    assert sorted(int(re.search(r"\b(100|200)\b", s).group(1)) for s in seen) == [100, 200]
    child.sendline("q")
    assert finish(child) == 0
    assert "exitcodes [1, 1]" in transcript(child)

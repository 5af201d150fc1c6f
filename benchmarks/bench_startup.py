#!/usr/bin/env python3
"""What pydebug-hook costs: interpreter start-up and a decorated call.

    python benchmarks/bench_startup.py              # builds two throwaway venvs first
    python benchmarks/bench_startup.py --runs 400   # more runs, tighter figures
    python benchmarks/bench_startup.py --installed .venv-test/py3.11/bin/python \\
                                       --baseline /path/to/venv-without/bin/python

Start-up is ``python -c pass`` in three configurations, run interleaved (each round runs
all three in a random order, so drift of the machine hits them alike): a venv without
the package (the baseline), the same Python with pydebug-hook installed and
``IPDB_DEBUG`` unset, and installed with ``IPDB_DEBUG=1``.  Reported: the median and the
interquartile range of each, and the difference and ratio of medians to the baseline.
``-X importtime`` then shows what ``IPDB_DEBUG=1`` imports at start-up.  Last, the cost of
a call through ``@Debugger.attach_on_error()`` against the bare function (timeit) and
the number of frames it adds.

Targets (DESIGN, "Costs"; issue 15): unset — no measurable difference; ``IPDB_DEBUG=1`` —
within 0.8 ms of the baseline (the paired difference's median), and no
ipdb/IPython/web-pdb/torch import; decorated call — one extra frame, about 0.1 µs.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from typing import Dict, List, Sequence

from scale import machine

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("ipdb", "IPython", "web_pdb", "torch", "prompt_toolkit")
TARGET_MS = 0.8  # IPDB_DEBUG=1 start-up, over the same environment without the package


def _clean_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDB_", "PYTHON"))}
    env.update(extra)
    return env


def make_venvs(where: str) -> Dict[str, str]:
    """Two venvs of this Python with the same packages (pip, setuptools, ipdb, web-pdb),
    pydebug-hook installed in one of them only: the difference is ours alone."""
    pythons = {}
    print(f"building two venvs in {where} ...", file=sys.stderr)
    for name, what in (("baseline", ["ipdb", "web-pdb>=2"]), ("installed", [REPO])):
        path = os.path.join(where, name)
        venv.EnvBuilder(with_pip=True).create(path)
        pythons[name] = os.path.join(path, "bin", "python")
        subprocess.run(
            [pythons[name], "-m", "pip", "install", "-q", "--disable-pip-version-check", *what],
            check=True, env=_clean_env(),
        )
    return pythons


def time_once(python: str, env: Dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - start


def startup(pythons: Dict[str, str], runs: int) -> Dict[str, List[float]]:
    configs = {
        "no package (baseline)": (pythons["baseline"], _clean_env()),
        "installed, IPDB_DEBUG unset": (pythons["installed"], _clean_env()),
        "installed, IPDB_DEBUG=1": (pythons["installed"], _clean_env(IPDB_DEBUG="1")),
    }
    samples: Dict[str, List[float]] = {name: [] for name in configs}
    for name, (python, env) in configs.items():  # warm the page cache
        for _ in range(5):
            time_once(python, env)
    order = list(configs)
    for _ in range(runs):
        random.shuffle(order)
        for name in order:
            samples[name].append(time_once(*configs[name]))
    return samples


def quartiles(values: Sequence[float]):
    q = statistics.quantiles(values, n=4)
    return q[0], statistics.median(values), q[2]


def paired_difference(values: Sequence[float], base: Sequence[float], resamples: int = 2000):
    """Median of the per-round differences and its 95% bootstrap interval: runs of one
    round are close in time, so pairing them cancels most of the machine's drift."""
    diffs = [v - b for v, b in zip(values, base)]
    rng = random.Random(829)
    medians = sorted(statistics.median(rng.choices(diffs, k=len(diffs))) for _ in range(resamples))
    return statistics.median(diffs), medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def print_startup(samples: Dict[str, List[float]], runs: int) -> None:
    names = list(samples)
    baseline = samples[names[0]]
    _, base, _ = quartiles(baseline)
    print(f"\nInterpreter start-up, `python -c pass`, {runs} interleaved runs each\n")
    print("| configuration | median | IQR (25%–75%) | ratio of medians | paired difference (95% CI) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in names:
        low, med, high = quartiles(samples[name])
        if name == names[0]:
            ratio = diff = "—"
        else:
            d, d_low, d_high = paired_difference(samples[name], baseline)
            ratio = f"{med / base:.3f}×"
            diff = f"{d * 1e3:+.2f} ms ({d_low * 1e3:+.2f} to {d_high * 1e3:+.2f})"
        print(f"| {name} | {med * 1e3:.2f} ms | {low * 1e3:.2f}–{high * 1e3:.2f} ms | {ratio} | {diff} |")
    d, _, d_high = paired_difference(samples[names[-1]], baseline)
    met = "met" if d <= TARGET_MS / 1e3 else "NOT met"
    print(f"\n{names[-1]}: {d * 1e3:+.2f} ms over the baseline (upper 95% bound {d_high * 1e3:+.2f} ms); target within {TARGET_MS} ms: {met}")


PTH_BENCH = r"""
import os, site, sysconfig, timeit
os.environ.pop("IPDB_DEBUG", None)
where = sysconfig.get_paths()["purelib"]
number = 5000
print(min(timeit.repeat(lambda: site.addpackage(where, "pydebug_hook.pth", {where}), number=number, repeat=5)) / number)
"""


def pth_line_cost(python: str) -> None:
    out = subprocess.run([python, "-c", PTH_BENCH], env=_clean_env(), capture_output=True, text=True, check=True).stdout
    print(f"\nThe .pth line alone, IPDB_DEBUG unset (`site.addpackage` on it, timeit): {float(out) * 1e6:.0f} µs per start-up")


def imports_with_debug(python: str) -> None:
    result = subprocess.run(
        [python, "-X", "importtime", "-c", "pass"], env=_clean_env(IPDB_DEBUG="1"), capture_output=True, text=True, check=True
    )
    rows = []
    for line in result.stderr.splitlines():
        parts = line[len("import time:"):].split("|") if line.startswith("import time:") else []
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # not a row, or the header row
        self_us, cumulative, name = (part.strip() for part in parts)
        rows.append((name, self_us, cumulative))
    ours = [r for r in rows if r[0].startswith("pydebug_hook")]
    heavy = [r[0] for r in rows if r[0].split(".")[0] in HEAVY]
    total = sum(int(r[1]) for r in ours)
    print("\nImported at start-up with IPDB_DEBUG=1 (`-X importtime`, self time)\n")
    print("| module | self µs |")
    print("| --- | ---: |")
    for name, self_us, _ in ours:
        print(f"| {name} | {self_us} |")
    print(f"| **all pydebug_hook modules** | **{total}** |")
    print(f"\nipdb / IPython / web_pdb / torch / prompt_toolkit imported: {', '.join(heavy) if heavy else 'none'}")


CALL_BENCH = r"""
import sys, timeit
from pydebug_hook import Debugger

def bare(x):
    return x

@Debugger.attach_on_error()
def decorated(x):
    return x

def depth():
    return len(__import__("traceback").extract_stack())

@Debugger.attach_on_error()
def decorated_depth():
    return depth()

def bare_depth():
    return depth()

number = 2_000_000
best = {}
for name, func in (("bare", bare), ("decorated", decorated)) * 3:
    t = min(timeit.repeat(lambda: func(1), number=number, repeat=3)) / number
    best[name] = min(best.get(name, t), t)
empty = min(timeit.repeat(lambda: None, number=number, repeat=3)) / number
print(best["bare"] - empty, best["decorated"] - empty, decorated_depth() - bare_depth())
"""


def call_overhead(python: str) -> None:
    out = subprocess.run([python, "-c", CALL_BENCH], env=_clean_env(), capture_output=True, text=True, check=True).stdout
    bare, decorated, frames = out.split()
    bare_ns, decorated_ns = float(bare) * 1e9, float(decorated) * 1e9
    print("\nA call with no exception (timeit, best of 3 × 2,000,000, lambda overhead subtracted)\n")
    print("| function | ns per call | frames added |")
    print("| --- | ---: | ---: |")
    print(f"| bare | {bare_ns:.0f} | — |")
    print(f"| `@Debugger.attach_on_error()` | {decorated_ns:.0f} (+{decorated_ns - bare_ns:.0f}) | {frames} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="start-up runs per configuration (default 200)")
    parser.add_argument("--installed", help="a python with pydebug-hook installed (default: build a venv)")
    parser.add_argument("--baseline", help="the same python without it (default: build a venv)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pydebug-hook-bench-") as where:
        if args.installed and args.baseline:
            pythons = {"installed": args.installed, "baseline": args.baseline}
        else:
            pythons = make_venvs(where)
        version = subprocess.run([pythons["installed"], "-c", "import sys, platform; print(platform.python_version())"], capture_output=True, text=True, check=True).stdout.strip()
        print(f"pydebug-hook benchmark: Python {version}, {os.cpu_count()} CPUs; {machine()}")
        print_startup(startup(pythons, args.runs), args.runs)
        pth_line_cost(pythons["installed"])
        imports_with_debug(pythons["installed"])
        call_overhead(pythons["installed"])
        print(f"\nload at the end: {machine().rsplit('load ', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the benchmarks share: the unit S, one ``python -c pass`` of the same interpreter
measured in the same run (interleaved with what is measured, so that the machine's
drift and load hit both alike); the machine and its load; and one way to print a
figure: median, spread, and the ratio to S beside its target.

Targets are in S because a figure in milliseconds says as much about the machine as
about the code: a 2-core VM starts Python in 12 ms, a laptop in 8.
"""

import os
import platform
import random
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

CLEAN = {k: v for k, v in os.environ.items() if not k.startswith(("IPDB_", "PYTHON"))}


def machine() -> str:
    """The machine, in one line: CPU model, CPUs, Python, load average now."""
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load {load()}"


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def python_start(python: str = sys.executable, env: Optional[Dict[str, str]] = None) -> float:
    """Seconds for one ``python -c pass``: one S."""
    start = time.perf_counter()
    subprocess.run([python, "-c", "pass"], env=CLEAN if env is None else env, check=True)
    return time.perf_counter() - start


def interleaved(rounds: int, measures: Dict[str, Callable[[], object]], warm: int = 2) -> Dict[str, List[float]]:
    """Each round runs every measure once, in a random order; *warm* rounds first, not
    kept (the page cache, IPython's profile directory...).  A measure returns seconds,
    or a dict of named figures in seconds (one run, several moments)."""
    samples: Dict[str, List[float]] = {}
    order = list(measures)
    for index in range(warm + rounds):
        random.shuffle(order)
        for name in order:
            value = measures[name]()
            if index < warm:
                continue
            for key, seconds in (value.items() if isinstance(value, dict) else [(name, value)]):
                samples.setdefault(key, []).append(seconds)
    return samples


def spread(values: Sequence[float]) -> str:
    if len(values) < 4:
        return f"{min(values) * 1e3:.1f}–{max(values) * 1e3:.1f} ms (all)"
    q = statistics.quantiles(values, n=4)
    return f"IQR {q[0] * 1e3:.1f}–{q[2] * 1e3:.1f} ms"


def report(name: str, values: Sequence[float], unit: Optional[Sequence[float]] = None, target: Optional[float] = None, at_most: bool = True) -> str:
    """One line: *name*, median and spread in ms, and with *unit* (samples of S) the ratio
    of the medians and whether it meets *target* (in S)."""
    median = statistics.median(values)
    line = f"  {name:<52} median {median * 1e3:7.1f} ms  ({spread(values)}, n={len(values)})"
    if unit is not None:
        ratio = median / statistics.median(unit)
        line += f"  = {ratio:5.2f} S"
        if target is not None:
            met = ratio <= target if at_most else ratio >= target
            line += f"  target {'≤' if at_most else '≥'} {target:g} S: {'met' if met else 'NOT met'}"
    print(line, flush=True)
    return line

"""What dump mode costs: from the exception to the dump written and the program exited,
and how large the dump is, for a small script, for a training step holding a model and
a batch of tensors, and for a frame holding huge objects (the bounds at work).

    python benchmarks/bench_dump.py [--runs 5] [--skip-huge]

Run it with the interpreter that has pydebug-hook and torch installed
(``.venv-test/py3.11/bin/python`` after ``scripts/test.sh``).  The crashing program
writes CLOCK_MONOTONIC (system-wide on Linux) just before it raises; this process takes
the time when ``waitpid`` returns.  Each scenario also runs without the tool (IPDB_DEBUG
unset): the difference is what the dump adds.  Then ``pydebug-hook load`` of the dump,
with ``q`` on its stdin: from the command to its exit.
"""

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL = """
import os, time
def parse(rows):
    totals = {"count": 0, "sum": 0.0}
    for row in rows:
        totals["count"] += 1
        totals["sum"] += float(row["amount"])
    return totals
rows = [{"id": i, "amount": str(i * 1.5)} for i in range(50)] + [{"id": 50, "amount": "n/a"}]
os.write(1, repr(time.monotonic()).encode() + b"\\n")
parse(rows)
"""

TRAINING = """
import os, time, torch
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(1024, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 10)
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
def train_step(model, batch, target):
    optimizer.zero_grad()
    logits = model(batch)
    loss = torch.nn.functional.cross_entropy(logits, target)
    loss.backward()
    optimizer.step()
    os.write(1, repr(time.monotonic()).encode() + b"\\n")
    raise FloatingPointError(f"loss is {loss.item()}")
batch = torch.randn(256, 1024)
target = torch.randint(0, 10, (256,))
train_step(model, batch, target)
"""

HUGE = """
import os, time, torch
def fail():
    weights = torch.randn(256 << 20)                          # 1 GiB of float32
    shards = [torch.randn(15 << 20) for _ in range(6)]        # 6 x 60 MiB: each under the limit of one tensor
    samples = list(range(10_000_000))                         # a list of 10 million ints
    index = {i: str(i) for i in range(1_000_000)}             # a dict of a million entries
    text = "a line of a log file\\n" * 5_000_000              # 100 MB of text
    os.write(1, repr(time.monotonic()).encode() + b"\\n")
    raise MemoryError("pretend")
fail()
"""

SCENARIOS = {
    "small script": SMALL,
    "training step (model 6.3M params, batch 256x1024)": TRAINING,
    "huge objects (1 GiB tensor, 6 x 60 MiB tensors, 10M list, 1M dict, 100 MB str)": HUGE,
}


def environment(base: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDB_", "PYTHON"))}
    runtime = base / "run"
    runtime.mkdir(mode=0o700)
    env.update(XDG_RUNTIME_DIR=str(runtime), HOME=str(base), PYTHONWARNINGS="ignore", IPDB_DUMP_DIR=str(base / "dumps"))
    return env


def crash_to_exit(script: Path, env: dict) -> float:
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=600)
    exited = time.monotonic()
    if proc.returncode != 1 or not out:
        raise SystemExit(f"{script.name}: exit {proc.returncode}\n{err.decode(errors='replace')}")
    return exited - float(out.split(b"\n", 1)[0])


def newest_dump(directory: Path) -> Path:
    return max(directory.glob("*.dump"), key=lambda p: p.stat().st_mtime)


def load_time(path: Path, env: dict) -> float:
    exe = shutil.which("pydebug-hook", path=os.path.dirname(sys.executable)) or "pydebug-hook"
    t = time.perf_counter()
    done = subprocess.run([exe, "load", str(path)], env=env, input=b"q\n", capture_output=True, timeout=600, check=False)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"load failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def header(path: Path) -> dict:
    data = path.read_bytes()[:65536]
    return json.loads(data[10 : data.index(b"\x00", 10)])


def inflated_size(path: Path) -> int:
    with gzip.open(path, "rb") as f:
        return sum(len(chunk) for chunk in iter(lambda: f.read(1 << 20), b""))


def mb(n: float) -> str:
    return f"{n / 1e6:,.2f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-huge", action="store_true", help="leave out the scenario with huge objects")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pydebug_hook-bench-"))
    try:
        env = environment(base)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; median of {args.runs} runs (huge objects: {max(1, args.runs // 2)})")
        print()
        print("| scenario | exception to exit, without the tool | with IPDB_MODE=dump | dump adds | dump file | inflated JSON | `load` to `q` |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, source in SCENARIOS.items():
            if args.skip_huge and source is HUGE:
                continue
            runs = max(1, args.runs // 2) if source is HUGE else args.runs
            script = base / "crash.py"
            script.write_text(source)
            plain = [crash_to_exit(script, env) for _ in range(runs)]
            dumped = [crash_to_exit(script, dict(env, IPDB_DEBUG="1", IPDB_MODE="dump")) for _ in range(runs)]
            dump = newest_dump(base / "dumps")
            loads = [load_time(dump, env) for _ in range(max(1, runs // 2))]
            p, d = statistics.median(plain), statistics.median(dumped)
            print(f"| {name} | {p * 1000:,.0f} ms | {d * 1000:,.0f} ms | {(d - p) * 1000:,.0f} ms | "
                  f"{mb(dump.stat().st_size)} | {mb(inflated_size(dump))} | {statistics.median(loads) * 1000:,.0f} ms |")
            left_out = header(dump).get("left_out") or {}
            if left_out:
                print(f"|   left out by the bounds: {', '.join(f'{k}: {v}' for k, v in left_out.items())} | | | | | | |")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Single-process scenarios of pydebug_hook (the seed's debug_single_process.py).

    IPDB_DEBUG=1 python examples/py_debug/debug_single_process.py --mode error
    python examples/py_debug/debug_single_process.py --mode context --debug
    python examples/py_debug/debug_single_process.py --mode math_error --debug --debug_mode console

Modes:
  hello       runs a decorated function that succeeds: no debugger, exit status 0
  error       a decorated function raises IndexError: a session opens at the raising
              line, then the error goes on as usual (traceback printed once, exit 1)
  math_error  ZeroDivisionError caught in an ``except`` block that calls
              ``Debugger.blocking_console_post_mortem(rank=0)`` (the seed's pattern):
              a console session, then the program carries on (exit 0)
  context     a ``with Debugger.attach_on_error():`` block raises KeyError: a session
              opens, then the error goes on (exit 1)

Without ``--debug`` or ``IPDB_DEBUG=1`` every error is an ordinary traceback.
"""

import argparse
import sys

from pydebug_hook import Debugger


@Debugger.attach_on_error()
def hello(name: str) -> str:
    greeting = f"Hello, {name}!"
    print(greeting)
    return greeting


@Debugger.attach_on_error()
def error(items: list) -> int:
    index = len(items) + 7
    return items[index]  # IndexError: the session opens here


def average(values: list) -> float:
    total = sum(values)
    count = len(values)
    return total / count  # ZeroDivisionError when values is empty


def math_error() -> None:
    try:
        print(f"average of [] = {average([])}")
    except ZeroDivisionError as e:
        if Debugger.debug_flag:
            print(f"caught: {e!r}; opening a console post-mortem")
            Debugger.blocking_console_post_mortem(rank=0)
            print("the program carries on after the post-mortem")
        else:
            raise


def context() -> None:
    config = {"learning_rate": 0.1, "epochs": 3}
    with Debugger.attach_on_error():
        batch_size = config["batch_size"]  # KeyError: the session opens here
        print(batch_size)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["hello", "error", "math_error", "context"], default="hello")
    parser.add_argument("--debug", action="store_true", help="debug even without IPDB_DEBUG=1")
    parser.add_argument("--debug_mode", choices=["console", "web", "socket", "dap"], help="overrides IPDB_MODE")
    args = parser.parse_args(argv)

    if args.debug:
        Debugger.debug_flag = True
    if args.debug_mode:
        Debugger.debug_mode = args.debug_mode

    if args.mode == "hello":
        hello("pydebug_hook")
    elif args.mode == "error":
        print(f"item: {error([1, 2, 3])}")
    elif args.mode == "math_error":
        math_error()
    else:
        context()
    return 0


if __name__ == "__main__":
    sys.exit(main())

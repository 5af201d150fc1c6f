"""An ordinary program that knows nothing about pydebug_hook, and crashes.

    python examples/py_debug/plain_crash.py                 # a traceback, as always
    IPDB_DEBUG=1 python examples/py_debug/plain_crash.py    # ipdb at the line that raised

Try ``p row``, ``p totals``, ``up``, ``where``, then ``q``.
"""

import csv
import io

DATA = """name,amount
coffee,3.50
bagel,2.25
refund,n/a
"""


def parse(row: dict) -> float:
    return float(row["amount"])  # "n/a" raises ValueError here


def total(text: str) -> float:
    totals = []
    for row in csv.DictReader(io.StringIO(text)):
        totals.append(parse(row))
    return sum(totals)


if __name__ == "__main__":
    print(f"total: {total(DATA)}")

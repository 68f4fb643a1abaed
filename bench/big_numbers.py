"""What reading a file costs when a number in it is beyond 64-bit or double range.

yajl2_c (ijson's C parser) refuses such a file at the number; the reader then reads the file
again with ijson's pure-Python parser (migrator/source.py). This prints the seconds to read a
model-status.json of N statuses with the C parser (no such number), and with one such number
near the end (the C parser's work up to it, then the whole file again in Python).

    .venv/bin/python bench/big_numbers.py --statuses 200000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import django  # noqa: E402


def write(path: Path, statuses: int, *, big: bool) -> None:
    items = {
        f"p-m{i}": {"status": "operational", "availability": 99.5, "latencyP50": 120 + i % 50}
        for i in range(statuses)
    }
    if big:  # the last record (the worst case: the C parser read the whole file first)
        items[f"p-m{statuses - 1}"]["latencyP50"] = "__BIG__"
    text = json.dumps({"version": "1", "statuses": items}).replace('"__BIG__"', "1e400")
    path.write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statuses", type=int, default=200_000)
    args = parser.parse_args()
    django.setup()
    from migrator import source

    with tempfile.TemporaryDirectory() as tmp:
        for big in (False, True):
            path = Path(tmp) / ("big" if big else "plain") / "model-status.json"
            path.parent.mkdir()
            write(path, args.statuses, big=big)
            export_file = source.resolve([str(path.parent)])["statuses"]
            started = time.perf_counter()
            count = sum(1 for _ in source.iter_records(export_file))
            seconds = time.perf_counter() - started
            label = "one number out of range" if big else "plain (C parser only)"
            size = path.stat().st_size / 1e6
            print(f"{label:<26} {count:>8} statuses {size:7.1f} MB {seconds:7.2f} s")


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    main()

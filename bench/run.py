"""Run the benchmarks, write bench/results.json and print a Markdown table.

`python -m bench.run` runs them all; `python -m bench.run ask` only the named ones. A benchmark
is a function returning a flat dict of numbers; register new ones in BENCHMARKS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import ask, fanout, reminder_scan, turns

Benchmark = Callable[[], dict[str, Any]]

BENCHMARKS: dict[str, Benchmark] = {
    "ask": ask.run,
    "reminder_scan": reminder_scan.run,
    "turns": turns.run,
    "fanout": fanout.run,
}

RESULTS = Path(__file__).resolve().parent / "results.json"


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| benchmark | measure | value |", "|---|---|---|"]
    for name, values in results.items():
        for key, value in values.items():
            lines.append(f"| {name} | {key} | {value} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: {list(BENCHMARKS)})")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # bm25s logs every index build at DEBUG.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results = {name: BENCHMARKS[name]() for name in (args.names or BENCHMARKS)}
    # Keep earlier results of benchmarks not run this time.
    previous: dict[str, Any] = {}
    if args.output.exists():
        previous = json.loads(args.output.read_text(encoding="utf-8"))
    document = {
        **{k: v for k, v in previous.items() if k in BENCHMARKS},
        **results,
        "machine": machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\nresults written to {args.output}")
    return 0 if all(values.get("met", True) for values in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Helpers shared by the benchmark scripts: timing, tables, machine facts, and the output.

Each script prints its tables and writes them twice, both committed: ``results/NAME.json``
(the numbers; the docs compute estimates from them) and ``results/NAME.md`` (the same
tables in Markdown with the machine they were measured on; the docs include it). Nobody copies a number
by hand: what the docs show is what the last run printed.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
# The benchmarks measure the NumPy engine by that name (and onnx_bench.py its graphs by theirs):
# a model loaded without naming its runtime runs in NumPy here, in this process and its children.
os.environ.setdefault("MINIS2T_RUNTIME", "numpy")


def best_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Best wall time of ``repeats`` calls, in seconds (the least disturbed run)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def rss_mb(pid: int) -> float:
    """A process's resident memory now (MB, from /proc), 0 when it is gone."""
    try:
        line = next(li for li in open(f"/proc/{pid}/status") if li.startswith("VmRSS"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return 0.0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, children first (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def machine() -> dict:
    import numpy

    info = {
        "date": date.today().isoformat(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    try:  # the CPU model: Intel or AMD, and which vector extensions, decide the speed
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
        info["cpu"] = f", {cpu}"
    except (OSError, StopIteration):
        pass
    for name in ("torch", "transformers", "kaldi_native_fbank", "scipy"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            pass
    return info


_REPORT: list[str] = []  # Markdown of everything printed, in order


def note(text: str) -> None:
    """Print a line of findings and keep it for the Markdown report."""
    print(text)
    _REPORT.append(text + "\n")


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in row] for row in [header, *rows]]
    _REPORT.append(f"**{title}**\n\n| " + " | ".join(cells[0]) + " |\n|" + " --- |" * len(header) + "\n"
                   + "".join("| " + " | ".join(r) + " |\n" for r in cells[1:]))  # fmt: skip
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for i, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def describe(info: dict) -> str:
    versions = ", ".join(f"{k} {info[k]}" for k in ("numpy", "scipy", "torch", "transformers", "kaldi_native_fbank")
                         if k in info)  # fmt: skip
    return (f"Measured {info['date']} on {info['cpu_count']} cores ({info['processor']}{info.get('cpu', '')}), "
            f"Python {info['python']}, {versions}.")  # fmt: skip


def verdicts(title: str, lines: list[str], results: dict) -> None:
    """The target lines of a run: printed under ``title``, kept for the report and the JSON."""
    note(f"\nAgainst the targets ({title}):\n")
    for line in lines:
        note(f"* {line}")
    results["verdicts"] = lines


def save(name: str, payload: dict) -> Path:
    """``results/NAME.json`` and ``results/NAME.md`` (the printed tables and notes), the
    command that wrote them named from the running script."""
    RESULTS.mkdir(exist_ok=True)
    info = machine()
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": info, **payload}, indent=2) + "\n")
    import __main__

    command = f"python benchmarks/{Path(getattr(__main__, '__file__', name + '.py')).name}"
    report = [f"*Written by `{command}`. {describe(info)}*\n", *_REPORT]
    (RESULTS / f"{name}.md").write_text("\n".join(report))
    print(f"\nwrote {path} and {path.with_suffix('.md')}")
    return path

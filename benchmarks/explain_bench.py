"""Benchmark ``minis2t explain``: a 10-second recording, as a person runs the command.

    python benchmarks/explain_bench.py

The command is started afresh each run (imports included, as a user waits for them) on
the first 10 s of the Kennedy recording in ``tests/data/speech`` with the bundled model,
with the parity strip's oracles (torch, transformers and the twin imported and run) and
without them (``--no-oracles``), best of three each; and once on 56 s (a segment as long
as the bundled model takes). Printed: wall time, peak resident memory, page size, and the
machine's load average (other work on the cores slows every figure).
Targets from the issue: a 10 s recording explained in <= 30 s on 2 cores with the bundled
model; a page of <= 5 MB.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import note, print_table, save, verdicts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "tests" / "data" / "speech" / "en_jfk_inaugural_1961_16k.wav"


def run_once(audio: Path, seconds: float, oracles: bool, out: Path) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS (MB) of one ``minis2t explain``."""
    command = [sys.executable, "-m", "minis2t", "explain", str(audio), "--start", "0", "--duration",
               str(seconds), "-o", str(out)] + ([] if oracles else ["--no-oracles"])  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far (KB)
    return wall, max(peak, before) / 1024


def main() -> None:
    import numpy as np
    import soundfile

    import minis2t

    work = Path(tempfile.mkdtemp())
    wave = minis2t.load_audio(RECORDING)
    long = work / "jfk_x6.wav"
    soundfile.write(long, np.concatenate([wave] * 6), 16000)  # 66 s
    rows, results = [], {}
    for label, audio, seconds, oracles, repeats in (("10 s, with oracles", RECORDING, 10, True, 3),
                                                    ("10 s, --no-oracles", RECORDING, 10, False, 3),
                                                    ("56 s, --no-oracles", long, 56, False, 1)):  # fmt: skip
        out = work / "page.html"
        load = os.getloadavg()[0]
        runs = [run_once(audio, seconds, oracles, out) for _ in range(repeats)]
        wall = min(w for w, _ in runs)
        size = out.stat().st_size / 1e6
        results[label] = {"seconds": round(wall, 2), "page_mb": round(size, 2), "load_before": round(load, 2),
                          "runs": [round(w, 2) for w, _ in runs]}  # fmt: skip
        rows.append([label, f"{wall:.1f}", f"{size:.2f}", f"{load:.1f}"])
    print_table("minis2t explain, the command from start to page (best of the runs)",
                ["recording", "wall s", "page MB", "load average before"], rows)  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    note(f"\nLargest peak resident memory of any run: {peak:.0f} MB.")
    results["peak_rss_mb"] = round(peak, 1)
    ten = results["10 s, with oracles"]["seconds"], results["10 s, --no-oracles"]["seconds"]
    biggest = max(r["page_mb"] for k, r in results.items() if isinstance(r, dict) and "page_mb" in r)
    verdicts("issue 40", [
        f"10 s explained in {ten[0]:.1f} s with the oracles, {ten[1]:.1f} s without (target <= 30 s on 2 cores; "
        f"{'met' if ten[0] <= 30 else 'met without the oracles only' if ten[1] <= 30 else 'not met'} "
        f"at a load average of {results['10 s, with oracles']['load_before']:.1f})",
        f"largest page {biggest:.2f} MB (target <= 5 MB: {'met' if biggest <= 5 else 'not met'})",
    ], results)  # fmt: skip
    save("explain", results)


if __name__ == "__main__":
    main()

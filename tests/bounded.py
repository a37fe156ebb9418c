"""Run a snippet in a child process whose memory is capped, so a regression that
allocates without bound fails its test instead of taking the machine down.

The child imports minis2t first, reads its own address-space size, then lowers its limit
(RLIMIT_AS) to that plus ``budget_mb`` — the issue's "never more than ~1 GB before
refusing". One BLAS thread: OpenBLAS reserves address space per thread, which would count
against the budget without being used. The child reports the exception it got (type and
message) and the seconds between the start of the snippet and that refusal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = """
import json, resource, sys, time, traceback
import numpy as np
import minis2t, minis2t.app.pipeline, minis2t.app.cli, scipy.signal, soundfile  # imported before the cap
from minis2t import errors

def _vm_bytes():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

cap = _vm_bytes() + {budget} * 2**20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
result = {{"error": None, "message": "", "seconds": 0.0, "value": None}}
start = time.perf_counter()
try:
{body}
except BaseException as e:  # MemoryError included: that is what the test must see
    result["error"] = type(e).__name__
    result["message"] = str(e)[:2000]
    result["mro"] = [c.__name__ for c in type(e).__mro__]
result["seconds"] = time.perf_counter() - start
print("RESULT " + json.dumps(result))
"""


def run_bounded(body: str, budget_mb: int = 1024, timeout: float = 300) -> dict:
    """Run ``body`` (Python source; it may set ``result["value"]``) under the cap."""
    code = PRELUDE.format(budget=budget_mb, body=textwrap.indent(textwrap.dedent(body), "    "))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)  # fmt: skip
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, f"the child died (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def assert_refused(result: dict, error: str, match: str = "", seconds: float = 5.0) -> None:
    """The snippet raised ``error`` (or a subclass) whose message holds ``match``, within
    ``seconds`` of starting (the issue's bound on refusing) and within the memory cap."""
    assert result["error"] is not None, f"nothing was refused: {result}"
    assert error in result.get("mro", []), result
    assert match in result["message"], result
    assert result["seconds"] <= seconds, result

"""The hostile-input suite's harness: the ``minis2t`` command (or a snippet of the API) in a
child process under a memory cap, with what a user would see and what it cost.

The child imports minis2t, NumPy, SciPy, soundfile, PyAV and onnxruntime first (where
installed), reads its own address-space size, then lowers its limit (RLIMIT_AS) to that plus
``budget_mb`` — the promise's "never more than ~1 GB before refusing" — and only then runs
the command's ``main`` on the arguments (exactly what ``python -m minis2t`` runs). Imports
come first so that libraries' reserved address space does not count against the budget.
The child writes its own peak resident memory (``VmHWM``, which starts afresh at ``exec``)
to a file as it exits, so the test can assert it; ``ru_maxrss`` would not do, since Linux
keeps in it the size of the forked copy of the parent (a test run's pytest, often over
1 GB) from before the ``exec``. The parent waits with ``os.wait4`` and sees a crash for
what it is (a negative exit status: the signal), not as a missing line.

Media are made at test time with PyAV (:func:`encode_media`): no binary fixtures.
"""

from __future__ import annotations

import dataclasses
import fractions
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# The promise: refusing costs at most ~1 GB. The cap is on address space above what the
# imports reserved; the peak is resident memory of the whole process, the imports included.
BUDGET_MB = 1024
PEAK_MB = 1024

LAUNCHER = """
import atexit, resource, sys
import numpy, scipy.signal, soundfile
import minis2t, minis2t.app.cli, minis2t.app.pipeline
for optional in ("av", "onnxruntime"):
    try:
        __import__(optional)
    except ImportError:
        pass

def _vm_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

def _peak_to_file(path):  # this process's own peak (VmHWM): a fork's share of its parent does not count
    with open("/proc/self/status") as status, open(path, "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))

atexit.register(_peak_to_file, sys.argv[2])
budget = int(sys.argv[1])
if budget > 0:
    cap = _vm_bytes() + budget * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
sys.argv = ["minis2t", *sys.argv[3:]]
sys.exit(minis2t.app.cli.main())
"""


@dataclasses.dataclass
class Run:
    """What one child run gave: exit status (negative: killed by that signal), its output,
    its peak resident memory in MiB and its wall time in seconds."""

    returncode: int
    stdout: str
    stderr: str
    peak_mb: float
    seconds: float

    def lines_naming(self, name: str) -> list[str]:
        """The lines of standard error that name ``name`` (a file's path)."""
        return [line for line in self.stderr.splitlines() if name in line]


def run_command(*args: str, stdin: bytes | None = None, budget_mb: int = BUDGET_MB, timeout: float = 120,
                env: dict | None = None) -> Run:  # fmt: skip
    """``minis2t ARGS...`` in a child capped at ``budget_mb`` above its imports (0: no cap)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp, \
            tempfile.TemporaryDirectory() as scratch:  # fmt: skip
        peak_file = Path(scratch) / "peak_kb"
        inp.write(stdin or b"")
        inp.seek(0)
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(budget_mb), str(peak_file), *map(str, args)], stdin=inp,
                                 stdout=out, stderr=err, cwd=ROOT, env=environment)  # fmt: skip
        timer = threading.Timer(timeout, child.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        # a child that died without exiting wrote no peak: its rusage is the bound we have
        peak_kb = int(peak_file.read_text()) if peak_file.is_file() else usage.ru_maxrss
        return Run(child.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                   peak_kb / 1024, seconds)  # fmt: skip


def assert_clean_refusal(run: Run, name: str, match: str = "", seconds: float = 10.0,
                         peak_mb: float = PEAK_MB) -> str:  # fmt: skip
    """The run ended on its own (no signal, no timeout), printed no traceback and no
    library warning, named ``name`` on exactly one line of standard error, that line holds
    ``match``, and it stayed within ``seconds`` and ``peak_mb``. Returns the line."""
    assert run.returncode >= 0, f"killed by signal {-run.returncode}: {run.stderr[-2000:]}"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "Warning" not in run.stderr, run.stderr[-3000:]
    lines = run.lines_naming(name)
    assert len(lines) == 1, f"expected one line naming {name}, got: {run.stderr[-3000:]}"
    assert match in lines[0], lines[0]
    assert run.seconds <= seconds, f"{run.seconds:.1f} s: {lines[0]}"
    assert run.peak_mb <= peak_mb, f"{run.peak_mb:.0f} MiB: {lines[0]}"
    return lines[0]


def encode_media(wave: np.ndarray, rate: int, path: Path, container: str, codec: str, layout: str = "mono",
                 bit_rate: int | None = None, options: dict | None = None) -> Path:  # fmt: skip
    """``wave`` (float32 ``[N]`` or ``[N, C]``) encoded by PyAV's own FFmpeg into ``path``:
    the suite's media, made at test time. ``layout`` names the channel layout
    (``"7.1"``, ``"octagonal"``, ...); a mono ``wave`` is copied to every channel;
    ``options`` are the container's (``{"movflags": "+faststart"}``: an MP4's index first)."""
    import av

    channels = av.AudioLayout(layout).nb_channels
    pcm = wave if wave.ndim == 2 else np.repeat(wave[:, None], channels, axis=1)
    pcm = np.ascontiguousarray(np.clip(pcm, -1, 1).astype(np.float32))  # [N, C]
    with av.open(str(path), mode="w", format=container, options=options or {}) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        step = 1024
        for start in range(0, pcm.shape[0], step):
            piece = pcm[start : start + step].reshape(1, -1)  # packed: [1, k * C]
            frame = av.AudioFrame.from_ndarray(piece, format="flt", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, start, fractions.Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path

"""Peak memory of `minis2t transcribe` on hour-long M4A (AAC) recordings.

M4A goes through PyAV (FFmpeg), not libsndfile; this checks that it streams in blocks like
WAV does, so memory stays within the long-form bound (issue 15: <= 500 MB, and the 60-min
peak within 10 % of the 30-min one). The recordings are the bundled test recordings
strung together with pauses and faint noise, encoded to AAC with PyAV's own encoder.

    .venv/bin/python recipes/long_form/m4a_memory.py [--minutes 30 60] [--decode-only]

Each run is a fresh process; peak resident memory is its VmHWM. Writes
results/m4a_memory.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("MINIS2T_RUNTIME", "numpy")  # the recipes run (and train) the NumPy engine

import argparse
import fractions
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
RATE = 16_000


def speech(seconds: float, seed: int = 0):
    """The bundled recordings in random order, 0.3-2 s pauses between them, noise at
    -60 dBFS, blocks of float32 [n] until ``seconds`` are made (never all in memory)."""
    import minis2t
    from minis2t.app.pipeline import BUNDLED_MODEL

    clips = [minis2t.load_audio(p) for p in sorted((BUNDLED_MODEL.parent / "samples").glob("*.wav"))]
    rng = np.random.default_rng(seed)
    made = 0
    while made < seconds * RATE:
        pause = np.zeros(int(rng.uniform(0.3, 2.0) * RATE), np.float32)
        block = np.concatenate([clips[rng.integers(len(clips))], pause])
        block += rng.normal(0, 1e-3, block.shape[0]).astype(np.float32)
        block = block[: int(seconds * RATE) - made]
        made += block.shape[0]
        yield block


def encode_m4a(path: Path, seconds: float) -> None:
    """AAC in an MP4 (M4A) container, written with PyAV as the audio is made."""
    import av

    with av.open(str(path), mode="w", format="ipod") as out:
        stream = out.add_stream("aac", rate=RATE)
        stream.layout = "mono"
        size, pts, pending = 1024, 0, np.zeros(0, np.float32)
        for block in list_or_stream(speech(seconds)):
            last = block is None
            pending = pending if last else np.concatenate([pending, block])
            while pending.shape[0] >= size or (last and pending.shape[0]):
                chunk, pending = pending[:size], pending[size:]
                frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = RATE, pts, fractions.Fraction(1, RATE)
                pts += chunk.shape[0]
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def list_or_stream(blocks):
    yield from blocks
    yield None


def measure(path: Path, decode_only: bool) -> dict:
    """A fresh process: the command (or only the block reader) on ``path``; seconds,
    peak resident MB (VmHWM), and what it produced."""
    if decode_only:
        body = ("from minis2t.io.audio import read_blocks\n"
                "n = sum(b.shape[0] for b in read_blocks(sys.argv[1]))\n"
                "result = {'samples': n}\n")  # fmt: skip
    else:
        body = ("import io, contextlib, minis2t.app.cli\n"
                "out = io.StringIO()\n"
                "with contextlib.redirect_stdout(out):\n"
                "    status = minis2t.app.cli.main(['transcribe', sys.argv[1], '--output-format', 'json', '--quiet'])\n"
                "rows = json.loads(out.getvalue())\n"
                "result = {'status': status, 'segments': len(rows[0].get('segments', [])), 'error': rows[0].get('error')}\n")  # fmt: skip
    code = ("import sys, json\n" + body +
            "result['peak_mb'] = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024\n"
            "print(json.dumps(result))\n")  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[30, 60])
    parser.add_argument("--decode-only", action="store_true", help="only the block reader, no model")
    parser.add_argument("--work", default=str(HERE / "work"))
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(exist_ok=True)
    runs = []
    for minutes in args.minutes:
        path = work / f"long_{minutes:g}.m4a"
        if not path.exists():
            start = time.perf_counter()
            encode_m4a(path, minutes * 60)
            print(f"encoded {path} ({path.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - start:.0f} s", flush=True)
        report = {"minutes": minutes, "mode": "decode" if args.decode_only else "transcribe",
                  **measure(path, args.decode_only)}  # fmt: skip
        print(report, flush=True)
        runs.append(report)
    out = HERE / "results" / ("m4a_memory_decode.json" if args.decode_only else "m4a_memory.json")
    out.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

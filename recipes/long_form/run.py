"""Long recordings with known utterance times, and how minis2t's long-form transcription
does on them (issue 15's measurements).

    .venv/bin/python recipes/long_form/run.py --minutes 30 60

Each recording strings together held-out test sentences of the synthetic-speech recipe
(every engine, the training voices and the held-out ones — the speech the recipe cached
in ``recipes/synthetic_speech/work/``; run that recipe first), each trimmed to its speech
(frames within 40 dB of its loudest), with random pauses of 0.3-2 s; every other
10-minute stretch has coloured noise at 20 dB SNR under it. The true start and end of
every utterance are known by construction. For each recording it measures:

* WER of ``minis2t transcribe`` (segments cut at pauses) against the same utterances
  transcribed one by one;
* the share of true utterance starts and ends within 0.25 s of a segment boundary;
* peak resident memory of the command (a fresh process) and its real-time factor;
* side by side, transformers' ASR pipeline with ``chunk_length_s`` on the same file.

Writes ``work/long_<minutes>.wav`` (+ ``.json`` with the truth) and ``results/long_form.json``.
"""

from __future__ import annotations

import os

os.environ.setdefault("MINIS2T_RUNTIME", "numpy")  # the recipes run (and train) the NumPy engine

import argparse
import json
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jiwer
import numpy as np
import soundfile

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

import minis2t  # noqa: E402
from minis2t.app.longform import frame_energies  # noqa: E402

CACHE = ROOT / "recipes" / "synthetic_speech" / "work" / "test_0_300.pkl"
TEXTS = ROOT / "recipes" / "synthetic_speech" / "test_sentences.txt"


def trimmed(wave: np.ndarray) -> np.ndarray:
    """The wave from its first to its last frame within 40 dB of its loudest frame."""
    energy = frame_energies(wave)
    loud = np.flatnonzero(energy > energy.max() - 40)
    return wave[loud[0] * 160 : loud[-1] * 160 + 400]


def test_pool() -> list[tuple[np.ndarray, str]]:
    """The synthetic recipe's test utterances (every engine, both voice groups), trimmed."""
    tests = pickle.loads(CACHE.read_bytes())
    texts = TEXTS.read_text().splitlines()
    return [(trimmed(w), texts[i]) for (_, _, waves) in tests.values() for i, w in enumerate(waves)]


def build(minutes: float, seed: int, pool=None) -> tuple[np.ndarray, list[dict]]:
    """Utterances drawn from ``pool`` (default :func:`test_pool`) with pauses, noise on
    every other 10 minutes: ``(audio, [{"start", "end", "text"}])``."""
    pool = test_pool() if pool is None else pool
    rng = np.random.default_rng(seed)
    parts, truth, t = [], [], 0
    while t < minutes * 60 * 16000:
        wave, text = pool[int(rng.integers(len(pool)))]
        pause = np.zeros(int(rng.uniform(0.3, 2.0) * 16000), np.float32)
        parts += [pause, wave.astype(np.float32)]
        truth.append({"start": (t + len(pause)) / 16000, "end": (t + len(pause) + len(wave)) / 16000, "text": text})
        t += len(pause) + len(wave)
    audio = np.concatenate(parts + [np.zeros(16000, np.float32)])
    noise = np.cumsum(rng.standard_normal(audio.shape[0])).astype(np.float32)  # brown noise ...
    noise -= np.convolve(noise, np.ones(1601) / 1601, mode="same").astype(np.float32)  # ... high-passed
    stretch = 600 * 16000
    noisy = (np.arange(audio.shape[0]) // stretch) % 2 == 1
    speech_power = np.mean(np.concatenate([p for p in parts if p.any()]) ** 2)
    noise *= np.sqrt(speech_power / 10 ** (20 / 10) / np.mean(noise**2))
    audio = audio + np.where(noisy, noise, 0).astype(np.float32)
    return np.clip(audio, -1, 1), truth


def command(path: Path) -> tuple[dict, float, float]:
    """``minis2t transcribe --output-format json`` in a fresh process: (result, seconds,
    peak resident MB)."""
    # VmHWM, not getrusage's ru_maxrss: the latter carries the parent's peak across fork/exec
    code = ("import sys, json, io, contextlib, minis2t.app.cli\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    status = minis2t.app.cli.main(['transcribe', sys.argv[1], '--output-format', 'json', '--quiet'])\n"
            "print(json.dumps({'status': status, 'rows': json.loads(out.getvalue()),\n"
            "                  'peak_mb': int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024}))\n")  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["rows"][0], seconds, report["peak_mb"]


SMALL_TOKENS = 20  # output tokens forced per segment at s2t-small size: a sentence of ~4 s


def small_size(path: Path) -> dict:
    """``Speech2Text.transcribe_long`` (word times included) on ``path`` with a model of
    s2t-small's size (29.5 M parameters) and random weights, in a fresh process that loads
    it from disk (so torch, used here to draw the weights, is not in its memory): random
    weights never say end-of-sentence on their own, so every segment's output is forced
    to ``SMALL_TOKENS`` tokens (``min_length = max_length``), about what a released model
    says for a sentence. The bundled tokenizer names what it can (ids beyond its
    vocabulary read as <unk>); the cost is the model's. Real-time factor and peak memory."""
    from minis2t.io.config import S2T_SMALL, GenerationConfig
    from parity.transformers_oracle import random_model

    _, config, weights = random_model(S2T_SMALL, seed=0)
    bundled = minis2t.Speech2Text.from_pretrained()
    options = GenerationConfig(num_beams=5, max_length=SMALL_TOKENS + 1, min_length=SMALL_TOKENS + 1,
                               decoder_start_token_id=2, eos_token_id=2, pad_token_id=1, bos_token_id=0)  # fmt: skip
    directory = HERE / "work" / "s2t_small_random"
    shutil.rmtree(directory, ignore_errors=True)
    minis2t.Speech2Text(config, weights, options, bundled.feature_extractor, bundled.tokenizer).save_pretrained(directory)
    code = ("import json, sys, time, minis2t\n"
            "model = minis2t.Speech2Text.from_pretrained(sys.argv[2])\n"
            "start = time.perf_counter()\n"
            "result = model.transcribe_long(sys.argv[1])\n"
            "seconds = time.perf_counter() - start\n"
            "peak = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024\n"
            "print(json.dumps({'seconds': seconds, 'segments': len(result['segments']), 'peak_resident_mb': peak}))\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, str(path), str(directory)], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    audio_seconds = soundfile.info(path).frames / 16000
    return {"s2t_small_random": {**report, "tokens_per_segment": SMALL_TOKENS,
                                 "real_time_factor": report["seconds"] / audio_seconds}}  # fmt: skip


def transformers_pipeline(path: Path) -> tuple[str, float]:
    """transformers' own long-form answer, side by side: its ASR pipeline on the bundled
    model with ``chunk_length_s`` (fixed 20 s chunks, 4 s strides — it calls this
    "very experimental" for models other than whisper). ``(text, seconds)``."""
    import warnings

    from transformers import pipeline

    warnings.filterwarnings("ignore")
    asr = pipeline("automatic-speech-recognition", model=str(ROOT / "minis2t" / "assets" / "model"), device="cpu")
    audio, rate = soundfile.read(path, dtype="float32")
    start = time.perf_counter()
    out = asr({"raw": audio, "sampling_rate": rate}, chunk_length_s=20, stride_length_s=4)
    return out["text"], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, nargs="+", default=[30, 60])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small-size", action="store_true",
                        help="also time a model of s2t-small's size (random weights) on the shortest recording")
    args = parser.parse_args()
    (HERE / "work").mkdir(exist_ok=True)
    (HERE / "results").mkdir(exist_ok=True)
    model = minis2t.Speech2Text.from_pretrained()
    runs = []
    for minutes in args.minutes:
        audio, truth = build(minutes, args.seed + int(minutes))
        path = HERE / "work" / f"long_{minutes:g}.wav"
        soundfile.write(path, audio, 16000)
        (path.with_suffix(".json")).write_text(json.dumps(truth))
        result, seconds, peak = command(path)
        refs = " ".join(u["text"] for u in truth)
        one_by_one = model.transcribe([audio[int(u["start"] * 16000) : int(u["end"] * 16000)] for u in truth])
        bounds = np.array(sorted([s["start"] for s in result["segments"]] + [s["end"] for s in result["segments"]]))
        edges = np.array([x for u in truth for x in (u["start"], u["end"])])
        near = np.abs(edges[:, None] - bounds[None, :]).min(axis=1) <= 0.25 if bounds.size else np.zeros(len(edges), bool)
        run = {"minutes": minutes, "seconds_of_audio": audio.shape[0] / 16000, "utterances": len(truth),
               "segments": len(result["segments"]), "wer_long_form": jiwer.wer(refs, result["text"]),
               "wer_one_by_one": jiwer.wer(refs, " ".join(one_by_one)),
               "boundaries_within_0.25_s": float(near.mean()), "command_seconds": seconds,
               "real_time_factor": seconds / (audio.shape[0] / 16000), "peak_resident_mb": peak}  # fmt: skip
        hf_text, hf_seconds = transformers_pipeline(path)
        run.update(wer_transformers_chunked=jiwer.wer(refs, hf_text), transformers_chunked_seconds=hf_seconds)
        if args.small_size and minutes == min(args.minutes):
            run.update(small_size(path))
        print(json.dumps(run), flush=True)
        runs.append(run)
    (HERE / "results" / "long_form.json").write_text(json.dumps({"runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""``minis2t corpus`` measured: 1 and 2 Dask workers against one plain process, 200 files.

    python recipes/corpus/measure.py [--files 200]

The files are held-out test sentences of the synthetic speech recipe (espeak-ng, festival
and flite; training and held-out voices, taken in turn), from its cache
``recipes/synthetic_speech/work/test_0_300.pkl`` (made by the recipe's own code on first
use, which needs the Debian engines), written as 16 kHz WAVs with a manifest. Three runs,
each a fresh command with the bundled model, timed from start to exit:

* plain: ``minis2t transcribe FILE... --no-word-timestamps`` (one process, all cores);
* ``minis2t corpus --workers 1`` and ``--workers 2`` (a local Dask cluster; each worker
  gets its share of the cores for the BLAS).

Each command also runs on the first file alone: that time is what a run costs before its
files (imports, model loading, the cluster's start and stop), and the rest divided by the
other files is the steady cost per file.

Memory: the resident memory of every process, sampled every 0.25 s; a worker's figure is
its largest sample. The texts of the three runs must be identical (checked here). Writes
``results/corpus.json``; the docs' "Corpus scale" page builds its table from it.
"""

from __future__ import annotations

import os

os.environ.setdefault("MINIS2T_RUNTIME", "numpy")  # the recipes run (and train) the NumPy engine

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "recipes" / "synthetic_speech"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import descendants, rss_mb  # noqa: E402  (benchmarks/common.py)
from minis2t.app import corpus  # noqa: E402


def recordings(n: int) -> list[tuple[np.ndarray, str]]:
    """``n`` (wave, reference) pairs, taken in turn from each engine and voice group."""
    from run import cached, split_sentences, test_speech

    _, test_text = split_sentences(16000, 300, 0)
    tests = cached("test_0_300", lambda: test_speech(test_text, 2))
    groups = [waves for (_, _, waves) in tests.values()]
    out = []
    for i in range(n):
        group, index = i % len(groups), i // len(groups)
        out.append((np.asarray(groups[group][index], np.float32), test_text[index]))
    return out


def sample_memory(pid: int, stop: threading.Event, peaks: dict) -> None:
    """Largest resident memory (MB) of ``pid`` and each process below it, until ``stop``."""
    while not stop.is_set():
        for p in [pid, *descendants(pid)]:
            try:
                cmd = open(f"/proc/{p}/cmdline", "rb").read()
            except OSError:  # gone
                continue
            kind = "worker" if b"spawn_main" in cmd else "main" if p == pid else "other"
            peaks[(kind, p)] = max(peaks.get((kind, p), 0.0), rss_mb(p))
        time.sleep(0.25)  # rarely: the sampling itself takes CPU from the run


def timed(command: list[str]) -> tuple[float, dict, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, peaks = threading.Event(), {}
    sampler = threading.Thread(target=sample_memory, args=(proc.pid, stop, peaks))
    sampler.start()
    stdout, stderr = proc.communicate()
    elapsed = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode:
        raise RuntimeError(f"{command[:4]} failed:\n{stderr[-2000:]}")
    return elapsed, peaks, subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    minis2t_cmd = [sys.executable, "-m", "minis2t"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows, seconds = [], 0.0
        for i, (wave, text) in enumerate(recordings(args.files)):
            path = tmp / f"utt{i:04d}.wav"
            soundfile.write(path, wave, 16000, subtype="PCM_16")
            rows.append(f"utt{i:04d}\t{path}\t{text}")
            seconds += len(wave) / 16000
        manifest = tmp / "manifest.tsv"
        manifest.write_text("id\tpath\treference\n" + "\n".join(rows) + "\n", encoding="utf-8")
        items = corpus.read_manifest(manifest)
        results = {"files": len(items), "audio_seconds": seconds, "cores": len(os.sched_getaffinity(0)), "runs": {}}

        one = tmp / "one.tsv"  # the first file alone: what a run costs before its files
        one.write_text("id\tpath\n" + rows[0].rsplit("\t", 1)[0] + "\n", encoding="utf-8")
        transcribe = [*minis2t_cmd, "transcribe", "--output-format", "json", "--no-word-timestamps", "--quiet"]
        start_up, _, _ = timed([*transcribe, items[0].path])
        elapsed, peaks, done = timed([*transcribe, *[i.path for i in items]])
        plain = {Path(r["file"]).stem: r["text"] for r in json.loads(done.stdout)}
        results["runs"]["plain"] = {"seconds": elapsed, "one_file_seconds": start_up, "main_mb": max(peaks.values())}
        print(f"plain transcribe: {elapsed:.1f} s (one file: {start_up:.1f} s)", flush=True)
        for workers in (1, 2):
            out = tmp / f"out{workers}.jsonl"
            command = [*minis2t_cmd, "corpus", "--workers", str(workers), "--quiet", "--output"]
            start_up, _, _ = timed([*command, str(tmp / f"one{workers}.jsonl"), str(one)])
            elapsed, peaks, done = timed([*command, str(out), str(manifest)])
            got = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
            assert sorted(got) == sorted(i.id for i in items), "an id is missing or doubled"
            differ = [k for k, r in got.items() if r.get("text") != plain[k]]
            assert not differ, f"corpus and transcribe disagree on {differ[:5]}"
            worker_mb = [mb for (kind, _), mb in peaks.items() if kind == "worker"]
            score = corpus.scores(items, got)
            results["runs"][f"workers_{workers}"] = {
                "seconds": elapsed, "one_file_seconds": start_up, "worker_mb": max(worker_mb), "workers_seen": len(worker_mb),
                "main_mb": max(mb for (kind, _), mb in peaks.items() if kind == "main"),
                "wer": score["wer"], "cer": score["cer"]}  # fmt: skip
            print(f"corpus, {workers} workers: {elapsed:.1f} s (one file: {start_up:.1f} s), "
                  f"WER {100 * score['wer']:.2f} %", flush=True)
    import dask
    import distributed

    results["dask"], results["distributed"] = dask.__version__, distributed.__version__
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "corpus.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

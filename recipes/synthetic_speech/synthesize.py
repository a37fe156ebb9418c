"""Text -> espeak-ng speech -> 16 kHz waveform -> features, for the training and test sets.

Each utterance gets a random voice (language variant + voice variant), speed (words per
minute) and pitch, all drawn from a seeded generator. Waveforms go through
``minis2t.load_audio`` (22.05 kHz -> 16 kHz) and ``minis2t.FeatureExtractor``.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from multiprocessing import Pool

import numpy as np

import minis2t

VOICES = ["en-us", "en", "en-gb-x-rp", "en-gb-scotland"]
VARIANTS = ["", "+m3", "+f2", "+m5", "+f4"]
SPEED = (130, 200)  # words per minute
PITCH = (30, 70)  # espeak's 0-99 scale


def check_espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise SystemExit("espeak-ng is not installed: `apt-get install espeak-ng` (Debian) first.")
    return path


def voice_settings(rng: random.Random) -> dict:
    return {"voice": rng.choice(VOICES) + rng.choice(VARIANTS),
            "speed": rng.randint(*SPEED), "pitch": rng.randint(*PITCH)}  # fmt: skip


def speak(text: str, settings: dict, path: str) -> None:
    subprocess.run(["espeak-ng", "-v", settings["voice"], "-s", str(settings["speed"]),
                    "-p", str(settings["pitch"]), "-w", path, text], check=True)  # fmt: skip


def _work(job):
    text, settings, keep_wave = job
    extractor = minis2t.FeatureExtractor()
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        speak(text, settings, f.name)
        wave = minis2t.load_audio(f.name)
    feats = extractor(wave)["input_features"][0].astype(np.float16)  # [T, 80]
    return feats, (wave if keep_wave else None)


def synthesize(texts: list[str], seed: int, keep_waves: bool = False, workers: int = 2):
    """Features (float16 [T, 80]) for each text, its voice settings, and optionally waves."""
    check_espeak()
    rng = random.Random(seed)
    settings = [voice_settings(rng) for _ in texts]
    jobs = [(t, s, keep_waves) for t, s in zip(texts, settings)]
    with Pool(workers) as pool:
        results = pool.map(_work, jobs, chunksize=64)
    feats = [r[0] for r in results]
    waves = [r[1] for r in results] if keep_waves else None
    return feats, settings, waves


if __name__ == "__main__":
    import time

    t = time.time()
    f, s, _ = synthesize(["set an alarm for seven thirty", "play some jazz music"] * 100, 0)
    print(f"{len(f)} utterances in {time.time() - t:.1f} s; frames {np.mean([x.shape[0] for x in f]):.0f}")
    print(os.cpu_count(), s[:3])

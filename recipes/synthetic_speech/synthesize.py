"""Text -> speech from several engines -> (augmented) 16 kHz waveform -> features.

Each utterance gets an engine, a voice and prosody drawn from a seeded generator
(:mod:`engines`); training utterances then go through a random augmentation chain
(:mod:`augment`). Waveforms are resampled to 16 kHz by ``minis2t.load_audio``, and
features computed as ``minis2t.FeatureExtractor`` does. Work is split into chunks over two
processes; every chunk has its own seed, so the result does not depend on scheduling.
"""

from __future__ import annotations

import random
import tempfile
from multiprocessing import Pool
from pathlib import Path

import numpy as np

import augment as aug
import engines
import minis2t

CHUNK = 40  # utterances per job: festival starts once per chunk


def plan(texts: list[str], engine_names: list[str], seed: int, held_out: bool = False) -> list[dict]:
    """Settings for each text: engines in turn (in the shares of ``engines.SHARES``),
    voices drawn at random."""
    rng = random.Random(seed)
    shares = [engines.SHARES.get(e, 1) for e in engine_names]
    cycle = [e for r in range(max(shares)) for e, n in zip(engine_names, shares) if n > r]
    return [engines.draw_settings(cycle[i % len(cycle)], rng, held_out) for i in range(len(texts))]


def _work(job):
    texts, settings, seed, augmentation, disabled, keep_waves = job
    rng = np.random.default_rng(seed)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for path, s in zip(engines.speak(texts, settings, Path(tmp)), settings):
            wave = minis2t.load_audio(path)
            applied = []
            if augmentation:
                wave, applied = aug.augment(wave, rng, disabled)
            vtlp = augmentation and "vtlp" not in disabled
            feats = aug.features(wave, rng, vtlp).astype(np.float16)  # [T, 80]
            out.append((feats, {**s, "augment": applied}, wave if keep_waves else None))
    return out


def synthesize(texts: list[str], settings: list[dict], seed: int, augmentation: bool = False,
               disabled: tuple = (), keep_waves: bool = False, workers: int = 2):  # fmt: skip
    """Features (float16 ``[T, 80]``), the settings (with the augmentation steps applied)
    and, if asked, the waveforms, for each text."""
    engines.check_engines(sorted({s["engine"] for s in settings}))
    jobs = [(texts[i : i + CHUNK], settings[i : i + CHUNK], seed * 100_003 + i, augmentation,
             tuple(disabled), keep_waves) for i in range(0, len(texts), CHUNK)]  # fmt: skip
    with Pool(workers) as pool:
        results = [r for chunk in pool.map(_work, jobs, chunksize=1) for r in chunk]
    feats = [r[0] for r in results]
    meta = [r[1] for r in results]
    waves = [r[2] for r in results] if keep_waves else None
    return feats, meta, waves

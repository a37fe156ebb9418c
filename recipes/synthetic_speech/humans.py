"""Real people saying digits: the Free Spoken Digit Dataset's three speakers in this folder.

``data/human_digits/`` holds 1,500 recordings (CC BY-SA 4.0, "Free Spoken Digit Dataset
(Z. Jackson et al.)"; ``SOURCES.md`` there): ``george``, ``jackson`` and ``lucas`` each say
every digit 50 times, 8 kHz, trimmed to the word. FSDD's other three speakers are not in
the repository: they are the outside check of "people the model never heard".

Takes 0-4 of every digit (FSDD's own test split) are kept aside — never trained on; the
recipe decodes strings spliced from them to measure and calibrate on real speech. Takes
5-49 make the training strings.

A string is spliced the way a person reads out a number: the takes of one speaker, one
per digit, each take scaled to the same RMS and then to its own level (±3 dB around the
string's), short pauses inside
a group (40-250 ms) and longer ones between groups (250-700 ms), lead-in and tail of
room-tone (noise 50-65 dB under the speech), then — for training — the same augmentation
chain as the synthetic speech (rooms, microphones, noise, codecs).
"""

from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path

import numpy as np

import grammar
import minis2t

FOLDER = Path(__file__).parent / "data" / "human_digits" / "recordings"
SPEAKERS = ("george", "jackson", "lucas")
ASIDE = range(0, 5)  # FSDD's test takes: never trained on
TRAIN = range(5, 50)
RATE = 16000


@lru_cache(maxsize=None)
def take(digit: int, speaker: str, number: int) -> np.ndarray:
    """One recording at 16 kHz, scaled to unit RMS."""
    wave = minis2t.load_audio(FOLDER / f"{digit}_{speaker}_{number}.wav")
    return (wave / max(float(np.sqrt(np.mean(wave.astype(np.float64) ** 2))), 1e-6)).astype(np.float32)


def draw_digits(rng: random.Random) -> list[list[int]]:
    """Digits in groups: a lone digit (a fifth of the time) or 3-11 digits grouped as
    :func:`grammar.digit_string` groups them."""
    if rng.random() < 0.2:
        return [[rng.randrange(10)]]
    text = grammar.digit_string(rng).replace("oh", "zero")
    return [[grammar.DIGITS.index(w) for w in group.split()] for group in text.split(" , ")]


def splice(groups: list[list[int]], speaker: str, takes, rng: np.random.Generator) -> np.ndarray:
    """The digits said by ``speaker`` (takes drawn from ``takes``), with a person's pauses
    and levels, over a faint room tone."""
    level = 10 ** (rng.uniform(-26, -14) / 20)  # the speaker's RMS, relative to full scale
    silence = lambda lo, hi: np.zeros(int(rng.uniform(lo, hi) * RATE), np.float32)  # noqa: E731
    parts = [silence(0.1, 0.5)]
    for g, group in enumerate(groups):
        if g:
            parts.append(silence(0.25, 0.7))
        for d, digit in enumerate(group):
            if d:
                parts.append(silence(0.04, 0.25))
            gain = level * 10 ** (rng.uniform(-3, 3) / 20)
            parts.append(take(digit, speaker, int(rng.choice(list(takes)))) * np.float32(gain))
    parts.append(silence(0.1, 0.5))
    wave = np.concatenate(parts)
    floor = level * 10 ** (-rng.uniform(50, 65) / 20)
    return (wave + rng.standard_normal(wave.shape[0]).astype(np.float32) * np.float32(floor)).astype(np.float32)


def strings(n: int, seed: int, takes=TRAIN) -> list[tuple[str, str, list[list[int]]]]:
    """``n`` (speaker, label, digit groups), drawn with ``seed``."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        groups = draw_digits(rng)
        label = " ".join(grammar.DIGITS[d] for group in groups for d in group)
        out.append((SPEAKERS[rng.randrange(len(SPEAKERS))], label, groups))
    return out


def _work(job):
    import augment as aug

    items, seed, augmentation, takes = job
    rng = np.random.default_rng(seed)
    out = []
    for speaker, label, groups in items:
        wave = splice(groups, speaker, takes, rng)
        applied = []
        if augmentation:
            wave, applied = aug.augment(wave, rng)
        feats = aug.features(wave, rng, augmentation).astype(np.float16)
        out.append((feats, {"engine": "human", "voice": speaker, "augment": applied, "text": label}, wave))
    return out


def speech(n: int, seed: int, augmentation: bool, takes=TRAIN, keep_waves: bool = False, workers: int = 2):
    """Features (float16 ``[T, 80]``), settings and labels of ``n`` spliced strings (and
    their waveforms if asked)."""
    from multiprocessing import Pool

    items = strings(n, seed, takes)
    jobs = [(items[i : i + 50], seed * 100_003 + i, augmentation, tuple(takes)) for i in range(0, n, 50)]
    with Pool(workers) as pool:
        results = [r for chunk in pool.map(_work, jobs, chunksize=1) for r in chunk]
    feats = [r[0] for r in results]
    meta = [r[1] for r in results]
    labels = [m["text"] for m in meta]
    return feats, meta, labels, ([r[2] for r in results] if keep_waves else None)

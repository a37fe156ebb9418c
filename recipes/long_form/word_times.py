"""Word times from cross-attention, measured against espeak-ng's own word times
(issue 15), and the bundled model's alignment heads chosen by measurement.

    .venv/bin/python recipes/long_form/word_times.py [--write-heads]

The held-out test sentences of the synthetic-speech recipe are spoken again by espeak-ng
with fresh voice settings (a seed the recipe never used; its training voices and its
held-out ones in turn), through its library, which reports where every word starts
(:mod:`espeak_words`). The first 100 sentences choose the settings (**dev**), the other
200 measure them (**eval**):

* **dev**: each utterance, with the segmenter's 0.15 s of pause on both sides (as a
  segment of a long recording has), is decoded, and the words of every one whose
  transcript is right are timed with each decoder cross-attention head alone, for both choices of the
  row that stands for a token (the position whose input is the token, or the one that
  predicts it), for median filters of 1, 3 and 5 frames, and with the path's start fixed
  at the first frame or free. Heads are ranked by their
  mean absolute error on word starts; the best ``k`` of them, ``k`` chosen on dev, are
  the model's ``alignment_heads``.
* **eval**: the 200 sentences strung into one recording with pauses of 0.3-2 s (every
  other minute under 20 dB noise), transcribed by ``Speech2Text.transcribe_long(...,
  word_timestamps=True)``; recognised words are matched to the true ones (longest
  matching runs of the two word sequences), and the mean absolute error of their starts
  and ends is reported, with the share within 0.1 and 0.2 s.

Writes ``results/word_times.json``; with ``--write-heads`` the chosen heads go into the
bundled model's ``generation_config.json`` (``alignment_heads``).
"""

from __future__ import annotations

import os

os.environ.setdefault("MINIS2T_RUNTIME", "numpy")  # the recipes run (and train) the NumPy engine

import argparse
import difflib
import itertools
import json
import random
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "recipes" / "synthetic_speech")]

import engines  # noqa: E402
import minis2t  # noqa: E402
from espeak_words import Espeak  # noqa: E402
from minis2t.app import timing  # noqa: E402
from minis2t.app.cli import BUNDLED_MODEL  # noqa: E402
from minis2t.app.longform import PAD_SECONDS  # noqa: E402

TEXTS = ROOT / "recipes" / "synthetic_speech" / "test_sentences.txt"
SEED = 2026  # voice settings: not a seed the synthetic recipe used
DEV = 100


def speak(texts: list[str], seed: int) -> list[tuple[np.ndarray, list[dict]]]:
    """Each text spoken with voice settings drawn as the synthetic recipe draws them (its
    training and held-out voices in turn). ``en-uk`` names an MBROLA voice that Debian
    lacks, which the command line replaces and the library refuses: drawn again."""
    rng = random.Random(seed)
    espeak = Espeak()
    out = []
    for i, text in enumerate(texts):
        settings = engines.draw_settings("espeak-ng", rng, held_out=i % 2 == 1)
        while not espeak.has_voice(settings["voice"]):
            settings = engines.draw_settings("espeak-ng", rng, held_out=i % 2 == 1)
        out.append(espeak.say(text, settings))
    return out


def choose_heads(model, spoken) -> dict:
    """Time every correctly transcribed dev utterance with each head alone, for each row
    convention and filter width; rank the heads, choose how many to average."""
    c = model.config
    every = [(layer, head) for layer in range(c.decoder_layers) for head in range(c.decoder_attention_heads)]
    step = timing.frame_seconds(c)
    cases = []  # (weights [H, L, S] of every head, rows of text tokens + end, pieces, true starts)
    pad = np.zeros(int(PAD_SECONDS * 16000), np.float32)
    for wave, truth in spoken:
        # as a segment of a long recording: the segmenter's margin of pause on both sides
        batch = model.feature_extractor([np.concatenate([pad, wave, pad])])
        states, mask = model.encode(batch["input_features"], batch["attention_mask"])
        seq = model.generate(None, encoder_outputs=(states, mask))
        if model.tokenizer.decode(seq[0], skip_special_tokens=True).split() != [w["word"] for w in truth]:
            continue
        att = timing.cross_attention(model, states, mask, seq, every)
        targets = seq[0, 1:]
        text = timing.text_positions(model, targets)
        pieces = model.tokenizer.convert_ids_to_tokens(targets[text])
        first = [idx[0] for idx in timing.words_of(pieces)]
        frames = int(mask[0].sum())
        true = np.array([np.nan if w["start"] is None else w["start"] + PAD_SECONDS for w in truth])
        cases.append((att["weights"][0][:, :, :frames], text, first, true))

    def error(heads: list[int], shift: int, width: int, free: bool) -> float:
        errors = []
        for weights, text, first, true in cases:
            rows = timing.token_rows(text, True, shift)
            starts = timing.token_starts(timing.alignment_matrix(weights[heads][:, rows], width), free) * step
            errors.append(np.abs(starts[first] - true))
        return float(np.nanmean(np.concatenate(errors)))

    grid = {}
    for shift, width, free in itertools.product((0, 1), (1, 3, 5), (False, True)):
        single = sorted((error([h], shift, width, free), h) for h in range(len(every)))
        ranked = [h for _, h in single]
        by_k = [error(ranked[:k], shift, width, free) for k in range(1, len(every) + 1)]
        k = int(np.argmin(by_k)) + 1
        grid[f"shift={shift},width={width},free_start={free}"] = {
            "shift": shift, "width": width, "free_start": free, "single_head_mae": {f"{every[h][0]}.{every[h][1]}": round(e, 4) for e, h in single},
            "mae_by_k": [round(e, 4) for e in by_k], "k": k, "heads": [list(every[h]) for h in ranked[:k]],
            "mae": round(by_k[k - 1], 4)}  # fmt: skip
    best = min(grid.values(), key=lambda g: g["mae"])
    upper = [k for k, (layer, _) in enumerate(every) if layer >= c.decoder_layers // 2]  # the default without a measurement
    return {"utterances": len(spoken), "timed": len(cases), "grid": grid, "chosen": best,
            "upper_half_mae": round(error(upper, best["shift"], best["width"], best["free_start"]), 4)}  # fmt: skip


def recording(spoken, seed: int) -> tuple[np.ndarray, list[dict]]:
    """The utterances with random pauses, every other minute under 20 dB noise; the true
    word times in the recording."""
    rng = np.random.default_rng(seed)
    parts, words, t = [], [], 0
    for wave, truth in spoken:
        pause = int(rng.uniform(0.3, 2.0) * 16000)
        parts += [np.zeros(pause, np.float32), wave]
        words += [{**w, **{k: None if w[k] is None else w[k] + (t + pause) / 16000 for k in ("start", "end")}}
                  for w in truth]  # fmt: skip
        t += pause + wave.shape[0]
    audio = np.concatenate(parts + [np.zeros(16000, np.float32)])
    power = np.mean(np.concatenate([w for w, _ in spoken]) ** 2)
    noise = rng.standard_normal(audio.shape[0]).astype(np.float32) * np.sqrt(power / 100)
    noisy = (np.arange(audio.shape[0]) // (60 * 16000)) % 2 == 1
    return audio + np.where(noisy, noise, 0).astype(np.float32), words


def evaluate(model, spoken, seed: int) -> dict:
    audio, truth = recording(spoken, seed)
    result = model.transcribe_long(audio, word_timestamps=True)
    hyp = [w for s in result["segments"] for w in s["words"]]
    matcher = difflib.SequenceMatcher(a=[w["word"] for w in truth], b=[w["word"] for w in hyp], autojunk=False)
    pairs = [(truth[m.a + i], hyp[m.b + i]) for m in matcher.get_matching_blocks() for i in range(m.size)]
    starts = np.array([abs(h["start"] - t["start"]) for t, h in pairs if t["start"] is not None])
    ends = np.array([abs(h["end"] - t["end"]) for t, h in pairs if t["end"] is not None])
    return {"seconds_of_audio": audio.shape[0] / 16000, "true_words": len(truth), "recognised_words": len(hyp),
            "matched_words": len(pairs), "timed_starts": len(starts), "timed_ends": len(ends), "start_mae": float(starts.mean()), "end_mae": float(ends.mean()),
            "start_within_0.1_s": float((starts <= 0.1).mean()), "start_within_0.2_s": float((starts <= 0.2).mean()),
            "end_within_0.1_s": float((ends <= 0.1).mean()), "end_within_0.2_s": float((ends <= 0.2).mean()),
            "start_median": float(np.median(starts)), "end_median": float(np.median(ends))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write-heads", action="store_true", help="store the chosen heads in the bundled model")
    args = parser.parse_args()
    texts = TEXTS.read_text().splitlines()
    model = minis2t.Speech2Text.from_pretrained()
    dev = choose_heads(model, speak(texts[:DEV], SEED))
    print(json.dumps({k: v for k, v in dev.items() if k != "grid"}), flush=True)
    chosen = dev["chosen"]
    if (timing.ROW_SHIFT, timing.MEDIAN_WIDTH, timing.FREE_START) != (chosen["shift"], chosen["width"], chosen["free_start"]):
        raise SystemExit(f"set minis2t.app.timing's ROW_SHIFT, MEDIAN_WIDTH, FREE_START to the chosen "
                         f"{chosen['shift']}, {chosen['width']}, {chosen['free_start']} and run again")  # fmt: skip
    if args.write_heads:
        path = BUNDLED_MODEL / "generation_config.json"
        config = json.loads(path.read_text())
        config["alignment_heads"] = dev["chosen"]["heads"]
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        model = minis2t.Speech2Text.from_pretrained()
    evaluation = evaluate(model, speak(texts[DEV:], SEED + 1), SEED)
    print(json.dumps(evaluation), flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "word_times.json").write_text(json.dumps({"dev": dev, "eval": evaluation}, indent=2) + "\n")


if __name__ == "__main__":
    main()

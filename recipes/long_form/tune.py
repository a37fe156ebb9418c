"""Choosing ``minis2t.app.longform.JOIN_MARGIN`` on recordings the reported numbers never see.

    .venv/bin/python recipes/long_form/tune.py

Speakers pause inside sentences too, and a pause of 0.3-0.7 s may end a sentence or
split one. Cut there, the model (trained on whole sentences) completes each piece into a
sentence of its own and both come out wrong; so transcribe_long also decodes each pair of
segments separated by such a pause as one, and keeps the joined reading when its mean
log-probability per token beats the two readings' by ``JOIN_MARGIN``.

The margin is chosen here, on a **tuning recording** made like ``run.py``'s (60 minutes,
pauses of 0.3-2 s, noise on alternate 10-minute stretches) but from **fresh speech**: the
test sentences spoken again by every engine with voices drawn from seeds the synthetic
recipe never used (half of them its held-out voices). Every joinable pair is decoded
once, apart and joined; the WER of the whole recording is then computed for each margin
of a grid, and the margin with the lowest WER (the largest, among ties) is chosen.

Writes ``results/join_margin.json``; the constant in ``minis2t/app/longform.py`` must equal
its ``chosen`` (a test checks).
"""

from __future__ import annotations

import os

os.environ.setdefault("MINIS2T_RUNTIME", "numpy")  # the recipes run (and train) the NumPy engine

import json
import sys
from pathlib import Path

import jiwer
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "recipes" / "synthetic_speech")]

import minis2t  # noqa: E402
import minis2t.app.longform as lf  # noqa: E402
import synthesize  # noqa: E402
from run import TEXTS, build, trimmed  # noqa: E402

SEED = 4242  # voices: not a seed the synthetic recipe or run.py used
MARGINS = [round(x, 3) for x in np.arange(0.0, 0.401, 0.025)] + [np.inf]


def fresh_pool() -> list[tuple[np.ndarray, str]]:
    texts = TEXTS.read_text().splitlines()
    pool = []
    for k, engine in enumerate(["espeak-ng", "festival", "flite"]):
        settings = [s for half, held_out in ((texts[:150], False), (texts[150:], True))
                    for s in synthesize.plan(half, [engine], SEED + 10 * k + held_out, held_out)]  # fmt: skip
        _, _, waves = synthesize.synthesize(texts, settings, SEED + k, keep_waves=True)
        pool += [(trimmed(w), t) for w, t in zip(waves, texts)]
    return pool


def main() -> None:
    model = minis2t.Speech2Text.from_pretrained()
    audio, truth = build(60, SEED, fresh_pool())
    segmenter = lf.Segmenter(lf.segment_seconds(model))
    segments = []
    for i in range(0, audio.shape[0], 30 * 16000):
        segments += segmenter.feed(audio[i : i + 30 * 16000])
    segments += segmenter.finish()

    def decode(waves):  # as transcribe_long decodes (beam search: the scores joining needs)
        return lf.decode_waves(model, waves, batch_size=8)

    for segment, (text, score, ids, _, _) in zip(segments, decode([s.audio for s in segments])):
        segment.text, segment.avg_logprob, segment.ids = text, score, ids
    pairs = lf.joinable_pairs(segments, lf.segment_seconds(model))
    joined = dict(zip(pairs, decode([lf._joined_audio(segments[i - 1], segments[i]) for i in pairs])))
    reference = " ".join(u["text"] for u in truth)
    sweep = {}
    for margin in MARGINS:
        out = lf.stitch(segments, joined, margin)
        hypothesis = " ".join(s.text for s in out if s.text)
        sweep[str(margin)] = {"wer": jiwer.wer(reference, hypothesis), "joined": len(segments) - len(out)}
        print(margin, sweep[str(margin)], flush=True)
    best = min(sweep.values(), key=lambda v: v["wer"])["wer"]
    chosen = max(float(m) for m, v in sweep.items() if v["wer"] == best)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "join_margin.json").write_text(json.dumps(
        {"seconds_of_audio": audio.shape[0] / 16000, "utterances": len(truth), "segments": len(segments),
         "joinable_pairs": len(pairs), "sweep": sweep, "chosen": chosen}, indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()

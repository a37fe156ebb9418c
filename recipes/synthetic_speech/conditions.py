"""What augmentation buys, condition by condition.

    python recipes/synthetic_speech/conditions.py

Takes the test sentences as spoken by one engine (flite by default: the left-out engine
of the matched pair below), applies one augmentation step to every utterance (seeded), and
measures the WER of several models under that condition — clean, and each step of
:mod:`augment` alone. The models compared:

* ``leave_out_flite_no_augment`` and ``leave_out_flite``: trained on the same espeak-ng and
  festival speech, without and with augmentation — the difference is what augmentation
  buys on an engine neither has heard;
* the shipped model (all engines, augmented) and the previous espeak-ng-only model, when
  their directories exist.

Writes ``results/conditions.json``. With ``--ablations``, instead: each ablation run
(``run.py --leave-out flite --without STEPS``) and the reference run with every step, on
flite's test utterances with each left-out step applied — what those steps buy
where they matter — into ``results/ablation_conditions.json``.
"""

from __future__ import annotations

import os

os.environ.setdefault("MINIS2T_RUNTIME", "numpy")  # the recipes run (and train) the NumPy engine

import argparse
import json
import pickle
import sys
from pathlib import Path

import jiwer
import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

import augment  # noqa: E402
import evaluate  # noqa: E402
import run  # noqa: E402

import minis2t  # noqa: E402

MODELS = {
    "espeak-ng only, no augmentation (previous bundled model)": run.WORK / "espeak_only_model",
    "espeak-ng + festival, no augmentation": run.WORK / "leave_out_flite_no_augment" / "model",
    "espeak-ng + festival, augmented": run.WORK / "leave_out_flite" / "model",
    "all three engines, augmented (shipped)": run.ROOT / "minis2t" / "assets" / "model",
}


def conditioned(waves, condition: str, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for wave in waves:
        if condition == "vtlp":
            out.append(augment.vtlp_features(wave, rng.uniform(0.88, 1.12)))
            continue
        if condition != "clean":
            wave = augment.STEPS[condition](wave, rng)
        out.append(minis2t.FeatureExtractor()(wave)["input_features"][0])
    return out


def ablations(waves, refs, seed: int = 7) -> dict:
    """For each ablation run: WER of it and of the reference run on the utterances with
    its left-out steps applied, one at a time (their clean WERs are in the runs' results)."""
    reference = minis2t.Speech2Text.from_pretrained(run.WORK / "leave_out_flite" / "model")
    out = {}
    for result in sorted((HERE / "results").glob("leave_out_flite_without_*.json")):
        left_out = json.loads(result.read_text())["augmentation_left_out"]
        model = minis2t.Speech2Text.from_pretrained(run.WORK / result.stem / "model")
        rows = {}
        for condition in left_out:
            feats = conditioned(waves, condition, seed)
            rows[condition] = {"without": jiwer.wer(refs, evaluate.decode(model, feats)),
                               "reference": jiwer.wer(refs, evaluate.decode(reference, feats))}  # fmt: skip
            print(result.stem, condition, {k: f"{100 * v:.1f}" for k, v in rows[condition].items()}, flush=True)
        out[result.stem] = {"left_out": left_out, "wer": rows}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="flite")
    parser.add_argument("--sentences", type=int, default=150)
    parser.add_argument("--ablations", action="store_true", help="the ablation runs on their own conditions")
    args = parser.parse_args()
    cache = sorted(run.WORK.glob("test_*.pkl"))[-1]
    tests = pickle.loads(cache.read_bytes())
    texts = (HERE / "test_sentences.txt").read_text().split("\n")[: args.sentences]
    waves = [w for g in ("seen voices", "held-out voices") for w in tests[(args.engine, g)][2][: args.sentences]]
    refs = texts + texts
    if args.ablations:
        table = {"engine": args.engine, "utterances": len(refs), "runs": ablations(waves, refs)}
        (HERE / "results" / "ablation_conditions.json").write_text(json.dumps(table, indent=2) + "\n")
        return
    models = {name: minis2t.Speech2Text.from_pretrained(path) for name, path in MODELS.items()
              if (path / "config.json").is_file()}  # fmt: skip
    conditions = ["clean", *augment.STEPS, "vtlp"]
    table = {}
    for condition in conditions:
        feats = conditioned(waves, condition, seed=7)
        table[condition] = {name: jiwer.wer(refs, evaluate.decode(model, feats)) for name, model in models.items()}
        print(condition, {k: f"{100 * v:.1f}" for k, v in table[condition].items()}, flush=True)
    out = {"engine": args.engine, "utterances": len(refs), "models": list(models), "wer": table}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "conditions.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

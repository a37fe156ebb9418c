"""WER and CER on the held-out test sentences, with the NumPy code and with the twin.

Both decode with beam search (5 beams, the model's generation config). Also writes a few
test recordings and their references next to the model (``minis2t/assets/samples``).
"""

from __future__ import annotations

import json
from pathlib import Path

import jiwer
import numpy as np
import soundfile
import torch

import minis2t
import parity.generate as tg
import parity.model as tm
import synthesize

SAMPLES = 5


def evaluate(model_dir: Path, test_text: list[str], seed: int, log=print) -> dict:
    feats, settings, waves = synthesize.synthesize(test_text, seed=seed, keep_waves=True)
    model = minis2t.Speech2Text.from_pretrained(model_dir)
    numpy_hyps = model.transcribe(waves, batch_size=16)
    log("numpy decoding done")
    twin_hyps = twin_transcribe(model, waves)
    log("twin decoding done")
    result = {
        "test_utterances": len(test_text),
        "numpy": {"wer": jiwer.wer(test_text, numpy_hyps), "cer": jiwer.cer(test_text, numpy_hyps)},
        "twin": {"wer": jiwer.wer(test_text, twin_hyps), "cer": jiwer.cer(test_text, twin_hyps)},
        "numpy_equals_twin": sum(a == b for a, b in zip(numpy_hyps, twin_hyps)),
        "errors": [{"ref": r, "hyp": h, "voice": s} for r, h, s in zip(test_text, numpy_hyps, settings) if r != h][:20],
    }
    write_samples(Path(model_dir).parent / "samples", test_text, waves, settings, numpy_hyps)
    return result


def twin_transcribe(model: minis2t.Speech2Text, waves, batch_size: int = 16) -> list[str]:
    params = tm.to_torch(model.weights, torch.float32)
    options = model.generation_config
    texts = []
    for start in range(0, len(waves), batch_size):
        batch = model.feature_extractor(waves[start : start + batch_size])
        out = tg.generate(params, model.config, torch.from_numpy(batch["input_features"]),
                          torch.from_numpy(batch["attention_mask"]), options)  # fmt: skip
        texts += model.tokenizer.batch_decode(out.sequences.numpy(), skip_special_tokens=True)
    return texts


def write_samples(directory: Path, texts, waves, settings, hyps) -> None:
    """The first few test utterances that the model gets right, as 16-bit WAV files."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.wav"):
        old.unlink()
    chosen = [i for i, (t, h) in enumerate(zip(texts, hyps)) if t == h][:SAMPLES]
    rows = []
    for n, i in enumerate(chosen):
        name = f"test_{n:02d}.wav"
        soundfile.write(directory / name, np.asarray(waves[i]), 16000, subtype="PCM_16")
        rows.append({"file": name, "text": texts[i], **settings[i]})
    (directory / "references.json").write_text(json.dumps(rows, indent=2) + "\n")

"""WER and CER on the held-out test sentences, for every engine, with seen and held-out
voices, with the NumPy code (and the twin, for the shipped model).

Decoding is beam search (5 beams, the model's generation config) from the test
utterances' features. The shipped model's run also writes test recordings from every
engine next to the model (``minis2t/assets/samples``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jiwer
import numpy as np
import soundfile
import torch

import minis2t
import parity.generate as tg
import parity.model as tm
from minis2t.io.features import pad_batch

SAMPLES_PER_ENGINE = 2
TWIN_PER_GROUP = 25
# a digit string: three digit words in a row (the grammar's strings have 3-11)
DIGIT_RUN = re.compile(r"\b(?:(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)\b ?){3,}")


def decode(model: minis2t.Speech2Text, feats, batch_size: int = 16, twin_params=None,
           search: str = "transformers", language: str | None = None) -> list[str]:  # fmt: skip
    """Transcripts of feature arrays with the NumPy model (with either beam search), or
    the twin given its params; a translation model's ``language`` token forced first."""
    forced = None if language is None else model.tokenizer.language_id(language)
    order = sorted(range(len(feats)), key=lambda i: -feats[i].shape[0])
    texts = [""] * len(feats)
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        x, mask = pad_batch([feats[i].astype(np.float32) for i in chosen])  # [B, T, 80], [B, T]
        if twin_params is None:
            ids = model.generate(x, mask, search=search, forced_bos_token_id=forced)
        else:
            ids = tg.generate(twin_params, model.config, torch.from_numpy(x), torch.from_numpy(mask),
                              model.generation_config.replace(forced_bos_token_id=forced)).sequences.numpy()  # fmt: skip
        for i, text in zip(chosen, model.tokenizer.batch_decode(ids, skip_special_tokens=True)):
            texts[i] = text
    return texts


def evaluate(model_dir: Path, test_text: list[str], tests: dict, twin: bool, log=print,
             samples: Path | None = None) -> dict:  # fmt: skip
    model = minis2t.Speech2Text.from_pretrained(model_dir)
    twin_params = tm.to_torch(model.weights, torch.float32) if twin else None
    table, by_voice, errors, equal, total = [], {}, [], 0, 0
    chosen_samples = []
    for (engine, group), (feats, meta, waves) in tests.items():
        refs = [m.get("text", t) for m, t in zip(meta, test_text)] if engine != "human" else [m["text"] for m in meta]
        hyps = decode(model, feats)
        row = {"engine": engine, "voices": group, "n": len(hyps),
               "wer": jiwer.wer(refs, hyps), "cer": jiwer.cer(refs, hyps)}  # fmt: skip
        digits = [i for i, r in enumerate(refs) if DIGIT_RUN.search(r)]
        if digits:
            row["digit_sentences"] = len(digits)
            row["digit_wer"] = jiwer.wer([refs[i] for i in digits], [hyps[i] for i in digits])
        if twin:  # the twin on the first TWIN_PER_GROUP utterances of each group (its beam search is slow)
            twin_hyps = decode(model, feats[:TWIN_PER_GROUP], twin_params=twin_params)
            row["numpy_equals_twin"] = sum(a == b for a, b in zip(hyps, twin_hyps))
            row["twin_compared"] = len(twin_hyps)
            equal, total = equal + row["numpy_equals_twin"], total + len(twin_hyps)
        table.append(row)
        log(f"{engine:10s} {group:16s} WER {100 * row['wer']:6.2f} %  CER {100 * row['cer']:6.2f} %"
            f"  digit strings {100 * row.get('digit_wer', float('nan')):6.2f} %")
        for ref, hyp, m in zip(refs, hyps, meta):
            voice = f"{engine}:{m['voice'].split('+')[0]}"
            counts = by_voice.setdefault(voice, {"engine": engine, "held_out": group != "seen voices",
                                                 "refs": [], "hyps": []})  # fmt: skip
            counts["refs"].append(ref)
            counts["hyps"].append(hyp)
            if ref != hyp and len(errors) < 40:
                errors.append({"ref": ref, "hyp": hyp, "voice": m})
        if samples is not None and group == "seen voices":  # right, and sentences not yet chosen
            used = {text for text, _, _ in chosen_samples}
            right = [i for i, (r, h) in enumerate(zip(refs, hyps)) if r == h and r not in used]
            chosen_samples += [(refs[i], waves[i], meta[i]) for i in right[:SAMPLES_PER_ENGINE]]
    voices = {v: {"engine": c["engine"], "held_out": c["held_out"], "n": len(c["refs"]),
                  "wer": jiwer.wer(c["refs"], c["hyps"])} for v, c in sorted(by_voice.items())}  # fmt: skip
    result = {"test_sentences": len(test_text), "table": table, "by_voice": voices, "errors": errors}
    if twin:
        result["numpy_equals_twin"], result["test_utterances"] = equal, total
    if samples is not None:
        write_samples(samples, chosen_samples)
    return result


def write_samples(directory: Path, chosen) -> list[dict]:
    """Test utterances the model gets right, ``(text, wave, settings)`` each, as 16-bit WAV
    files and ``references.json`` (text and settings of each); returns its rows."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.wav"):
        old.unlink()
    rows = []
    for n, (text, wave, meta) in enumerate(chosen):
        name = f"test_{n:02d}.wav"
        soundfile.write(directory / name, np.asarray(wave), 16000, subtype="PCM_16")
        rows.append({"file": name, "text": text, **{k: v for k, v in meta.items() if k != "augment"}})
    (directory / "references.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    return rows

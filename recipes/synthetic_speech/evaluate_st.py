"""BLEU and chrF (sacrebleu) of the translation model on the held-out test speech, per
target language, with the NumPy model and with the PyTorch twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sacrebleu
import torch

import minis2t
import parity.model as tm
import translate
from evaluate import decode
from evaluate import write_samples as write_samples_as_wav


def evaluate(model_dir: Path, test_text: list[str], tests: dict, languages, log=print, twin_groups=None) -> dict:
    """Per language: BLEU and chrF over every test group (engines x seen/held-out voices),
    and per group; the twin decodes ``twin_groups`` (all if None) and must agree."""
    model = minis2t.Speech2Text.from_pretrained(model_dir)
    twin_params = tm.to_torch(model.weights, torch.float32)
    result = {"languages": {}, "examples": []}
    equal = total = 0
    for lang in languages:
        all_refs, all_hyps, groups = [], [], []
        for (engine, group), (feats, meta, _) in tests.items():
            refs = [translate.translate(m.get("text", s), lang) for m, s in zip(meta, test_text)]
            hyps = decode(model, feats, language=lang)
            if twin_groups is None or (engine, group) in twin_groups:
                twin = decode(model, feats, twin_params=twin_params, language=lang)
                equal, total = equal + sum(a == b for a, b in zip(hyps, twin)), total + len(hyps)
            groups.append({"engine": engine, "voices": group, "bleu": sacrebleu.corpus_bleu(hyps, [refs]).score,
                           "chrf": sacrebleu.corpus_chrf(hyps, [refs]).score})  # fmt: skip
            all_refs += refs
            all_hyps += hyps
            log(f"{lang} {engine:10s} {group:16s} BLEU {groups[-1]['bleu']:6.2f}  chrF {groups[-1]['chrf']:6.2f}")
        result["languages"][lang] = {"bleu": sacrebleu.corpus_bleu(all_hyps, [all_refs]).score,
                                     "chrf": sacrebleu.corpus_chrf(all_hyps, [all_refs]).score,
                                     "utterances": len(all_hyps), "groups": groups}  # fmt: skip
        result["examples"] += [{"lang": lang, "ref": r, "hyp": h} for r, h in zip(all_refs, all_hyps) if r != h][:10]
        log(f"{lang}: BLEU {result['languages'][lang]['bleu']:.2f}, chrF {result['languages'][lang]['chrf']:.2f}")
    result.update(numpy_equals_twin=equal, twin_utterances=total)
    return result


def write_samples(model_dir: Path, test_text: list[str], tests: dict, languages, directory: Path) -> list[dict]:
    """One test recording per engine (training voices), each of another sentence, that the
    model translates right into every language, as it will be read back from a 16-bit WAV
    file; written by :func:`evaluate.write_samples`, the references with their translations."""
    model = minis2t.Speech2Text.from_pretrained(model_dir)
    chosen = []  # (text, 16-bit samples, settings with the translations)
    for (engine, group), (_, meta, waves) in tests.items():
        if group != "seen voices":
            continue
        for i, wave in enumerate(waves):
            text = translate.g.label(test_text[i])
            if text in {text for text, _, _ in chosen}:
                continue  # a sentence once
            pcm = np.round(np.clip(np.asarray(wave), -1, 32767 / 32768) * 32768).astype(np.int16)
            refs = {lang: translate.translate(text, lang) for lang in languages}
            if all(model.transcribe(pcm, language=lang)[0] == refs[lang] for lang in languages):
                chosen.append((text, pcm, {"translations": refs, **meta[i]}))
                break
    return write_samples_as_wav(directory, chosen)

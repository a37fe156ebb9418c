"""BLEU and chrF (sacrebleu) of the translation model on the held-out test speech, per
target language, with the NumPy model and with the PyTorch twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sacrebleu
import torch

import minis2t
import parity.generate as tg
import parity.model as tm
import translate
from minis2t.features import pad_batch


def decode(model, feats, language: str, batch_size: int = 16, twin_params=None) -> list[str]:
    """Translations of feature arrays into ``language`` (its token forced first)."""
    forced = model.tokenizer.language_id(language)
    options = model.generation_config.replace(forced_bos_token_id=forced)
    order = sorted(range(len(feats)), key=lambda i: -feats[i].shape[0])
    texts = [""] * len(feats)
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        x, mask = pad_batch([feats[i].astype(np.float32) for i in chosen])
        if twin_params is None:
            ids = model.generate(x, mask, forced_bos_token_id=forced)
        else:
            ids = tg.generate(twin_params, model.config, torch.from_numpy(x), torch.from_numpy(mask), options).sequences.numpy()
        for i, text in zip(chosen, model.tokenizer.batch_decode(ids, skip_special_tokens=True)):
            texts[i] = text
    return texts


def evaluate(model_dir: Path, test_text: list[str], tests: dict, languages, log=print, twin_groups=None) -> dict:
    """Per language: BLEU and chrF over every test group (engines x seen/held-out voices),
    and per group; the twin decodes ``twin_groups`` (all if None) and must agree."""
    model = minis2t.Speech2Text.from_pretrained(model_dir)
    twin_params = tm.to_torch(model.weights, torch.float32)
    result = {"languages": {}, "examples": []}
    equal = total = 0
    for lang in languages:
        refs = [translate.translate(s, lang) for s in test_text]
        all_refs, all_hyps, groups = [], [], []
        for (engine, group), (feats, _, _) in tests.items():
            hyps = decode(model, feats, lang)
            if twin_groups is None or (engine, group) in twin_groups:
                twin = decode(model, feats, lang, twin_params=twin_params)
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
    file."""
    import json

    import soundfile

    model = minis2t.Speech2Text.from_pretrained(model_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.wav"):
        old.unlink()
    rows = []
    for (engine, group), (_, meta, waves) in tests.items():
        if group != "seen voices":
            continue
        for i, wave in enumerate(waves):
            if test_text[i] in {r["text"] for r in rows}:
                continue  # a sentence once
            pcm = np.round(np.clip(np.asarray(wave), -1, 32767 / 32768) * 32768).astype(np.int16)
            refs = {lang: translate.translate(test_text[i], lang) for lang in languages}
            if all(model.transcribe(pcm, language=lang)[0] == refs[lang] for lang in languages):
                name = f"test_{len(rows):02d}.wav"
                soundfile.write(directory / name, pcm, 16000, subtype="PCM_16")
                rows.append({"file": name, "text": test_text[i], "translations": refs,
                             **{k: v for k, v in meta[i].items() if k != "augment"}})  # fmt: skip
                break
    (directory / "references.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    return rows

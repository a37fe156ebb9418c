"""The bundled translation model: English speech -> French, German or Spanish text.

    .venv/bin/python recipes/synthetic_speech/run.py       # first: the recogniser, and the cached speech
    .venv/bin/python recipes/synthetic_speech/run_st.py

The same speech as the recogniser's recipe (the cached training utterances, the same
held-out test sentences), each utterance's target now its translation
(:mod:`translate`) into each of the three languages, preceded by the language's token —
MuST-C's multilingual layout (``<lang:xx>`` as SentencePiece user symbols for MuST-C's
eight languages, ``lang_codes: mustc``), so that transformers and fairseq read it as they
read ``facebook/s2t-medium-mustc-multilingual-st``. The encoder starts from the bundled
recogniser's (as fairseq's speech-translation recipes start from an ASR encoder); the
decoder and its vocabulary are new. Writes ``minis2t/assets/model_st/``.
"""

from __future__ import annotations

import os

os.environ.setdefault("MINIS2T_RUNTIME", "numpy")  # the recipes run (and train) the NumPy engine

import argparse
import json
import time
from pathlib import Path

import numpy as np
import sentencepiece

from run import (ARCHITECTURE, HERE, ROOT, WORK, cached, split_sentences, synthesised_indices, test_speech,
                 train_vocabulary, training_speech, write_model_dir)  # fmt: skip

import minis2t  # noqa: E402
import translate  # noqa: E402

MUSTC = ["pt", "fr", "ru", "nl", "ro", "it", "es", "de"]  # the order transformers and fairseq use
LANGUAGES = ("fr", "de", "es")
SPM_VOCAB = 1000
GENERATION = dict(num_beams=5, max_length=96, early_stopping=True)
OUT = ROOT / "minis2t" / "assets" / "model_st"


def write_st_model_dir(out: Path, config, weights, proto: bytes) -> None:
    """The recogniser's layout with MuST-C's language codes; ``languages`` in the
    generation config names the codes it was trained for (its vocabulary has eight)."""
    generation = minis2t.GenerationConfig(**GENERATION, extra={"languages": list(LANGUAGES)})
    write_model_dir(out, config, weights, proto, generation, lang_codes="mustc", tgt_lang="fr")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-evaluate", action="store_true", help="train and write the model only")
    parser.add_argument("--human-strings", type=int, default=3000,
                        help="the recogniser's digit strings from real speakers (its cache), translated")
    parser.add_argument("--resume", action="store_true", help="continue from work/st_train.pt")
    parser.add_argument("--evaluate-only", action="store_true", help="evaluate the model --out holds")
    parser.add_argument("--twin-groups", type=int, default=None,
                        help="the twin decodes only the first N test groups (all by default)")
    args = parser.parse_args()
    t0 = time.time()
    log = lambda *a: print(f"[{time.time() - t0:7.0f} s]", *a, flush=True)  # noqa: E731
    train_text, test_text = split_sentences(16000, 300, args.seed)  # spoken forms (translate drops the pauses)
    languages = LANGUAGES
    h_feats, h_labels = [], []
    if args.human_strings:
        import humans  # noqa: E402

        h_feats, _, h_labels, _ = cached(f"human_{args.seed}_aug_{args.human_strings}",
                                         lambda: humans.speech(args.human_strings, args.seed + 3, True))  # fmt: skip
    train_targets = {lang: [translate.translate(s, lang) for s in train_text] for lang in languages}
    proto = train_vocabulary([t for lang in languages for t in train_targets[lang]], SPM_VOCAB,
                             tuple(f"<lang:{lang}>" for lang in MUSTC))  # fmt: skip
    sp = sentencepiece.SentencePieceProcessor(model_proto=proto)
    lang_id = {lang: sp.piece_to_id(f"<lang:{lang}>") for lang in languages}
    feats, meta = cached(f"train_{args.seed}_aug_{len(train_text)}",
                         lambda: training_speech(train_text, args.seed + 1, True))  # fmt: skip
    order = synthesised_indices(train_text, args.seed + 1)
    assert len(order) == len(feats)
    # every utterance once per language: the same features, three targets
    pairs_feats, pairs_targets = [], []
    for lang in languages:
        encoded = [[lang_id[lang]] + sp.encode(train_targets[lang][i]) + [2] for i in order]
        pairs_feats += feats + h_feats
        pairs_targets += encoded + [[lang_id[lang]] + sp.encode(translate.translate(t, lang)) + [2] for t in h_labels]
    log(f"vocabulary: {sp.get_piece_size()} pieces; {len(pairs_feats)} training pairs; tokens per target "
        + ", ".join(f"{lang} {np.mean([len(sp.encode(t)) for t in train_targets[lang]]):.1f}" for lang in languages))
    config = minis2t.ModelConfig(**{**ARCHITECTURE, "vocab_size": sp.get_piece_size()})
    asr = minis2t.Speech2Text.from_pretrained()
    encoder = {k: v for k, v in asr.weights.items() if k.startswith("model.encoder.")}
    import train  # noqa: E402 (imports torch)

    if args.evaluate_only:
        training_seconds = json.loads((HERE / "results" / "st_training.json").read_text())["training_seconds"]
    else:
        t_train = time.time()
        checkpoint = WORK / "st_train.pt"
        if checkpoint.is_file() and not args.resume:
            checkpoint.unlink()  # a fresh run
        weights = train.train(config, pairs_feats, pairs_targets, args.steps, seed=args.seed, ctc_weight=0.0,
                              log=log, init_from=encoder, checkpoint=checkpoint)  # fmt: skip
        training_seconds = round(time.time() - t_train)
        write_st_model_dir(args.out, config, weights, proto)
        log(f"model written to {args.out} after {training_seconds} s of training")
        if args.out == OUT:
            (HERE / "results" / "st_training.json").write_text(json.dumps({"training_seconds": training_seconds}) + "\n")
    if args.no_evaluate:
        return
    tests = cached(f"test_{args.seed}_{len(test_text)}", lambda: test_speech(test_text, args.seed + 2))
    import evaluate_st  # noqa: E402

    twin_groups = None if args.twin_groups is None else list(tests)[: args.twin_groups]
    result = evaluate_st.evaluate(args.out, test_text, tests, languages, log=log, twin_groups=twin_groups)
    if args.out == OUT:
        rows = evaluate_st.write_samples(args.out, test_text, tests, languages, OUT.parent / "samples_st")
        log(f"{len(rows)} sample recordings written")
    result.update(steps=args.steps, training_seconds=training_seconds, recipe_seconds=round(time.time() - t0),
                  training_pairs=len(pairs_feats), encoder_from="bundled recogniser",
                  evaluated_separately=args.evaluate_only)  # fmt: skip
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "st.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    log(json.dumps({k: v for k, v in result.items() if k != "examples"}, indent=2))


if __name__ == "__main__":
    main()

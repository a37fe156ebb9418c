"""The whole recipe, end to end: text, speech, vocabulary, training, export, evaluation.

    python recipes/synthetic_speech/run.py                        # the bundled model
    python recipes/synthetic_speech/run.py --leave-out festival    # train without an engine
    python recipes/synthetic_speech/run.py --leave-out flite --no-augment
    python recipes/synthetic_speech/run.py --leave-out flite --without reverberate  # ablation
    python recipes/synthetic_speech/run.py --engine numpy        # trained by NumPy alone

Seeded throughout. Speech comes from three synthesisers (:mod:`engines`: espeak-ng,
festival, flite) in equal shares, each training utterance through a random augmentation
chain (:mod:`augment`). The default run writes the model directory (Hugging Face layout)
to ``minis2t/assets/model``, test recordings from every engine beside it, and
``results.json``. ``--leave-out ENGINE`` trains on the other engines only, writes the model
under ``work/`` and ``results/leave_out_ENGINE[_no_augment].json``: the generalisation
table of the docs; ``--without STEP[,STEP]`` leaves augmentation steps out of such a run,
to measure what they buy (``results/leave_out_ENGINE_without_STEPS.json``). Synthesised speech is cached in ``work/`` (git-ignored), so the
leave-one-out runs reuse the speech of the first run.
"""

from __future__ import annotations

import os

os.environ.setdefault("MINIS2T_RUNTIME", "numpy")  # the recipes run (and train) the NumPy engine

import argparse
import io
import json
import pickle
import random
import sys
import time
from pathlib import Path

import numpy as np
import sentencepiece

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
WORK = HERE / "work"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import augment  # noqa: E402
import engines  # noqa: E402
import grammar  # noqa: E402
import humans  # noqa: E402
import synthesize  # noqa: E402

import minis2t  # noqa: E402

ARCHITECTURE = dict(
    d_model=128, encoder_layers=6, decoder_layers=3, encoder_attention_heads=4,
    decoder_attention_heads=4, encoder_ffn_dim=512, decoder_ffn_dim=512, conv_channels=256,
    num_conv_layers=2, conv_kernel_sizes=(5, 5), input_feat_per_channel=80,
    max_source_positions=1500, max_target_positions=128, dropout=0.0,
)  # fmt: skip
GENERATION = dict(num_beams=5, max_length=64, early_stopping=True)
SPM_VOCAB = 256
ENGINE_NAMES = list(engines.ENGINES)
AUGMENTATION_STEPS = (*augment.STEPS, "vtlp")


def split_sentences(n_train: int, n_test: int, seed: int) -> tuple[list[str], list[str]]:
    """Unique test sentences, and training sentences whose words never equal one of them
    (spoken forms, with the pause marks: :func:`grammar.label` gives the transcripts)."""
    pool = grammar.sentences(20 * (n_train + n_test), seed)
    unique = list({grammar.label(s): s for s in pool}.values())
    random.Random(seed).shuffle(unique)
    test = unique[:n_test]
    held_out = {grammar.label(s) for s in test}
    train = [s for s in pool if grammar.label(s) not in held_out][:n_train]
    return train, test


def train_vocabulary(texts: list[str], vocab_size: int = SPM_VOCAB, user_symbols: tuple = ()) -> bytes:
    """A unigram SentencePiece model with fairseq's special ids, on the training text only;
    ``user_symbols`` (language codes) get the ids after the special ones."""
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, bos_id=0, pad_id=1, eos_id=2, unk_id=3,
        user_defined_symbols=list(user_symbols), minloglevel=2,
    )  # fmt: skip
    return model.getvalue()


def write_model_dir(out: Path, config, weights, proto: bytes, generation=None, **tokenizer_options) -> None:
    """A model directory in the Hugging Face layout; ``generation`` (a GenerationConfig)
    defaults to the recogniser's, ``tokenizer_options`` go to :class:`minis2t.Tokenizer`."""
    out.mkdir(parents=True, exist_ok=True)
    minis2t.save_checkpoint(out, config, weights)
    (generation or minis2t.GenerationConfig(**GENERATION)).save_pretrained(out)
    sp = sentencepiece.SentencePieceProcessor(model_proto=proto)
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    minis2t.Tokenizer(vocab, proto, **tokenizer_options).save_pretrained(out)
    minis2t.FeatureExtractor().save_pretrained(out)


def cached(name: str, make):
    """``make()``, computed once and kept in ``work/NAME.pkl``."""
    path = WORK / f"{name}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    value = make()
    WORK.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(value, protocol=5))
    return value


def synthesised_indices(texts, seed, disabled=(), leave_out=None) -> list[int]:
    """Which of ``texts`` :func:`training_speech` synthesises, in its order: all of them,
    or — in an ablation run (``disabled`` steps) — only those of the engines kept."""
    settings = synthesize.plan(texts, ENGINE_NAMES, seed)
    if disabled and leave_out:
        return [i for i, s in enumerate(settings) if s["engine"] != leave_out]
    return list(range(len(texts)))


def training_speech(texts, seed, augmentation, disabled=(), leave_out=None):
    """Features and settings of the training utterances; those of ``leave_out`` are not
    synthesised at all when steps are ``disabled`` (an ablation run needs no full set)."""
    settings = synthesize.plan(texts, ENGINE_NAMES, seed)
    keep = synthesised_indices(texts, seed, disabled, leave_out)
    texts, settings = [texts[i] for i in keep], [settings[i] for i in keep]
    feats, meta, _ = synthesize.synthesize(texts, settings, seed, augmentation=augmentation,
                                           disabled=disabled)  # fmt: skip
    return feats, meta


def test_speech(texts, seed):
    """Every engine says every test sentence, clean: once with training voices, once with
    the held-out voices (where it has some); and as many digit strings spliced from the
    people's kept-aside takes. ``{(engine, group): (features, settings, waves)}``."""
    out = {}
    for k, engine in enumerate(ENGINE_NAMES):
        for group, held_out in (("seen voices", False), ("held-out voices", True)):
            if not engines.voices(engine, held_out):
                continue
            settings = synthesize.plan(texts, [engine], seed + 10 * k + held_out, held_out)
            feats, meta, waves = synthesize.synthesize(texts, settings, seed + 10 * k + held_out,
                                                       keep_waves=True)  # fmt: skip
            out[(engine, group)] = (feats, meta, waves)
    feats, meta, _, waves = humans.speech(len(texts), seed + 7, augmentation=False, takes=humans.ASIDE,
                                          keep_waves=True)  # fmt: skip
    out[("human", "kept-aside takes")] = (feats, meta, waves)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-sentences", type=int, default=16000)
    parser.add_argument("--test-sentences", type=int, default=300)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--max-frames", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--leave-out", choices=ENGINE_NAMES, default=None,
                        help="train without this engine (a generalisation run)")
    parser.add_argument("--no-augment", action="store_true", help="train on clean speech")
    parser.add_argument("--without", type=lambda v: tuple(sorted(v.split(","))), default=(),
                        help="augmentation steps to leave out, comma-separated "
                             f"({', '.join(AUGMENTATION_STEPS)}): an ablation run")
    parser.add_argument("--engine", choices=["twin", "numpy"], default="twin",
                        help="train with the PyTorch twin (the bundled model) or NumPy alone "
                             "(minis2t.train; no torch in the training step)")
    parser.add_argument("--human-strings", type=int, default=3000,
                        help="digit strings spliced from the real speakers' training takes")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from its checkpoint (work/<run>_train.pt)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--evaluate-only", action="store_true",
                        help="evaluate the model an earlier run wrote (its training time is read "
                             "from that run's log, results/<run>_log.txt)")  # fmt: skip
    args = parser.parse_args()
    unknown = set(args.without) - set(AUGMENTATION_STEPS)
    if unknown or (args.without and args.no_augment):
        parser.error(f"--without takes {', '.join(AUGMENTATION_STEPS)} (and not with --no-augment)")
    t0 = time.time()
    log = lambda *a: print(f"[{time.time() - t0:7.0f} s]", *a, flush=True)  # noqa: E731
    stages, t_stage = {}, [time.time()]

    def stage(name: str) -> None:  # wall time of each stage, for results.json
        stages[name] = round(time.time() - t_stage[0])
        t_stage[0] = time.time()
    tag = "full" if args.leave_out is None else f"leave_out_{args.leave_out}"
    tag += "_no_augment" if args.no_augment else ""
    tag += "_without_" + "+".join(args.without) if args.without else ""
    tag = tag if args.engine == "twin" else f"numpy_{tag}"
    out = args.out or (ROOT / "minis2t" / "assets" / "model" if tag == "full" else WORK / tag / "model")

    train_spoken, test_spoken = split_sentences(args.train_sentences, args.test_sentences, args.seed)
    train_text, test_text = [grammar.label(s) for s in train_spoken], [grammar.label(s) for s in test_spoken]
    words = {w for s in train_text for w in s.split()}
    log(f"text: {len(train_text)} training sentences ({len(set(train_text))} unique), "
        f"{len(test_text)} test sentences, {len(words)} words in training")  # fmt: skip
    proto = train_vocabulary(train_text)
    sp = sentencepiece.SentencePieceProcessor(model_proto=proto)
    targets = [sp.encode(s) + [2] for s in train_text]
    log(f"vocabulary: {sp.get_piece_size()} pieces, {np.mean([len(t) for t in targets]):.1f} tokens per sentence")

    augmentation = not args.no_augment
    name = f"train_{args.seed}_{'aug' if augmentation else 'clean'}_{len(train_text)}"
    if args.without:
        name += f"_without_{'+'.join(args.without)}_{args.leave_out}"
    stage("text and vocabulary")
    feats, meta = cached(name, lambda: training_speech(train_spoken, args.seed + 1, augmentation,
                                                       args.without, args.leave_out))  # fmt: skip
    # The speech of text i is feats[j] for the j-th synthesised index: align the targets.
    targets = [targets[i] for i in synthesised_indices(train_text, args.seed + 1, args.without, args.leave_out)]
    assert len(targets) == len(feats)
    keep = [i for i, m in enumerate(meta) if m["engine"] != args.leave_out]
    feats, targets = [feats[i] for i in keep], [targets[i] for i in keep]
    engines_used = sorted({meta[i]["engine"] for i in keep})
    stage("synthetic speech")
    if args.human_strings:
        h_feats, h_meta, h_labels, _ = cached(
            f"human_{args.seed}_{'aug' if augmentation else 'clean'}_{args.human_strings}",
            lambda: humans.speech(args.human_strings, args.seed + 3, augmentation))  # fmt: skip
        feats, targets = feats + h_feats, targets + [sp.encode(t) + [2] for t in h_labels]
        engines_used.append("human")
    stage("human speech")
    log(f"speech: {len(feats)} training utterances from {', '.join(engines_used)}, "
        f"{sum(f.shape[0] for f in feats) / 100 / 3600:.2f} h")  # fmt: skip
    tests = cached(f"test_{args.seed}_{len(test_text)}", lambda: test_speech(test_spoken, args.seed + 2))
    log("test speech ready")
    stage("test speech")

    config = minis2t.ModelConfig(**{**ARCHITECTURE, "vocab_size": sp.get_piece_size()})
    t_train = time.time()
    if args.evaluate_only:
        from minis2t.train import read_log

        steps = read_log((HERE / "results" / f"{tag}_log.txt").read_text())
        assert len(steps) and int(steps[-1, 0]) == args.steps, "the log does not show a finished run"
        training_seconds = int(steps[-1, 4])
    elif args.engine == "numpy":
        from minis2t.train import train as numpy_train

        trained, _ = numpy_train(config, feats, targets, args.steps, seed=args.seed, max_frames=args.max_frames,
                                 log=log, progress=False)  # fmt: skip
        weights = trained.weights
    else:
        import train  # noqa: E402 (imports torch)

        checkpoint = WORK / f"{tag}_train.pt"
        if checkpoint.is_file() and not args.resume:
            checkpoint.unlink()  # a fresh run
        WORK.mkdir(parents=True, exist_ok=True)
        weights = train.train(config, feats, targets, args.steps, seed=args.seed, max_frames=args.max_frames,
                              log=log, checkpoint=checkpoint)  # fmt: skip
    if not args.evaluate_only:
        training_seconds = round(time.time() - t_train)
        stage("training")
        write_model_dir(out, config, weights, proto)
        log(f"model written to {out}")

    import evaluate  # noqa: E402

    result = evaluate.evaluate(out, test_text, tests, twin=tag == "full", log=log,
                               samples=out.parent / "samples" if tag == "full" else None)  # fmt: skip
    result.update(run=tag, trained_on=engines_used, left_out=args.leave_out, augmentation=augmentation,
                  augmentation_left_out=list(args.without),
                  steps=args.steps, training_utterances=len(feats),
                  training_hours=round(sum(f.shape[0] for f in feats) / 100 / 3600, 2),
                  vocabulary_words=len(words), engine=args.engine, training_seconds=training_seconds,
                  evaluated_separately=args.evaluate_only, human_strings=args.human_strings,
                  recipe_seconds=round(time.time() - t0))  # fmt: skip
    stage("evaluation")
    result["stage_seconds"] = stages  # this invocation's; a resumed run's training counts from its checkpoint
    target = HERE / "results.json" if tag == "full" else HERE / "results" / f"{tag}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    (HERE / "test_sentences.txt").write_text("\n".join(test_text) + "\n")
    log(json.dumps({k: v for k, v in result.items() if k not in ("errors", "by_voice")}, indent=2))


if __name__ == "__main__":
    main()

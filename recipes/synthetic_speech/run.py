"""The whole recipe, end to end: text, speech, vocabulary, training, export, evaluation.

    python recipes/synthetic_speech/run.py [--train-sentences N] [--steps N] [--out DIR]

Seeded throughout. Writes the model directory (Hugging Face layout) to ``--out``
(default ``minis2t/assets/model``), a few test recordings beside it, and prints WER/CER on
the held-out test sentences for the NumPy code and the twin.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import sentencepiece

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import grammar  # noqa: E402
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


def split_sentences(n_train: int, n_test: int, seed: int) -> tuple[list[str], list[str]]:
    """Unique test sentences, and training sentences that never equal one of them."""
    pool = grammar.sentences(20 * (n_train + n_test), seed)
    unique = list(dict.fromkeys(pool))
    random.Random(seed).shuffle(unique)
    test = unique[:n_test]
    held_out = set(test)
    train = [s for s in pool if s not in held_out][:n_train]
    return train, test


def train_vocabulary(texts: list[str]) -> bytes:
    """A unigram SentencePiece model with fairseq's special ids, on the training text only."""
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=SPM_VOCAB,
        model_type="unigram", character_coverage=1.0, bos_id=0, pad_id=1, eos_id=2, unk_id=3,
        minloglevel=2,
    )  # fmt: skip
    return model.getvalue()


def write_model_dir(out: Path, config, weights, proto: bytes) -> None:
    out.mkdir(parents=True, exist_ok=True)
    minis2t.save_checkpoint(out, config, weights)
    minis2t.GenerationConfig(**GENERATION).save_pretrained(out)
    sp = sentencepiece.SentencePieceProcessor(model_proto=proto)
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    minis2t.Tokenizer(vocab, proto).save_pretrained(out)
    minis2t.FeatureExtractor().save_pretrained(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-sentences", type=int, default=16000)
    parser.add_argument("--test-sentences", type=int, default=300)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--max-frames", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "minis2t" / "assets" / "model")
    args = parser.parse_args()
    t0 = time.time()
    log = lambda *a: print(f"[{time.time() - t0:7.0f} s]", *a, flush=True)  # noqa: E731

    train_text, test_text = split_sentences(args.train_sentences, args.test_sentences, args.seed)
    words = {w for s in train_text for w in s.split()}
    log(f"text: {len(train_text)} training sentences ({len(set(train_text))} unique), "
        f"{len(test_text)} test sentences, {len(words)} words in training")  # fmt: skip
    proto = train_vocabulary(train_text)
    sp = sentencepiece.SentencePieceProcessor(model_proto=proto)
    targets = [sp.encode(s) + [2] for s in train_text]
    log(f"vocabulary: {sp.get_piece_size()} pieces, {np.mean([len(t) for t in targets]):.1f} tokens per sentence")

    feats, _, _ = synthesize.synthesize(train_text, seed=args.seed + 1)
    log(f"speech: {len(feats)} training utterances, {sum(f.shape[0] for f in feats) / 100 / 3600:.2f} h")

    import train  # noqa: E402 (imports torch)

    config = minis2t.ModelConfig(**{**ARCHITECTURE, "vocab_size": sp.get_piece_size()})
    weights = train.train(config, feats, targets, args.steps, seed=args.seed, max_frames=args.max_frames,
                          log=log)  # fmt: skip
    write_model_dir(args.out, config, weights, proto)
    log(f"model written to {args.out}")

    import evaluate  # noqa: E402

    result = evaluate.evaluate(args.out, test_text, seed=args.seed + 2, log=log)
    (HERE / "test_sentences.txt").write_text("\n".join(test_text) + "\n")
    result["recipe_seconds"] = round(time.time() - t0)
    result["vocabulary_words"] = len(words)
    (HERE / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    log(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

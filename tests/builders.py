"""Build model directories for tests, with transformers and sentencepiece themselves.

Nothing here re-implements an oracle: SentencePiece models are trained by sentencepiece,
model weights are written by transformers' ``save_pretrained`` or ``torch.save``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import sentencepiece

from tests.conftest import RECORDINGS

TRAINING_TEXT = [r["transcript"] for r in RECORDINGS] + [
    "the quick brown fox jumps over the lazy dog",
    "speech recognition turns sound into text one frame at a time",
    "numbers like 42 and 1961 and 3.14 appear in text too",
    "attention is all you need said the paper in 2017",
    "we are glad to welcome his gospel and the middle classes",
    "Hello World, this is a Test of Upper Case letters!",
    "¿dónde está la biblioteca? ça va très bien, merci.",
    "zwölf boxkämpfer jagen viktor quer über den großen sylter deich",
] * 3


def train_sentencepiece(vocab_size: int = 120, lang_codes: list[str] | None = None,
                        texts: list[str] = TRAINING_TEXT) -> bytes:  # fmt: skip
    """A unigram model with fairseq's special ids, as fairseq's ``gen_vocab`` trains it."""
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        bos_id=0, pad_id=1, eos_id=2, unk_id=3,
        user_defined_symbols=[f"<lang:{x}>" for x in lang_codes or []],
        hard_vocab_limit=False,
        minloglevel=2,
    )  # fmt: skip
    return model.getvalue()


def write_tokenizer_files(directory: Path, proto: bytes, drop_pieces: tuple[str, ...] = (),
                          **config) -> Path:  # fmt: skip
    """``vocab.json`` (SentencePiece order, minus ``drop_pieces``), the model, a config."""
    directory.mkdir(parents=True, exist_ok=True)
    sp = sentencepiece.SentencePieceProcessor(model_proto=proto)
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    for piece in drop_pieces:
        vocab.pop(piece)
    (directory / "vocab.json").write_text(json.dumps(vocab, indent=2, ensure_ascii=False))
    (directory / "sentencepiece.bpe.model").write_bytes(proto)
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "Speech2TextTokenizer", **config}))  # fmt: skip
    return directory

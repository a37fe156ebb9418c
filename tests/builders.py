"""Build model directories for tests, with transformers and sentencepiece themselves.

Nothing here re-implements an oracle: SentencePiece models are trained by sentencepiece,
model weights are written by transformers' ``save_pretrained`` or ``torch.save``.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import sentencepiece
import soundfile

from minis2t.app.pipeline import BUNDLED_MODEL

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


# --- model directories -----------------------------------------------------------------

TINY = dict(
    d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
    decoder_attention_heads=2, encoder_ffn_dim=24, decoder_ffn_dim=24, conv_channels=12,
    num_conv_layers=2, conv_kernel_sizes=[5, 5], input_feat_per_channel=80,
    max_source_positions=300, max_target_positions=64, dropout=0.0,
)  # fmt: skip

from minis2t.io.config import S2T_SMALL  # noqa: E402


def hf_model(seed: int = 0, **overrides):
    """A transformers Speech2TextForConditionalGeneration with random weights, eval mode.

    transformers initialises LayerNorms to (1, 0) and biases to 0; we randomise every
    tensor so that parity tests see non-trivial values everywhere."""
    import torch
    from transformers import Speech2TextConfig, Speech2TextForConditionalGeneration

    config = Speech2TextConfig(**{**TINY, **overrides})
    torch.manual_seed(seed)
    model = Speech2TextForConditionalGeneration(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p) / max(1, p.shape[-1]) ** 0.5 * 4)
    return model


def save_model_dir(directory: Path, model, layout: str = "v5", lang_codes=None,
                   do_lower_case: bool = False) -> Path:  # fmt: skip
    """Save a transformers model as a full model directory.

    ``layout="v5"``: ``model.save_pretrained`` (model.safetensors) and a
    ``processor_config.json``, as transformers 5 writes them. ``layout="released"``: like
    the facebook/s2t-* repos, ``pytorch_model.bin`` written by ``torch.save``,
    ``preprocessor_config.json``, ``tokenizer_config.json``, ``special_tokens_map.json``.
    """
    import torch
    from transformers import (
        Speech2TextFeatureExtractor,
        Speech2TextProcessor,
        Speech2TextTokenizer,
    )

    directory.mkdir(parents=True, exist_ok=True)
    bins = model.config.input_feat_per_channel
    extractor = Speech2TextFeatureExtractor(feature_size=bins, num_mel_bins=bins)
    proto = train_sentencepiece(vocab_size=model.config.vocab_size, lang_codes=lang_codes)
    config = {"do_lower_case": do_lower_case}
    if lang_codes:
        config["lang_codes"] = "mustc"
    write_tokenizer_files(directory, proto, **config)
    if layout == "v5":
        model.save_pretrained(directory)
        tokenizer = Speech2TextTokenizer.from_pretrained(directory)
        Speech2TextProcessor(extractor, tokenizer).save_pretrained(directory)
    else:
        model.config.save_pretrained(directory)
        (directory / "generation_config.json").unlink(missing_ok=True)
        torch.save(model.state_dict(), directory / "pytorch_model.bin")
        extractor.save_pretrained(directory)
        (directory / "special_tokens_map.json").write_text(json.dumps(
            {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}))  # fmt: skip
    return directory


def spm_vocab_size(vocab_size: int = 120, lang_codes=None) -> int:
    """How many pieces ``train_sentencepiece`` really makes (it may stop short)."""
    proto = train_sentencepiece(vocab_size=vocab_size, lang_codes=lang_codes)
    return sentencepiece.SentencePieceProcessor(model_proto=proto).get_piece_size()


# --- the bundled recordings and small audio files, shared by the stages' tests ----------------

SAMPLES = BUNDLED_MODEL.parent / "samples"
GOOD = SAMPLES / "test_00.wav"
GOOD_TEXT = json.loads((SAMPLES / "references.json").read_text())[0]["text"]


def wav_bytes(seconds=1.0, rate=16000, seed=0) -> bytes:
    x = np.random.default_rng(seed).uniform(-0.3, 0.3, int(seconds * rate)).astype(np.float32)
    out = io.BytesIO()
    soundfile.write(out, x, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def with_header_rate(data: bytes, rate: int) -> bytes:
    """The same WAV with another sampling rate (and byte rate) in its fmt chunk."""
    out = bytearray(data)
    out[24:28] = struct.pack("<I", rate)
    out[28:32] = struct.pack("<I", rate * 2)
    return bytes(out)


def import_blocker(*packages: str) -> str:
    """Python source for a subprocess (``python -c``) that makes importing any of
    ``packages`` fail as if it were not installed; follow it with the code under test, then
    :func:`blocked_check` to prove none of them came in another way."""
    return f"""
import sys
class Blocked:  # an import finder that refuses these packages, as if never installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {packages!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
sys.meta_path.insert(0, Blocked())
"""


def blocked_check(*packages: str) -> str:
    """The line that fails the subprocess if one of ``packages`` was imported after all."""
    return f"assert not set(sys.modules) & set({packages!r}), 'a blocked package was imported'\n"

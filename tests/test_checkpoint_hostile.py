"""Hostile and damaged model directories and weights files: each a typed error, fast and
within a memory cap (tests/bounded.py), never a traceback, an exhausted machine or a
wrong answer in silence."""

import json
import shutil
import struct
import zipfile

import numpy as np
import pytest
import torch

from minis2t.app.pipeline import BUNDLED_MODEL
from minis2t.io.checkpoint import read_torch_bin
from tests.bounded import assert_refused, run_bounded
from tests.builders import GOOD
from tests.test_checkpoint_pickles import torch_zip


def test_config_with_a_billion_positions_is_refused_before_allocating(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "max_source_positions": 10**9}))
    result = run_bounded(f"minis2t.Speech2Text.from_pretrained({str(model)!r})")
    assert_refused(result, "ConfigError", "max_source_positions")


def crafted_view(size: tuple, stride: tuple) -> bytes:
    """The pickle torch.save would write for {"w": a view of a 10-float storage} with any
    size and stride, opcode by opcode (protocol 2)."""
    def text(s: str) -> bytes:
        return b"X" + struct.pack("<I", len(s)) + s.encode()

    def ints(values) -> bytes:
        return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"

    storage = (b"(" + text("storage") + b"ctorch\nFloatStorage\n" + text("0") + text("cpu")
               + b"K\x0at" + b"Q")  # fmt: skip
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + b"K\x00" + ints(size)
              + ints(stride) + b"\x89}tR")  # fmt: skip
    return b"\x80\x02}" + text("w") + tensor + b"s."


def torch_bin(path, state_dict) -> str:
    torch.save(state_dict, path)
    return str(path)


@pytest.mark.parametrize("name, make, match", [
    ("stride-0 view of one number", lambda: torch.zeros(1).expand(20000, 20000), "overlaps itself"),
    ("stride-0 view, larger", lambda: torch.zeros(1).expand(10**6, 10**6), "overlaps itself"),
    ("overlapping strides", lambda: torch.zeros(100).as_strided((50, 50), (1, 1)), "overlaps itself"),
    ("shape beyond the storage", lambda: crafted_view((10**5, 10**5), (10**5, 1)), "reaches element"),
    ("negative stride", lambda: crafted_view((5,), (-1,)), "invalid layout"),
])  # fmt: skip
def test_pickled_views_that_would_explode_are_refused(tmp_path, name, make, match):
    view = make()
    if isinstance(view, bytes):  # torch itself refuses to build these: write the pickle by hand
        path = str(torch_zip(tmp_path / "pytorch_model.bin", view, {"0": bytes(40)}))
    else:
        path = torch_bin(tmp_path / "pytorch_model.bin", {"w": view})
    assert (tmp_path / "pytorch_model.bin").stat().st_size < 5000  # a few bytes ...
    result = run_bounded(f"minis2t.io.checkpoint.read_torch_bin(__import__('pathlib').Path({path!r}))")
    assert_refused(result, "CheckpointError", match)  # ... never gigabytes


def test_many_tensors_viewing_one_storage_are_refused(tmp_path):
    base = torch.zeros(2**20)
    path = torch_bin(tmp_path / "pytorch_model.bin", {f"w{i}": base for i in range(2000)})
    result = run_bounded(f"minis2t.io.checkpoint.read_torch_bin(__import__('pathlib').Path({path!r}))")
    assert_refused(result, "CheckpointError", "view the same data")


def test_tied_weights_sharing_a_storage_still_load(tmp_path):
    base = torch.randn(30, 8)
    path = tmp_path / "pytorch_model.bin"
    torch.save({"embed": base, "head": base, "t": base.T}, path)
    out = read_torch_bin(path)
    np.testing.assert_array_equal(out["t"], base.numpy().T)
    out["embed"][0, 0] = 99.0  # copies, not views into one buffer
    assert out["head"][0, 0] != 99.0


def test_zip_bomb_record_is_refused_before_inflating(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    torch.save({"w": torch.zeros(4)}, path)
    with zipfile.ZipFile(path) as z:
        records = {n: z.read(n) for n in z.namelist()}
    data_key = next(n for n in records if n.endswith("/data/0"))
    with zipfile.ZipFile(path, "w") as z:
        for n, raw in records.items():
            if n == data_key:
                z.writestr(n, bytes(2**30), compress_type=zipfile.ZIP_DEFLATED)  # 1 GiB of zeros
            else:
                z.writestr(n, raw)
    assert path.stat().st_size < 5 * 2**20
    result = run_bounded(f"minis2t.io.checkpoint.read_torch_bin(__import__('pathlib').Path({str(path)!r}))")
    assert_refused(result, "CheckpointError", "would inflate")


def damaged_copy(tmp_path, change) -> str:
    model = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL, model)
    change(model)
    return str(model)


def overwrite_weights_bytes(model, data: bytes, at: int = 200_000):
    path = model / "model.safetensors"
    raw = bytearray(path.read_bytes())
    raw[at : at + len(data)] = data
    path.write_bytes(bytes(raw))


def set_tensor(model, name, value):
    from safetensors.numpy import load_file, save_file

    tensors = load_file(model / "model.safetensors")
    tensors[name] = tensors[name].copy()
    tensors[name].flat[3] = value
    save_file(tensors, model / "model.safetensors")  # no checksum: like a file from elsewhere


def edit_json(name, **changes):
    def change(model):
        path = model / name
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return change


def write_file(name, text):
    def change(model):
        (model / name).write_text(text)
    return change


def remove_key(name, key):
    def change(model):
        path = model / name
        values = json.loads(path.read_text())
        values.pop(key)
        path.write_text(json.dumps(values))
    return change


DAMAGED_MODELS = {
    "NaN weight": (lambda d: set_tensor(d, "model.encoder.layers.0.fc1.weight", np.nan), "CheckpointError", "NaN"),
    "inf weight": (lambda d: set_tensor(d, "model.decoder.layer_norm.weight", np.inf), "CheckpointError", "NaN or infinite"),
    "weight of 1e30": (lambda d: set_tensor(d, "lm_head.weight" if False else "model.encoder.layers.2.fc2.weight", 1e30), "CheckpointError", "magnitude"),
    "4 KB of random bytes": (lambda d: overwrite_weights_bytes(d, np.random.default_rng(1).bytes(4096)), "CheckpointError", ""),
    "4 KB of bit-flipped bytes": (lambda d: overwrite_weights_bytes(d, bytes(b ^ 0xFF for b in (d / "model.safetensors").read_bytes()[200_000:204_096])), "CheckpointError", "checksum"),
    "truncated weights": (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:100_000]), "CheckpointError", "complete"),
    "weights missing": (lambda d: (d / "model.safetensors").unlink(), "CheckpointError", "no weights"),
    "config.json not JSON": (write_file("config.json", "{not json"), "ConfigError", "not valid JSON"),
    "config.json a list": (write_file("config.json", "[1, 2]"), "ConfigError", "JSON object"),
    "d_model missing": (remove_key("config.json", "d_model"), "ConfigError", "does not set d_model"),
    "d_model wrong": (edit_json("config.json", d_model=64), "CheckpointError", "shape"),
    "vocab_size a string": (edit_json("config.json", vocab_size="256"), "ConfigError", "vocab_size"),
    "heads do not divide d_model": (edit_json("config.json", encoder_attention_heads=3), "ConfigError", "divisible"),
    "max_target_positions 0": (edit_json("config.json", max_target_positions=0), "ConfigError", "max_target_positions"),
    "eos outside the vocabulary": (edit_json("generation_config.json", eos_token_id=10**6), "ConfigError", "eos_token_id"),
    "pad outside the vocabulary": (edit_json("generation_config.json", pad_token_id=999), "ConfigError", "pad_token_id"),
    "alignment_heads past the decoder": (edit_json("generation_config.json", alignment_heads=[[9, 0]]), "ConfigError", "alignment_heads"),
    "alignment_heads not pairs": (edit_json("generation_config.json", alignment_heads="all"), "ConfigError", "alignment_heads"),
    "languages outside the vocabulary": (edit_json("generation_config.json", languages=["xx"]), "ConfigError", "languages"),
    "length_penalty NaN": (write_file("generation_config.json", '{"num_beams": 5, "length_penalty": NaN}'), "ConfigError", "length_penalty"),
    "preprocessor_config.json not JSON": (write_file("preprocessor_config.json", "{"), "ConfigError", "preprocessor_config.json"),
    "num_mel_bins 10**9": (edit_json("preprocessor_config.json", num_mel_bins=10**9, feature_size=10**9), "FeatureError", "must be an integer in [1, 256]"),
    "dither NaN": (write_file("preprocessor_config.json", '{"dither": NaN}'), "FeatureError", "dither"),
    "tokenizer_config.json not JSON": (write_file("tokenizer_config.json", "{]"), "TokenizerError", "tokenizer_config.json"),
    "vocab.json a list": (write_file("vocab.json", '["<s>", "<pad>"]'), "TokenizerError", "JSON object"),
    "vocab.json ids not integers": (write_file("vocab.json", '{"<s>": "0"}'), "TokenizerError", "integer ids"),
    "sentencepiece model garbage": (lambda d: (d / "sentencepiece.bpe.model").write_bytes(b"\x00garbage" * 10), "TokenizerError", "SentencePiece"),
    "do_lower_case a string": (edit_json("tokenizer_config.json", do_lower_case="yes"), "TokenizerError", "do_lower_case"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(DAMAGED_MODELS))
def test_damaged_model_directories_give_typed_errors(tmp_path, case):
    change, error, match = DAMAGED_MODELS[case]
    model = damaged_copy(tmp_path, change)
    result = run_bounded(f"""
        model = minis2t.Speech2Text.from_pretrained({model!r})
        result["value"] = model.transcribe({str(GOOD)!r})
    """)
    assert_refused(result, error, match)
    assert "MiniS2TError" in result["mro"]

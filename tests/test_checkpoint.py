"""Reading and writing model directories without torch, checked against transformers."""

import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from transformers import Speech2TextForConditionalGeneration

import minis2t
from minis2t import errors
from minis2t.io.checkpoint import expected_shapes, read_torch_bin
from tests.builders import S2T_SMALL, hf_model


def hf_state(directory):
    model = Speech2TextForConditionalGeneration.from_pretrained(directory)
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("fixture", ["v5_dir", "released_dir", "multilingual_dir"])
def test_loads_what_transformers_saved(request, fixture):
    directory = request.getfixturevalue(fixture)
    config, weights = minis2t.load_checkpoint(directory)
    theirs = hf_state(directory)
    assert set(weights) == set(theirs) == set(expected_shapes(config))
    for name, array in weights.items():
        assert array.dtype == np.float32
        np.testing.assert_array_equal(array, theirs[name], err_msg=name)


def test_tied_and_untied_heads(v5_dir, multilingual_dir):
    config, weights = minis2t.load_checkpoint(v5_dir)
    assert config.tie_word_embeddings
    assert weights["lm_head.weight"] is weights["model.decoder.embed_tokens.weight"]
    config, weights = minis2t.load_checkpoint(multilingual_dir)
    assert not config.tie_word_embeddings
    assert not np.array_equal(weights["lm_head.weight"], weights["model.decoder.embed_tokens.weight"])


def test_float64(released_dir):
    _, w32 = minis2t.load_checkpoint(released_dir)
    _, w64 = minis2t.load_checkpoint(released_dir, dtype=np.float64)
    assert all(a.dtype == np.float64 for a in w64.values())
    for name in w32:
        np.testing.assert_array_equal(w64[name], w32[name].astype(np.float64))


@pytest.mark.parametrize("fixture", ["v5_dir", "multilingual_dir"])
def test_minis2t_writes_what_transformers_reads(request, fixture, tmp_path):
    config, weights = minis2t.load_checkpoint(request.getfixturevalue(fixture))
    minis2t.io.checkpoint.save_checkpoint(tmp_path, config, weights)
    theirs = hf_state(tmp_path)
    assert set(theirs) == set(weights)
    for name, array in weights.items():
        np.testing.assert_array_equal(theirs[name], array, err_msg=name)
    back_config, back = minis2t.load_checkpoint(tmp_path)
    assert back_config == config
    assert all(np.array_equal(back[k], weights[k]) for k in weights)


def test_config_files(v5_dir, released_dir):
    config = minis2t.ModelConfig.from_pretrained(v5_dir)
    raw = json.loads((v5_dir / "config.json").read_text())
    assert config.d_model == raw["d_model"] == 16
    assert config.conv_kernel_sizes == (5, 5)
    assert "transformers_version" in config.extra  # unknown keys are kept
    assert config.to_dict()["transformers_version"] == raw["transformers_version"]
    assert minis2t.ModelConfig() == minis2t.ModelConfig.from_dict(
        {k: v for k, v in __import__("transformers").Speech2TextConfig().to_dict().items()})


def test_generation_config_from_both_places(tmp_path, v5_dir):
    shutil.copy(v5_dir / "config.json", tmp_path / "config.json")
    raw = json.loads((tmp_path / "config.json").read_text())
    raw.update(num_beams=5, max_length=200, early_stopping=True)  # the released config.json
    (tmp_path / "config.json").write_text(json.dumps(raw))
    g = minis2t.GenerationConfig.from_pretrained(tmp_path)
    assert (g.num_beams, g.max_length, g.early_stopping, g.decoder_start_token_id) == (5, 200, True, 2)
    (tmp_path / "generation_config.json").write_text(json.dumps({"num_beams": 3, "foo": 1}))
    g = minis2t.GenerationConfig.from_pretrained(tmp_path)
    assert (g.num_beams, g.max_length, g.extra["foo"]) == (3, 200, 1)  # the newer file wins


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(d_model=30, encoder_attention_heads=4), "d_model"),
        (dict(decoder_attention_heads=7), "d_model"),
        (dict(conv_kernel_sizes=[5, 5, 5]), "conv_kernel_sizes"),
        (dict(conv_kernel_sizes=[4, 5]), "conv_kernel_sizes"),
        (dict(d_model=0), "d_model"),
        (dict(encoder_layers=-1), "encoder_layers"),
        (dict(conv_channels=13), "conv_channels"),
        (dict(activation_function="tanh"), "activation_function"),
        (dict(vocab_size=2), "eos_token_id"),
    ],
)
def test_impossible_configs_name_the_field(change, field):
    with pytest.raises(errors.ConfigError, match=field):
        minis2t.ModelConfig(**change)


@pytest.mark.parametrize(
    "change, field",
    [(dict(num_beams=0), "num_beams"), (dict(max_length=1), "max_length"),
     (dict(early_stopping="sometimes"), "early_stopping"), (dict(min_length=-1), "min_length"),
     (dict(no_repeat_ngram_size=-2), "no_repeat_ngram_size"), (dict(max_new_tokens=0), "max_new_tokens")],
)  # fmt: skip
def test_impossible_generation_options(change, field):
    with pytest.raises(errors.ConfigError, match=field):
        minis2t.GenerationConfig(**change)


def test_real_size_s2t_small(tmp_path_factory):
    """The released s2t-small architecture at random weights: 29.5 M parameters."""
    directory = tmp_path_factory.mktemp("small")
    model = Speech2TextForConditionalGeneration(__import__("transformers").Speech2TextConfig(**S2T_SMALL))
    torch.save(model.state_dict(), directory / "pytorch_model.bin")  # the released layout
    model.config.save_pretrained(directory)
    config, weights = minis2t.load_checkpoint(directory)
    unique = {id(a): a.size for a in weights.values()}
    assert sum(unique.values()) == 29_536_256 + 0  # tied head counted once, no positions
    assert len(weights) == 358
    state = model.state_dict()
    for name in ("model.encoder.conv.conv_layers.1.weight", "model.decoder.layers.5.fc2.weight"):
        np.testing.assert_array_equal(weights[name], state[name].numpy())


# --- damaged and hostile files -------------------------------------------------------------


def copy_dir(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_missing_tensor(released_dir, tmp_path):
    d = copy_dir(released_dir, tmp_path / "m")
    state = torch.load(d / "pytorch_model.bin", weights_only=True)
    del state["model.decoder.layers.1.fc1.bias"]
    torch.save(state, d / "pytorch_model.bin")
    with pytest.raises(errors.CheckpointError, match=r"lacks 1 tensor.*decoder.layers.1.fc1.bias"):
        minis2t.load_checkpoint(d)


def test_unexpected_and_misshaped_tensors(released_dir, tmp_path):
    d = copy_dir(released_dir, tmp_path / "m")
    state = torch.load(d / "pytorch_model.bin", weights_only=True)
    torch.save({**state, "model.encoder.extra.weight": torch.zeros(3)}, d / "pytorch_model.bin")
    with pytest.raises(errors.CheckpointError, match="model.encoder.extra.weight"):
        minis2t.load_checkpoint(d)
    state["model.encoder.layers.0.fc1.weight"] = torch.zeros(5, 16)
    torch.save(state, d / "pytorch_model.bin")
    with pytest.raises(errors.CheckpointError, match=r"layers.0.fc1.weight has shape \(5, 16\)"):
        minis2t.load_checkpoint(d)


def test_stale_position_buffers_are_dropped(released_dir, tmp_path):
    d = copy_dir(released_dir, tmp_path / "m")
    state = torch.load(d / "pytorch_model.bin", weights_only=True)
    state["model.encoder.embed_positions.weights"] = torch.zeros(302, 16)
    torch.save(state, d / "pytorch_model.bin")
    _, weights = minis2t.load_checkpoint(d)
    assert "model.encoder.embed_positions.weights" not in weights


def test_integer_weights_are_refused(released_dir, tmp_path):
    d = copy_dir(released_dir, tmp_path / "m")
    state = torch.load(d / "pytorch_model.bin", weights_only=True)
    state["model.encoder.layer_norm.bias"] = torch.zeros(16, dtype=torch.int64)
    torch.save(state, d / "pytorch_model.bin")
    with pytest.raises(errors.CheckpointError, match="layer_norm.bias has dtype int64"):
        minis2t.load_checkpoint(d)


def test_half_and_bfloat16_storages(tmp_path):
    state = {"a": torch.randn(3, 4).half(), "b": torch.randn(5).bfloat16(), "c": torch.randn(4, 3).t(),
             "d": torch.arange(10.0)[2:8:2]}  # fmt: skip
    torch.save(state, tmp_path / "x.bin")
    out = read_torch_bin(tmp_path / "x.bin")
    for k, v in state.items():
        np.testing.assert_array_equal(out[k], v.float().numpy() if k == "b" else v.numpy())
    from safetensors.torch import save_file

    save_file({"b": state["b"]}, str(tmp_path / "x.safetensors"))
    np.testing.assert_array_equal(minis2t.io.checkpoint.read_safetensors(tmp_path / "x.safetensors")["b"],
                                  state["b"].float().numpy())  # fmt: skip


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.safetensors"])
def test_truncated_and_corrupt_files(v5_dir, released_dir, tmp_path, name):
    src = released_dir if name.endswith(".bin") else v5_dir
    d = copy_dir(src, tmp_path / "t")
    data = (d / name).read_bytes()
    (d / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(errors.CheckpointError, match=name):
        minis2t.load_checkpoint(d)
    (d / name).write_bytes(b"\x00" * 64)
    with pytest.raises(errors.CheckpointError, match=name):
        minis2t.load_checkpoint(d)


def test_sharded_checkpoints(v5_dir, tmp_path):
    """Shards and their index, as transformers writes them with a small max_shard_size."""
    model = Speech2TextForConditionalGeneration.from_pretrained(v5_dir)
    model.save_pretrained(tmp_path / "st", max_shard_size="20KB")
    assert (tmp_path / "st" / "model.safetensors.index.json").is_file()
    _, weights = minis2t.load_checkpoint(tmp_path / "st")
    _, reference = minis2t.load_checkpoint(v5_dir)
    assert all(np.array_equal(weights[k], reference[k]) for k in reference)
    # the same split as torch pickles
    index = json.loads((tmp_path / "st" / "model.safetensors.index.json").read_text())
    state = model.state_dict()
    shards = {}
    for name, shard in index["weight_map"].items():
        shards.setdefault(shard.replace(".safetensors", ".bin"), {})[name] = state[name]
    (tmp_path / "bin").mkdir()
    for shard, tensors in shards.items():
        torch.save(tensors, tmp_path / "bin" / shard)
    shutil.copy(tmp_path / "st" / "config.json", tmp_path / "bin")
    (tmp_path / "bin" / "pytorch_model.bin.index.json").write_text(json.dumps(
        {"weight_map": {k: v.replace(".safetensors", ".bin") for k, v in index["weight_map"].items()}}))  # fmt: skip
    _, weights = minis2t.load_checkpoint(tmp_path / "bin")
    assert all(np.array_equal(weights[k], reference[k]) for k in reference)
    os.remove(tmp_path / "bin" / sorted(shards)[0])
    with pytest.raises(errors.CheckpointError, match="missing"):
        minis2t.load_checkpoint(tmp_path / "bin")


def test_missing_weights_and_directories(tmp_path, v5_dir):
    shutil.copy(v5_dir / "config.json", tmp_path / "config.json")
    with pytest.raises(errors.CheckpointError, match="no weights"):
        minis2t.load_checkpoint(tmp_path)
    with pytest.raises(errors.ModelNotFoundError, match="no model directory"):
        minis2t.load_checkpoint(tmp_path / "nowhere")
    with pytest.raises(errors.ModelNotFoundError, match="a file"):
        minis2t.load_checkpoint(tmp_path / "config.json")
    with pytest.raises(errors.ConfigError, match="config.json"):
        minis2t.load_checkpoint(tmp_path.parent)


def test_hub_name_offline_explains_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(errors.ModelNotFoundError, match="huggingface-cli download") as info:
        minis2t.load_checkpoint("facebook/s2t-small-librispeech-asr")
    assert "sentencepiece.bpe.model" in str(info.value)


def test_hub_name_without_huggingface_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # makes the import fail
    with pytest.raises(errors.ModelNotFoundError, match="huggingface_hub is not installed"):
        minis2t.load_checkpoint("facebook/s2t-small-librispeech-asr")

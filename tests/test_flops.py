"""The FLOP formulas of benchmarks/flops.py (shown on the performance page) against
torch's own FLOP counter, run on the twin: every matrix product and convolution the model
executes, counted by ``torch.utils.flop_counter.FlopCounterMode``.

The formulas count only products and convolutions, as the counter does; the match is
exact, so any term a formula forgets or invents fails the test.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import minis2t
import parity.model as pm
from minis2t.io.checkpoint import prepare_weights
from minis2t.train import flatten
from tests.builders import TINY, hf_model

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
import flops  # noqa: E402


def counted(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.fixture(scope="module")
def twin():
    hf = hf_model(seed=3, **{**TINY, "vocab_size": 40, "encoder_ffn_dim": 40, "decoder_ffn_dim": 56,
                             "conv_channels": 20})  # fmt: skip
    config = minis2t.ModelConfig.from_dict(hf.config.to_dict())
    weights = prepare_weights(config, {k: v.detach().numpy() for k, v in hf.state_dict().items()}, np.float32)
    return config, pm.to_torch(weights, torch.float32)


@pytest.mark.parametrize("frames", [37, 100, 251])
def test_encoder_flops_match_torchs_count(twin, frames):
    config, params = twin
    feats = torch.randn(1, frames, 80)
    assert counted(lambda: pm.encode(params, config, feats)) == flops.encoder_flops(config, frames)


@pytest.mark.parametrize("frames, steps", [(60, 4), (203, 7)])
def test_decoder_flops_match_torchs_count(twin, frames, steps):
    config, params = twin
    states = pm.encode(params, config, torch.randn(1, frames, 80))["last_hidden_state"]
    s = states.shape[1]
    assert counted(lambda: pm.init_cache(params, config, states)) == flops.cross_kv_flops(config, s)
    cache = pm.init_cache(params, config, states)
    for t in range(1, steps + 1):
        token = torch.tensor([[2 + t]])
        n = counted(lambda: pm.decode(params, config, token, cache))
        assert n == flops.decoder_step_flops(config, s, t), t
        cache = pm.decode(params, config, token, cache)["cache"]


@pytest.mark.parametrize("beams, steps", [(1, 3), (4, 5)])
def test_decoder_step_bytes_are_the_arrays_a_step_reads(twin, beams, steps):
    """The memory bound's byte count against the model's own arrays: the decoder's
    weights but the embeddings (a step gathers a few rows) and the cross-attention K/V
    projections (run once per utterance), the LM head, and the cache after ``steps``."""
    config, params = twin
    used = [w for name, w in flatten(params["model"]["decoder"]).items()
            if not name.startswith("embed_") and ".encoder_attn.k_proj." not in name
            and ".encoder_attn.v_proj." not in name]  # fmt: skip
    weights = sum(w.numel() * w.element_size() for w in used) + params["lm_head"]["weight"].numel() * 4
    states = pm.encode(params, config, torch.randn(1, 60, 80))["last_hidden_state"]
    cache = pm.init_cache(params, config, states)
    for t in range(1, steps + 1):
        cache = pm.decode(params, config, torch.full((beams, 1), 2 + t), cache)["cache"]
    kv = sum(a.numel() * a.element_size() for pair in cache.self_kv + cache.cross_kv for a in pair)
    assert flops.decoder_step_bytes(config, states.shape[1], steps, beams) == weights + kv


def test_committed_benchmark_is_one_complete_run():
    """benchmarks/results/model.{json,md} (the performance page's tables and the corpus
    page's estimate) come from one run that measured every target of issue 17: the JSON
    has each part, and the Markdown states the same verdicts and ratios the JSON gives."""
    import json

    results = Path(__file__).parent.parent / "benchmarks" / "results"
    data = json.loads((results / "model.json").read_text())
    report = (results / "model.md").read_text()
    assert set(data["encoder"]) == {"5 s", "10 s", "20 s"}
    assert set(data["generate"]) == {"5 beams", "greedy"}
    assert all({"flop_bound", "memory_bound"} <= set(g) for g in data["generate"].values())
    assert data["stream_gbps"] > 0 and data["matmul_peak_gflops"] > 0
    assert {"numpy", "transformers", "audio_seconds"} <= set(data["batch"])
    assert set(data["growth"]) == {f"{s} s" for s in (10, 30, 60, 120, 240)}
    assert set(data["profile"]) == {"encoder", "transcription"}
    assert len(data["verdicts"]) == 7
    for line in data["verdicts"]:
        assert f"* {line}" in report and ("**met**" in line or "**missed**" in line)
    ratio = data["generate"]["5 beams"]["numpy"] / data["generate"]["5 beams"]["transformers"]
    assert f"at most 0.5× transformers: **{'met' if ratio <= 0.5 else 'missed'}**, {ratio:.2f}×" in report
    assert data["machine"]["date"] in report

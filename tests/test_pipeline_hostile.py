"""Hostile input to Speech2Text's model entry points: generation options checked before
any work, numerical failures an error and not text, memory bounded."""

import numpy as np
import pytest

import minis2t
from minis2t import errors
from tests.bounded import run_bounded
from tests.builders import GOOD


def test_encoder_keeps_one_layers_attention_at_a_time():
    """Memory of the engine's encode (what Speech2Text runs) ~ one layer's attention scores
    [B, H, S, S], not one per layer: a 4-layer encoder over 2000 positions would hold
    4 x 64 MB if it kept them all. (The reference keeps every layer's weights: it returns
    them, for reading.)"""
    result = run_bounded("""
        import tracemalloc
        from minis2t.engine import model as m
        from minis2t.io.checkpoint import expected_shapes
        from minis2t.reference.model import model_params
        cfg = minis2t.ModelConfig(d_model=64, encoder_layers=4, decoder_layers=1, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, conv_channels=64, vocab_size=16)
        rng = np.random.default_rng(0)
        params = model_params({k: rng.standard_normal(s).astype(np.float32) * 0.05
                               for k, s in expected_shapes(cfg).items()}, cfg)  # fmt: skip
        feats = rng.standard_normal((1, 8000, 80)).astype(np.float32)
        tracemalloc.start()
        out = m.encode(params, cfg, feats)
        result["value"] = [tracemalloc.get_traced_memory()[1], out["last_hidden_state"].shape[1]]
    """, timeout=600)
    assert result["error"] is None, result
    peak, s = result["value"]
    scores = 4 * s * s * 4  # one layer's [1, H, S, S] float32
    assert s == 2000
    assert peak < 2 * scores, (peak, scores)  # keeping all four layers would be >= 4x


def test_nan_during_inference_is_an_error_not_text(bundled):
    """Weights can be finite and still overflow (here: a huge conv bias squared in a layer
    norm); the output is checked, and the command reports it per file."""
    model = minis2t.Speech2Text(bundled.config, {
        **bundled.weights, "model.encoder.conv.conv_layers.0.bias":
            np.full_like(bundled.weights["model.encoder.conv.conv_layers.0.bias"], 3e38)})  # fmt: skip
    model.feature_extractor, model.tokenizer = bundled.feature_extractor, bundled.tokenizer
    with pytest.raises(errors.NumericalError, match="NaN or infinite"):
        model.transcribe(str(GOOD))


@pytest.mark.parametrize("options, match", [
    ({"length_penalty": float("nan")}, "length_penalty"),
    ({"length_penalty": float("inf")}, "length_penalty"),
    ({"forced_bos_token_id": -1}, "forced_bos_token_id"),
    ({"forced_bos_token_id": 10**6}, "forced_bos_token_id"),
    ({"eos_token_id": 256}, "eos_token_id"),
    ({"pad_token_id": -2}, "pad_token_id"),
    ({"min_length": 30, "max_length": 20}, "min_length"),
    ({"min_length": 10, "max_new_tokens": 5}, "min_length"),
    ({"max_length": 10**6}, "max_target_positions"),
    ({"num_beams": 10**6}, "num_beams"),
    ({"num_beams": 2.5}, "num_beams"),
    ({"max_new_tokens": True}, "max_new_tokens"),
    ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size"),
])  # fmt: skip
def test_generation_options_are_validated_before_any_work(bundled, options, match):
    with pytest.raises(errors.ConfigError, match=match):
        bundled.transcribe(str(GOOD), **options)

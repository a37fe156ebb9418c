"""The recipe's training survives being cut off: a run stopped after step k and resumed from
its checkpoint ends with the same weights, bit for bit, as a run that was never stopped.

Bitwise equality is the right bar here (not a tolerance): the resumed run replays the same
float operations in the same order on the same machine — the optimiser's moments, the
schedule's step, the random states and the data position all come back from the file — so
any difference at all means some piece of state was not saved.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import minis2t  # noqa: E402

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "synthetic_speech"


def recipe_train():
    """recipes/synthetic_speech/train.py by its path (another `train` may be imported)."""
    spec = importlib.util.spec_from_file_location("synthetic_speech_train", RECIPE / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

TINY = dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, conv_channels=16,
            num_conv_layers=2, conv_kernel_sizes=(5, 5), input_feat_per_channel=80,
            max_source_positions=200, max_target_positions=32, dropout=0.0, vocab_size=12)  # fmt: skip


def data(seed=0, n=24):
    rng = np.random.default_rng(seed)
    feats = [rng.standard_normal((int(rng.integers(40, 90)), 80)).astype(np.float16) for _ in range(n)]
    targets = [list(rng.integers(4, 12, int(rng.integers(2, 6)))) + [2] for _ in range(n)]
    return feats, targets


def test_resumed_training_equals_uninterrupted(tmp_path):
    train = recipe_train()

    config = minis2t.ModelConfig(**TINY)
    feats, targets = data()
    # small batches so that the 8 steps cross an epoch boundary (the data position matters)
    options = dict(steps=8, seed=3, max_frames=400, warmup=2, spec_augment_from=2, log=lambda *a: None)
    whole = train.train(config, feats, targets, **options)
    ckpt = tmp_path / "state.pt"
    train.train(config, feats, targets, checkpoint=ckpt, stop_after=5, **options)
    assert ckpt.is_file()
    resumed = train.train(config, feats, targets, checkpoint=ckpt, **options)
    assert whole.keys() == resumed.keys()
    for name in whole:
        np.testing.assert_array_equal(whole[name], resumed[name], err_msg=name)
    # and the cut really happened mid-run: a run stopped at step 5 differs from the end
    ckpt.unlink()
    cut = train.train(config, feats, targets, checkpoint=ckpt, stop_after=5, **options)
    assert any(not np.array_equal(cut[n], whole[n]) for n in whole)


def test_checkpoint_of_another_run_length_is_refused(tmp_path):
    train = recipe_train()

    config = minis2t.ModelConfig(**TINY)
    feats, targets = data()
    ckpt = tmp_path / "state.pt"
    options = dict(seed=3, max_frames=400, warmup=2, log=lambda *a: None)
    train.train(config, feats, targets, steps=4, checkpoint=ckpt, stop_after=2, **options)
    with pytest.raises(AssertionError, match="4 steps"):
        train.train(config, feats, targets, steps=6, checkpoint=ckpt, **options)

"""minis2t.train against torch: the loss and every gradient against transformers' own
``loss.backward()``, clipping against ``clip_grad_norm_``, and AdamW against
``torch.optim.AdamW``.

Random configurations (the strategy of tests/test_model.py: 1-3 layers per side, 1-3 conv
layers with kernels 3-7, tied or untied heads, four activations, scaled or unscaled
embeddings, padded batches, ignored labels), float64, transformers' position tables
handed to minis2t (the float32 tables differ by an ulp, see docs/positions.md).

Bars: gradients 1e-9 relative to each tensor's scale, max(1, max |g|) — float64 rounding
through a few hundred operations is ~1e-13; a wrong term is O(1). One AdamW step: 1e-12
(a handful of float64 operations per element).
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minis2t
from minis2t import errors
from minis2t.io.checkpoint import prepare_weights
from minis2t.train import AdamW, clip_grad_norm, loss_and_grads
from tests.test_model import build, cases, hf_tables

GRAD_BAR = 1e-9


def hf_loss_and_grads(hf, features, mask, labels, smoothing=0.0):
    hf = hf.double().train()
    for module in hf.modules():  # dropout and LayerDrop off: the same function as inference
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    hf.config.layerdrop = hf.model.encoder.layerdrop = hf.model.decoder.layerdrop = 0.0
    hf.zero_grad()
    out = hf(input_features=torch.from_numpy(features).double(), attention_mask=torch.from_numpy(mask),
             labels=torch.from_numpy(labels))  # fmt: skip
    out.loss.backward()
    grads = {}
    for name, tensor in hf.state_dict(keep_vars=True).items():
        if tensor.requires_grad:
            grads[name] = tensor.grad.numpy() if tensor.grad is not None else np.zeros(tuple(tensor.shape))
    return out.loss.item(), grads


def ours(config, weights, hf):
    model = minis2t.Speech2Text(config, prepare_weights(config, weights, np.float64))
    enc_pos, dec_pos = hf_tables(hf.double())
    model.positions = {"encoder": enc_pos, "decoder": dec_pos}
    return model


@settings(max_examples=20, deadline=None)
@given(cases())
def test_loss_and_grads_equal_transformers_backward(case):
    config, features, mask, _, labels = case
    if (labels == -100).all():
        labels[0, 0] = 1
    hf, cfg, weights = build(config)
    model = ours(cfg, weights, hf)
    loss, grads = loss_and_grads(model, features.astype(np.float64), mask, labels)
    hf_loss, hf_grads = hf_loss_and_grads(hf, features, mask, labels)
    assert abs(loss - hf_loss) <= GRAD_BAR * max(1.0, abs(hf_loss))
    assert set(grads) == set(model.weights)
    for name, g in grads.items():
        assert g.shape == model.weights[name].shape, name
        theirs = hf_grads[name]
        assert np.abs(g - theirs).max() <= GRAD_BAR * max(1.0, np.abs(theirs).max()), name
    if cfg.tie_word_embeddings:
        assert grads["lm_head.weight"] is grads["model.decoder.embed_tokens.weight"]


@settings(max_examples=10, deadline=None)
@given(cases(), st.sampled_from([0.1, 0.3]))
def test_label_smoothing_matches_torch_cross_entropy(case, smoothing):
    """With smoothing, transformers' loss has none: compare with torch's cross_entropy on
    transformers' logits, differentiated by autograd."""
    config, features, mask, _, labels = case
    labels[0, 0] = 2
    hf, cfg, weights = build(config)
    model = ours(cfg, weights, hf)
    loss, grads = loss_and_grads(model, features.astype(np.float64), mask, labels, label_smoothing=smoothing)
    hf = hf.double()
    hf.zero_grad()
    out = hf(input_features=torch.from_numpy(features).double(), attention_mask=torch.from_numpy(mask),
             decoder_input_ids=torch.from_numpy(minis2t.reference.model.shift_tokens_right(labels, 1, 2)))  # fmt: skip
    theirs = torch.nn.functional.cross_entropy(out.logits.reshape(-1, cfg.vocab_size),
                                               torch.from_numpy(labels).reshape(-1), ignore_index=-100,
                                               label_smoothing=smoothing)  # fmt: skip
    theirs.backward()
    assert abs(loss - theirs.item()) <= GRAD_BAR * max(1.0, abs(theirs.item()))
    for name, tensor in hf.named_parameters():
        g = tensor.grad.numpy() if tensor.grad is not None else np.zeros(tuple(tensor.shape))
        assert np.abs(grads[name] - g).max() <= GRAD_BAR * max(1.0, np.abs(g).max()), name


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.01, 10), st.integers(1, 4))
def test_clipping_and_adamw_step_equal_torch(seed, max_norm, steps):
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((5, 3))
    weights = {"a": rng.standard_normal((4, 3)), "b": rng.standard_normal(7), "tied1": shared, "tied2": shared}
    leaves = {"a": torch.tensor(weights["a"]), "b": torch.tensor(weights["b"]), "tied": torch.tensor(shared)}
    for leaf in leaves.values():
        leaf.requires_grad_(True)
    opt = AdamW(weights, lr=3e-3, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01)
    torch_opt = torch.optim.AdamW(list(leaves.values()), lr=3e-3, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01)
    for _ in range(steps):
        g_shared = rng.standard_normal((5, 3)) * 5
        grads = {"a": rng.standard_normal((4, 3)) * 5, "b": rng.standard_normal(7) * 5,
                 "tied1": g_shared, "tied2": g_shared}  # fmt: skip
        for name, leaf in leaves.items():
            leaf.grad = torch.tensor(grads["tied1" if name == "tied" else name])
        norm = clip_grad_norm(grads, max_norm)
        torch_norm = torch.nn.utils.clip_grad_norm_(list(leaves.values()), max_norm)
        assert abs(norm - float(torch_norm)) <= 1e-12 * max(1.0, norm)
        opt.step(grads)
        torch_opt.step()
        for name, leaf in leaves.items():
            ours_w = weights["tied1" if name == "tied" else name]
            assert np.abs(ours_w - leaf.detach().numpy()).max() <= 1e-12 * max(1.0, np.abs(ours_w).max())
    assert weights["tied1"] is weights["tied2"]


@pytest.mark.parametrize("labels, message", [
    (np.array([3, 4]), "[B, L]"),
    (np.array([[3, 99]]), "outside the vocabulary"),
    (np.array([[3, -5]]), "outside the vocabulary"),
    (np.array([[-100, -100]]), "nothing to learn"),
    (np.array([[1.5, 2.0]]), "integer"),
    (np.zeros((2, 2), np.int64), "B = 1"),
])  # fmt: skip
def test_bad_labels_raise_label_error(labels, message):
    hf, cfg, weights = build(dict(vocab_size=20))
    model = minis2t.Speech2Text(cfg, prepare_weights(cfg, weights, np.float64))
    features = np.zeros((1, 20, cfg.input_feat_per_channel))
    with pytest.raises(errors.LabelError, match=message.replace("[", r"\[").replace("]", r"\]")):
        loss_and_grads(model, features, None, labels)


def test_hundred_training_steps_equal_the_twins():
    """100 float64 steps of the NumPy loop (loss, CTC, clipping, AdamW, schedule) and the
    twin's (autograd, torch's CTC, clip_grad_norm_, torch.optim.AdamW) from the same
    weights on the same padded batches: the losses agree step by step to 1e-8 relative.
    Rounding differences grow through the updates (each step's weights feed the next),
    from ~1e-15 at step 1; 1e-8 is the issue's bar."""
    import random

    from minis2t import train as nt
    from parity import train as pt

    config = dict(d_model=8, encoder_attention_heads=2, decoder_attention_heads=2, encoder_layers=2,
                  decoder_layers=1, encoder_ffn_dim=12, decoder_ffn_dim=12, num_conv_layers=2,
                  conv_kernel_sizes=[3, 3], conv_channels=8, input_feat_per_channel=8, vocab_size=12,
                  tie_word_embeddings=True, max_source_positions=64, max_target_positions=16)  # fmt: skip
    hf, cfg, weights = build(config, seed=5)
    model = ours(cfg, weights, hf)
    twin_weights = {k: v.copy() for k, v in model.weights.items()}
    twin_weights["lm_head.weight"] = twin_weights["model.decoder.embed_tokens.weight"]  # tied
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((int(t), 8)) for t in rng.integers(12, 40, 24)]
    targets = [rng.integers(4, 12, int(n)).tolist() + [2] for n in rng.integers(1, 5, 24)]

    def batches():
        r = random.Random(1)
        while True:
            for batch in nt.make_batches([f.shape[0] for f in feats], 120, r):
                x, mask, labels = nt.collate([feats[i] for i in batch], [targets[i] for i in batch], np.float64)
                yield nt.spec_augment(x, mask.sum(1).tolist(), r), mask, labels

    head = nt.init_ctc_head(cfg, np.random.default_rng(2), np.float64)
    kwargs = dict(steps=100, peak_lr=3e-3, warmup=10, ctc_weight=0.3, smoothing=0.1)
    ours_history = nt.fit(model, batches(), ctc_head={k: v.copy() for k, v in head.items()}, **kwargs)
    twin_history, _ = pt.fit(twin_weights, cfg, model.positions, batches(), ctc_head=head, **kwargs)
    for a, b in zip(ours_history, twin_history):
        for key in ("loss", "ce", "ctc"):
            assert abs(a[key] - b[key]) <= 1e-8 * max(1.0, abs(b[key])), (a["step"], key, a[key], b[key])
    assert ours_history[-1]["ce"] < 0.9 * ours_history[0]["ce"]  # and it learns (random targets: their unigram)


def test_numpy_training_from_scratch_saves_a_checkpoint_transformers_loads(tmp_path):
    """minis2t.train.train: fresh weights, a few steps, saved in the Hugging Face layout;
    transformers loads the directory and computes the same logits."""
    from transformers import Speech2TextForConditionalGeneration

    from minis2t import train as nt

    cfg = minis2t.ModelConfig(d_model=8, encoder_attention_heads=2, decoder_attention_heads=2, encoder_layers=1,
                              decoder_layers=1, encoder_ffn_dim=12, decoder_ffn_dim=12, conv_channels=8,
                              input_feat_per_channel=8, vocab_size=12, max_source_positions=64,
                              max_target_positions=16)  # fmt: skip
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((int(t), 8)).astype(np.float32) for t in rng.integers(12, 40, 8)]
    targets = [rng.integers(4, 12, 3).tolist() + [2] for _ in range(8)]
    fresh = nt.init_weights(cfg, seed=0)
    model, history = nt.train(cfg, feats, targets, steps=6, max_frames=100, warmup=2, spec_augment_from=3,
                              log=lambda *a: None, progress=False)  # fmt: skip
    assert len(history) == 6 and all(np.isfinite(h["loss"]) for h in history)
    assert any(not np.array_equal(fresh[k], model.weights[k]) for k in fresh)
    assert model.weights["lm_head.weight"] is model.weights["model.decoder.embed_tokens.weight"]
    minis2t.save_checkpoint(tmp_path, cfg, model.weights)
    hf = Speech2TextForConditionalGeneration.from_pretrained(tmp_path).eval()
    x, mask, labels = nt.collate(feats[:2], targets[:2])
    ids = minis2t.reference.model.shift_tokens_right(labels, 1, 2)
    ours_logits = model.forward(x, mask, decoder_input_ids=ids)
    with torch.no_grad():
        theirs = hf(input_features=torch.from_numpy(x), attention_mask=torch.from_numpy(mask),
                    decoder_input_ids=torch.from_numpy(ids)).logits.numpy()  # fmt: skip
    assert np.abs(ours_logits - theirs).max() <= 1e-4 * max(1.0, np.abs(theirs).max())


def test_training_log_lines_round_trip():
    """The training log's line (written by minis2t.train and the recipe's twin training)
    is read back by minis2t.train.read_log — the docs' curves and the recipe's checks use it."""
    from minis2t.train import log_line, read_log

    text = "\n".join(["[  3 s] loading", "[ 10 s] " + log_line(100, 200, 1e-3, 2.5, 3.25, 41.4),
                      log_line(200, 200, 5e-4, 1.125, float("nan"), 83)])  # fmt: skip
    rows = read_log(text)
    assert rows.shape == (2, 5)
    assert rows[0].tolist() == [100, 200, 2.5, 3.25, 41] and rows[1, :3].tolist() == [200, 200, 1.125]
    assert np.isnan(rows[1, 3]) and rows[1, 4] == 83
    assert read_log("nothing here").shape == (0, 5)

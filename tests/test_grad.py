"""Every hand-written backward of minis2t.reference.grad against torch.autograd on the twin's forward.

For a primitive ``f`` and random float64 inputs, autograd computes the vector-Jacobian
product ``dy^T J_f`` by differentiating the twin's ``f`` (parity/nn.py) — an independent
implementation differentiated by an independent engine. Bar: max |ours - autograd| <=
1e-10 x the scale max(1, max|autograd|); float64 rounding through these few operations
is ~1e-15 relative, so 1e-10 leaves a wide margin and still catches any wrong term
(a missing factor or sign is an O(1) error).
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import parity.nn as tnn
from minis2t.reference import grad, model
from minis2t.reference import nn

BAR = 1e-10
SEEDS = st.integers(0, 2**31 - 1)


def autograd(fn, *arrays, dy, extra=()):
    """Gradients of sum(dy * fn(*arrays, *extra)) with respect to each array."""
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves, *extra)
    out = out[0] if isinstance(out, tuple) else out
    (out * torch.from_numpy(dy)).sum().backward()
    return [leaf.grad.numpy() for leaf in leaves]


def assert_close(ours, theirs):
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= BAR * max(1.0, np.abs(b).max()), np.abs(a - b).max()


def rng_of(seed):
    return np.random.default_rng(seed)


@settings(max_examples=25, deadline=None)
@given(SEEDS, st.integers(1, 3), st.integers(1, 6), st.integers(1, 7), st.integers(1, 5), st.booleans())
def test_linear(seed, b, t, d_in, d_out, bias):
    r = rng_of(seed)
    x, w, bb = r.standard_normal((b, t, d_in)), r.standard_normal((d_out, d_in)), r.standard_normal(d_out)
    dy = r.standard_normal((b, t, d_out))
    dx, dw, db = grad.linear_backward(dy, x, w, has_bias=bias)
    if bias:
        assert_close([dx, dw, db], autograd(tnn.linear, x, w, bb, dy=dy))
    else:
        assert db is None
        assert_close([dx, dw], autograd(lambda x, w: tnn.linear(x, w), x, w, dy=dy))


@settings(max_examples=25, deadline=None)
@given(SEEDS, st.integers(1, 3), st.integers(1, 5), st.integers(2, 9), st.floats(0.01, 100))
def test_layer_norm(seed, b, t, d, spread):
    r = rng_of(seed)
    x = r.standard_normal((b, t, d)) * spread + r.standard_normal()
    w, bb, dy = r.standard_normal(d), r.standard_normal(d), r.standard_normal((b, t, d))
    assert_close(grad.layer_norm_backward(dy, x, w), autograd(tnn.layer_norm, x, w, bb, dy=dy))


@pytest.mark.parametrize("name", ["relu", "gelu", "gelu_new", "silu"])
@given(seed=SEEDS)
@settings(max_examples=15, deadline=None)
def test_activations(name, seed):
    r = rng_of(seed)
    x = r.standard_normal((3, 11)) * 3
    dy = r.standard_normal((3, 11))
    ours = grad.ACTIVATION_BACKWARDS[name](dy, x)
    assert_close([ours], autograd(tnn.ACTIVATIONS[name], x, dy=dy))


@settings(max_examples=25, deadline=None)
@given(SEEDS, st.integers(1, 4), st.integers(1, 6), st.sampled_from([-1, 1]))
def test_glu(seed, t, half, axis):
    r = rng_of(seed)
    x = r.standard_normal((2, t, 2 * half)) if axis == -1 else r.standard_normal((2, 2 * t, half))
    y = nn.glu(x, axis=axis)
    dy = r.standard_normal(y.shape)
    assert_close([grad.glu_backward(dy, x, axis=axis)], autograd(tnn.glu, x, dy=dy, extra=(axis,)))


@settings(max_examples=25, deadline=None)
@given(SEEDS, st.integers(1, 9), st.floats(0.1, 30))
def test_softmax(seed, n, spread):
    r = rng_of(seed)
    x = r.standard_normal((2, 3, n)) * spread
    dy = r.standard_normal((2, 3, n))
    assert_close([grad.softmax_backward(dy, nn.softmax(x))], autograd(tnn.softmax, x, dy=dy))


@settings(max_examples=25, deadline=None)
@given(SEEDS, st.integers(1, 3), st.integers(1, 5), st.integers(1, 7), st.integers(1, 5), st.booleans())
def test_attention_with_mask(seed, heads, lq, lk, dh, masked):
    r = rng_of(seed)
    q, k, v = (r.standard_normal((2, heads, n, dh)) for n in (lq, lk, lk))
    bias = None
    if masked:  # padding keys of item 2 and a causal-style pattern; every row keeps a key
        allowed = r.random((2, 1, lq, lk)) < 0.6
        allowed[..., 0] = True
        bias = nn.mask_bias(allowed, np.float64)
    out, weights = nn.attention(q, k, v, bias)
    d_out = r.standard_normal(out.shape)
    tbias = None if bias is None else torch.from_numpy(bias)
    theirs = autograd(lambda q, k, v: tnn.attention(q, k, v, tbias), q, k, v, dy=d_out)
    assert_close(grad.attention_backward(d_out, q, k, v, weights), theirs)


@settings(max_examples=15, deadline=None)
@given(SEEDS, st.integers(1, 4), st.integers(1, 6))
def test_heads(seed, heads, dh):
    r = rng_of(seed)
    x = r.standard_normal((2, 5, heads * dh))
    dy = r.standard_normal((2, heads, 5, dh))
    assert_close([grad.split_heads_backward(dy)], autograd(tnn.split_heads, x, dy=dy, extra=(heads,)))
    dm = r.standard_normal((2, 5, heads * dh))
    assert_close([grad.merge_heads_backward(dm, heads)],
                 autograd(tnn.merge_heads, nn.split_heads(x, heads), dy=dm))  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(SEEDS, st.integers(1, 2), st.integers(3, 23), st.integers(1, 4), st.integers(1, 5),
       st.sampled_from([1, 3, 5, 7]), st.integers(1, 3))  # fmt: skip
def test_conv1d(seed, b, t, c_in, c_out, k, stride):
    r = rng_of(seed)
    padding = k // 2
    x, w, bb = r.standard_normal((b, t, c_in)), r.standard_normal((c_out, c_in, k)), r.standard_normal(c_out)
    y = nn.conv1d(x, w, bb, stride=stride, padding=padding)
    dy = r.standard_normal(y.shape)
    ours = grad.conv1d_backward(dy, x, w, stride=stride, padding=padding)
    assert_close(ours, autograd(tnn.conv1d, x, w, bb, dy=dy, extra=(stride, padding)))


@settings(max_examples=15, deadline=None)
@given(SEEDS, st.integers(2, 9))
def test_embedding(seed, vocab):
    r = rng_of(seed)
    table = r.standard_normal((vocab, 4))
    ids = r.integers(0, vocab, (2, 6))  # repeated ids must accumulate
    dy = r.standard_normal((2, 6, 4))
    theirs = autograd(lambda e: e[torch.from_numpy(ids)], table, dy=dy)
    assert_close([grad.embedding_backward(dy, ids, vocab)], theirs)


@settings(max_examples=25, deadline=None)
@given(SEEDS, st.integers(1, 3), st.integers(1, 6), st.integers(2, 11), st.sampled_from([0.0, 0.1, 0.3]))
def test_cross_entropy_with_smoothing_and_ignored_labels(seed, b, length, vocab, smoothing):
    r = rng_of(seed)
    logits = r.standard_normal((b, length, vocab)) * 3
    labels = r.integers(0, vocab, (b, length))
    labels[r.random((b, length)) < 0.3] = -100
    labels[0, 0] = r.integers(0, vocab)  # at least one kept label
    loss = model.cross_entropy(logits, labels, label_smoothing=smoothing)
    d_logits = grad.cross_entropy_backward(logits, labels, label_smoothing=smoothing)
    leaf = torch.tensor(logits, requires_grad=True)
    theirs = F.cross_entropy(leaf.reshape(-1, vocab), torch.from_numpy(labels).reshape(-1),
                             ignore_index=-100, label_smoothing=smoothing)  # fmt: skip
    theirs.backward()
    assert abs(loss - theirs.item()) <= BAR * max(1.0, abs(theirs.item()))
    assert_close([d_logits], [leaf.grad.numpy()])


@settings(max_examples=30, deadline=None)
@given(SEEDS, st.integers(1, 3), st.integers(1, 12), st.integers(2, 7))
def test_ctc_against_torch(seed, batch, t_max, classes):
    """Loss and gradient of CTC on log_softmax(logits), against F.ctc_loss: the gradient
    is compared with respect to the logits, where both conventions agree (torch's own
    gradient with respect to log_probs assumes they come from a log-softmax)."""
    r = rng_of(seed)
    logits = r.standard_normal((batch, t_max, classes)) * 2
    lengths = r.integers(1, t_max + 1, batch)
    targets = []
    for t in lengths:  # feasible targets: room for a blank between repeated labels
        u = int(r.integers(0, (t + 1) // 2 + 1))
        targets.append(r.integers(1, classes, u).tolist())
    log_probs = nn.log_softmax(logits)
    losses, d_lp = grad.ctc_loss(log_probs, targets, lengths)
    # through the log-softmax: dx = g - softmax(x) sum(g)
    d_logits = d_lp - np.exp(log_probs) * d_lp.sum(axis=-1, keepdims=True)
    leaf = torch.tensor(logits, requires_grad=True)
    flat = torch.tensor([x for t in targets for x in t], dtype=torch.long)
    theirs = F.ctc_loss(F.log_softmax(leaf, dim=-1).transpose(0, 1), flat, torch.from_numpy(lengths),
                        torch.tensor([len(t) for t in targets]), blank=0, reduction="none")  # fmt: skip
    finite = torch.isfinite(theirs)
    np.testing.assert_array_equal(np.isfinite(losses), finite.numpy())
    assert np.abs(losses[finite.numpy()] - theirs[finite].detach().numpy()).max(initial=0) <= BAR * max(
        1.0, float(theirs[finite].detach().abs().max()) if finite.any() else 1.0)  # fmt: skip
    theirs[finite].sum().backward()
    assert_close([d_logits], [leaf.grad.numpy()])


def test_ctc_infeasible_target_is_infinite_with_zero_gradient():
    """Three labels in two frames, or a repeat with no frame for the blank between."""
    log_probs = nn.log_softmax(np.random.default_rng(0).standard_normal((2, 2, 4)))
    losses, d_lp = grad.ctc_loss(log_probs, [[1, 2, 3], [2, 2]], [2, 2])
    theirs = F.ctc_loss(torch.from_numpy(log_probs).transpose(0, 1), torch.tensor([1, 2, 3, 2, 2]),
                        torch.tensor([2, 2]), torch.tensor([3, 2]), reduction="none")  # fmt: skip
    assert np.isinf(losses).all() and torch.isinf(theirs).all()
    assert not d_lp.any()

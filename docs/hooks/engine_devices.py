"""The performance page's table: each engine device against the reference function it
replaces, timed when the site is built, on the machine that builds it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from minis2t.engine import features as ef
from minis2t.engine import model as em
from minis2t.engine import nn as enn
from minis2t.reference import features as rf
from minis2t.reference import model as rm
from minis2t.reference import nn as rn

ROOT = Path(__file__).resolve().parents[2]


def _cases():
    """``(device, reference name, engine name, reference call, engine call)`` at the sizes
    where each device was meant to help (s2t-small: D 256, 4 heads, 10 000 words)."""
    rng = np.random.default_rng(0)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    wave = (f32(160_000) * 0.1).astype(np.float32)  # 10 s
    x_step, w_head = f32(5, 1, 256), f32(10_000, 256)  # 5 beams' rows, the LM head
    w_f = enn.matmul_layout(w_head)
    x_enc, w_ffn = f32(1, 500, 256), f32(2048, 256)
    big = f32(1, 4, 1500, 1500)  # 60 s of encoder self-attention scores
    ln_x, ln_w, ln_b = f32(32, 375, 256), f32(256), f32(256)
    q, k, v = f32(8, 4, 375, 64), f32(8, 4, 375, 64), f32(8, 4, 375, 64)
    mask = (np.arange(375)[None, :] < rng.integers(100, 376, 8)[:, None])
    bias = rm.key_padding_bias(mask, np.float32)
    beams_q, keys, values = f32(5, 4, 1, 64), f32(1, 4, 500, 64), f32(1, 4, 500, 64)
    keys_fast = enn.keys_layout(keys)
    return [
        ("fbank in blocks of 256 frames", "reference.features.fbank", "engine.features.fbank",
         lambda: rf.fbank(wave), lambda: ef.fbank(wave)),
        ("one 2-D product, column-major weights (LM head, 5 beams)", "reference.nn.linear", "engine.nn.linear",
         lambda: rn.linear(x_step, w_head), lambda: enn.linear(x_step, w_f)),
        ("one 2-D product (encoder FFN, 500 frames)", "reference.nn.linear", "engine.nn.linear",
         lambda: rn.linear(x_enc, w_ffn), lambda: enn.linear(x_enc, enn.matmul_layout(w_ffn))),
        ("softmax on row blocks, in place (60 s of scores)", "reference.nn.softmax", "engine.nn.softmax",
         lambda: rn.softmax(big), lambda: enn.softmax(big.copy(), overwrite=True)),
        ("layer norm on row blocks (32 x 15 s)", "reference.nn.layer_norm", "engine.nn.layer_norm",
         lambda: rn.layer_norm(ln_x, ln_w, ln_b), lambda: enn.layer_norm(ln_x, ln_w, ln_b)),
        ("attention item by item, padding left out (8 x 15 s)", "reference.nn.attention", "engine.nn.attention",
         lambda: rn.attention(q, k, v, bias), lambda: enn.attention(q, k, v, bias, need_weights=False)),
        ("5 beams' queries against 10 s of keys stored transposed", "reference.nn.attention",
         "engine.nn.keys_layout", lambda: rn.attention(em.group_beams(beams_q, 5), keys, values),
         lambda: enn.attention(em.group_beams(beams_q, 5), keys_fast, values)),
    ]  # fmt: skip


def devices() -> str:
    """A Markdown table: device, reference and engine time (best of 5), the ratio."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.common import best_time, machine

    cpu = machine().get("cpu", ", an unnamed CPU").lstrip(", ")

    rows = ["| device | reference | engine | reference time | engine time | speed-up |",
            "| --- | --- | --- | ---: | ---: | ---: |"]  # fmt: skip
    for device, ref_name, fast_name, ref, fast in _cases():
        a, b = best_time(ref, repeats=5), best_time(fast, repeats=5)
        rows.append(f"| {device} | `{ref_name}` | `{fast_name}` | {a * 1e3:.3g} ms | {b * 1e3:.3g} ms | {a / b:.2f}× |")
    return (f"Measured when this site was built, on {cpu} (best of 5 calls each, float32):\n\n"
            + "\n".join(rows) + "\n")

"""The fused graphs: the graphs of :mod:`minis2t.app.onnx_build` with onnxruntime's
fused operators, and a decoder that writes its self-attention cache in place.

Same math as the plain graphs, fewer and larger kernels (``com.microsoft`` contrib
operators of onnxruntime's CPU provider):

* **Attention** (encoder): the three projections as one ``[D, 3D]`` product, the heads'
  scaled dot products, the key-padding mask and the softmax in one operator;
* **SkipLayerNormalization**: a residual addition, a projection's bias and the next
  layer norm in one pass (pre-LN blocks: each residual sum is followed by a layer norm,
  of the next block or the last one), giving both the sum and its normalised value;
* **BiasGelu** / **FastGelu** (``gelu`` / ``gelu_new`` models): the feed-forward bias
  and activation in one pass (``relu`` models: Add and Relu);
* **GroupQueryAttention** (decoder self-attention, as many key heads as query heads): the
  decoder step's packed ``[D, 3D]`` projection goes in, the new keys and values are
  written **into the cache buffers at their position** — past and present are the same
  memory, bound with onnxruntime's I/O binding — and the causal attention over the
  ``P + 1`` cached positions comes out. The plain graph instead concatenates the past
  and the new position into a new array every step (``P`` positions copied per layer).
* the **cross-attention** reads each utterance's keys and values once for all its beams:
  the ``N = B * K`` rows' queries are regrouped per utterance, ``[B, H, K * L, Dh]``,
  and multiplied with the ``[B, H, S, Dh]`` keys (the NumPy engine's grouped product);
  the plain graph takes the keys repeated per beam.

The fused decoder's interface (``M`` the cache buffers' capacity, ``P`` the tokens
already in them)::

    in:  input_ids int64 [N, L], encoder_mask int64 [B, S], past_length int64 [1],
         past_key.i, past_value.i float [N, H, M, W]   (the buffers, read up to P)
         cross_key.i, cross_value.i float [B, H, S, Dh]
    out: logits float [N, L, V], present_key.i, present_value.i [N, H, M, W] (the same
         buffers, positions P .. P + L - 1 written), cross_attention.i float [N, H, L, S]

``W`` is ``Dh`` rounded up to a multiple of 8 (GroupQueryAttention's CPU kernel wants
one; s2t-small's 64 and the bundled models' 32 need no padding).

:class:`minis2t.engine.onnx_fused_runtime.FusedRuntime` runs them; ``W`` is
:func:`minis2t.engine.onnx_format.cache_head_dim`.
"""

from __future__ import annotations

import numpy as np

from ..engine.onnx_format import cache_head_dim
from ..engine.onnx_fused_runtime import BufferCache, FusedRuntime  # noqa: F401  (what runs these graphs)
from ..reference.model import position_table
from . import onnx_build as b
from .onnx_build import FLOAT_MIN, Graph

MS = "com.microsoft"


def _packed_qkv(attn: dict):
    """q, k, v projections as one ``[D, 3D]`` weight (transposed) and ``[3D]`` bias."""
    w = np.concatenate([attn[n]["weight"] for n in ("q_proj", "k_proj", "v_proj")], axis=0)  # [3D, D]
    bias = np.concatenate([attn[n]["bias"] for n in ("q_proj", "k_proj", "v_proj")])
    return np.ascontiguousarray(w.T), bias


def _packed_qkv_padded(attn: dict, n_head: int, width: int):
    """The packed ``[D, 3 H W]`` weight and ``[3 H W]`` bias with each head padded to ``W`` columns."""
    w, bias = _packed_qkv(attn)  # [D, 3 H Dh], [3 H Dh]
    d = w.shape[0]
    dh = d // n_head
    w = np.pad(w.reshape(d, 3, n_head, dh), ((0, 0), (0, 0), (0, 0), (0, width - dh))).reshape(d, -1)
    bias = np.pad(bias.reshape(3, n_head, dh), ((0, 0), (0, 0), (0, width - dh))).reshape(-1)
    return np.ascontiguousarray(w), bias


def _out_proj_padded(attn: dict, n_head: int, width: int) -> np.ndarray:
    """The output projection, transposed ``[H W, D]``, zero rows where the heads were padded."""
    wt = attn["out_proj"]["weight"].T  # [H Dh, D]
    dh = wt.shape[0] // n_head
    return np.ascontiguousarray(np.pad(wt.reshape(n_head, dh, -1), ((0, 0), (0, width - dh), (0, 0))).reshape(n_head * width, -1))


def skip_layer_norm(g: Graph, x: str, residual: str, norm: dict, bias) -> tuple[str, str]:
    """``s = residual + x + bias``; returns ``(layer_norm(s), s)``."""
    normed, _, _, total = g.op("SkipLayerNormalization", x, residual, g.const(norm["weight"]),
                               g.const(norm["bias"]), g.const(bias), outputs=4, domain=MS,
                               epsilon=b.LAYER_NORM_EPS)  # fmt: skip
    return normed, total


def bias_activation(g: Graph, x: str, bias, name: str) -> str:
    """The feed-forward's first bias and activation, fused where onnxruntime has the operator."""
    if name in ("gelu", "gelu_python"):
        return g.op("BiasGelu", x, g.const(bias), domain=MS)
    if name == "gelu_new":
        return g.op("FastGelu", x, g.const(bias), domain=MS)
    return b.ACTIVATIONS[name](g, g.op("Add", x, g.const(bias)))


def feed_forward(g: Graph, h: str, layer: dict, activation: str) -> str:
    """The feed-forward block without its residual and last bias (SkipLayerNormalization adds both)."""
    inner = bias_activation(g, g.op("MatMul", h, g.const(np.ascontiguousarray(layer["fc1"]["weight"].T))),
                            layer["fc1"]["bias"], activation)  # [., E]  # fmt: skip
    return g.op("MatMul", inner, g.const(np.ascontiguousarray(layer["fc2"]["weight"].T)))  # [., D]


def _next_norms(layers: list, norm_key: str, final: dict) -> list:
    """The layer norm that follows each layer's last residual: the next layer's first, or ``final``."""
    return [layer[norm_key] for layer in layers[1:]] + [final]


# --- encoder ---------------------------------------------------------------------------------


def encode(g: Graph, params: dict, config, features: str, attention_mask: str) -> dict:
    enc, d = params["model"]["encoder"], config.d_model
    x = b.conv_subsampler(g, features, enc["conv"]["conv_layers"], config.conv_kernel_sizes)[-1]  # [B, S, D]
    if config.scale_embedding:
        x = g.op("Mul", x, g.const(np.float32(np.sqrt(d))))
    mask = b.frame_mask(g, attention_mask, x, config.num_conv_layers)  # [B, S]
    table = position_table(config.max_source_positions, d, config.pad_token_id, np.float32)
    x = g.op("Add", x, g.op("Gather", g.const(table, "encoder_positions"),
                            b.encoder_position_ids(g, mask, config.pad_token_id)))  # fmt: skip
    mask32 = g.op("Cast", mask, to=6)  # Attention's mask_index: int32 [B, S], 1 = attend
    layers = enc["layers"]
    h = b.layer_norm(g, x, **layers[0]["self_attn_layer_norm"])
    for layer, after in zip(layers, _next_norms(layers, "self_attn_layer_norm", enc["layer_norm"])):
        w, bias = _packed_qkv(layer["self_attn"])
        a = g.op("Attention", h, g.const(w), g.const(bias), mask32, domain=MS,
                 num_heads=config.encoder_attention_heads, mask_filter_value=FLOAT_MIN)  # [B, S, D]
        proj = g.op("MatMul", a, g.const(np.ascontiguousarray(layer["self_attn"]["out_proj"]["weight"].T)))
        h, x = skip_layer_norm(g, proj, x, layer["final_layer_norm"], layer["self_attn"]["out_proj"]["bias"])
        h, x = skip_layer_norm(g, feed_forward(g, h, layer, config.activation_function), x, after,
                               layer["fc2"]["bias"])  # fmt: skip
    return {"last_hidden_state": h, "mask": mask}


# --- decoder ---------------------------------------------------------------------------------


def grouped_cross_attention(g: Graph, h: str, layer: dict, n_head: int, d_model: int, kv, bias, shape: dict):
    """Cross-attention of ``N = B * K`` rows to ``B`` utterances' keys: queries regrouped
    ``[N, L, D] -> [B, H, K * L, Dh]``; returns ``(out [N, L, D], weights [N, H, L, S])``."""
    p, dh = layer["encoder_attn"], d_model // n_head
    q = b.linear(g, h, **p["q_proj"])  # [N, L, D]
    q = g.op("Reshape", q, g.op("Concat", shape["B"], g.ints([-1, n_head, dh]), axis=0))  # [B, K*L, H, Dh]
    q = g.op("Transpose", q, perm=[0, 2, 1, 3])  # [B, H, K*L, Dh]
    out, weights = b.attention(g, q, kv[0], kv[1], bias, dh)  # [B, H, K*L, Dh], [B, H, K*L, S]
    out = g.op("Transpose", out, perm=[0, 2, 1, 3])  # [B, K*L, H, Dh]
    out = g.op("Reshape", out, g.op("Concat", g.ints([-1]), shape["L"], g.ints([d_model]), axis=0))  # [N, L, D]
    w = g.op("Reshape", weights, g.op("Concat", g.ints([0, n_head, -1]), shape["L"], shape["S"], axis=0))
    w = g.op("Transpose", w, perm=[0, 2, 1, 3, 4])  # [B, K, H, L, S]
    w = g.op("Reshape", w, g.op("Concat", g.ints([-1, n_head]), shape["L"], shape["S"], axis=0))  # [N, H, L, S]
    proj = g.op("MatMul", out, g.const(np.ascontiguousarray(p["out_proj"]["weight"].T)))
    return proj, w


def decode(g: Graph, params: dict, config, input_ids: str, past_length: str, buffers: list, cross_kv: list,
           encoder_mask: str) -> dict:  # fmt: skip
    dec, d, n_head = params["model"]["decoder"], config.d_model, config.decoder_attention_heads
    width = cache_head_dim(config)
    past = g.op("Squeeze", past_length, g.ints([0]))  # P, a scalar
    length = g.op("Gather", g.op("Shape", input_ids), g.ints(1))  # L
    rows = g.op("Gather", g.op("Shape", input_ids), g.ints([0]))  # [N]
    shape = {"L": g.op("Unsqueeze", length, g.ints([0])),
             "B": g.op("Slice", g.op("Shape", cross_kv[0][0]), g.ints([0]), g.ints([1])),
             "S": g.op("Slice", g.op("Shape", cross_kv[0][0]), g.ints([2]), g.ints([3]))}  # fmt: skip
    total = g.op("Add", past_length, shape["L"])  # [1]: P + L
    seqlens = g.op("Expand", g.op("Cast", g.op("Sub", total, g.ints([1])), to=6), rows)  # [N] int32
    total32 = g.op("Cast", total, to=6)
    x = b.embed_tokens(g, params, config, input_ids, past)  # [N, L, D]
    cross_bias = b.key_padding_bias(g, encoder_mask)  # [B, 1, 1, S]
    layers = dec["layers"]
    h = b.layer_norm(g, x, **layers[0]["self_attn_layer_norm"])
    present, weights = [], []
    for layer, (k_buf, v_buf), kv, after in zip(layers, buffers, cross_kv,
                                                _next_norms(layers, "self_attn_layer_norm", dec["layer_norm"])):  # fmt: skip
        w, bias = _packed_qkv_padded(layer["self_attn"], n_head, width)
        qkv = g.op("Add", g.op("MatMul", h, g.const(w)), g.const(bias))  # [N, L, 3 H W]
        a, k_out, v_out = g.op("GroupQueryAttention", qkv, "", "", k_buf, v_buf, seqlens, total32,
                               outputs=3, domain=MS, num_heads=n_head, kv_num_heads=n_head,
                               scale=(d // n_head) ** -0.5)  # [N, L, H W]  # fmt: skip
        present.append((k_out, v_out))
        proj = g.op("MatMul", a, g.const(_out_proj_padded(layer["self_attn"], n_head, width)))  # [N, L, D]
        h, x = skip_layer_norm(g, proj, x, layer["encoder_attn_layer_norm"], layer["self_attn"]["out_proj"]["bias"])
        proj, cw = grouped_cross_attention(g, h, layer, n_head, d, kv, cross_bias, shape)
        weights.append(cw)
        h, x = skip_layer_norm(g, proj, x, layer["final_layer_norm"], layer["encoder_attn"]["out_proj"]["bias"])
        h, x = skip_layer_norm(g, feed_forward(g, h, layer, config.activation_function), x, after,
                               layer["fc2"]["bias"])  # fmt: skip
    return {"logits": b.lm_head(g, params, h), "present": present, "cross_attentions": weights}


def encoder_graph(params: dict, config, opset: int = b.OPSET) -> Graph:
    g = Graph("encoder", opset)
    f = config.input_feat_per_channel * config.input_channels
    out = encode(g, params, config, g.input("input_features", "float", ["batch", "feature_frames", f]),
                 g.input("attention_mask", "int64", ["batch", "feature_frames"]))  # fmt: skip
    g.output(out["last_hidden_state"], "last_hidden_state", "float", ["batch", "frames", config.d_model])
    g.output(out["mask"], "encoder_mask", "int64", ["batch", "frames"])
    return g


def decoder_graph(params: dict, config, opset: int = b.OPSET) -> Graph:
    cross_names, past_names, present_names, attention_names = b.graph_names()
    layers, h = config.decoder_layers, config.decoder_attention_heads
    dh, width = config.d_model // h, cache_head_dim(config)
    g = Graph("decoder", opset)
    ids = g.input("input_ids", "int64", ["rows", "tokens"])
    mask = g.input("encoder_mask", "int64", ["batch", "frames"])
    past_length = g.input("past_length", "int64", [1])
    buffers = [g.input(n, "float", ["rows", h, "capacity", width]) for n in past_names(layers)]
    cross = [g.input(n, "float", ["batch", h, "frames", dh]) for n in cross_names(layers)]
    out = decode(g, params, config, ids, past_length, b.key_value_pairs(buffers), b.key_value_pairs(cross), mask)
    g.output(out["logits"], "logits", "float", ["rows", "tokens", config.vocab_size])
    for (k, v), (kn, vn) in zip(out["present"], b.key_value_pairs(present_names(layers))):
        g.output(k, kn, "float", ["rows", h, "capacity", width])
        g.output(v, vn, "float", ["rows", h, "capacity", width])
    for w, name in zip(out["cross_attentions"], attention_names(layers)):
        g.output(w, name, "float", ["rows", h, "tokens", "frames"])
    return g


BUILDERS = {"encoder": encoder_graph, "cross_kv": b.cross_kv_graph, "decoder": decoder_graph}


def build(params: dict, config, opset: int = b.OPSET) -> dict:
    """``{role: onnx.ModelProto}`` of the fused graphs, checked by ``onnx.checker`` (the
    contrib operators are onnxruntime's: onnx checks the graph's structure, onnxruntime
    their types when it loads them)."""
    import onnx

    params = b.as_float32(params)
    graphs = {}
    for role, builder in BUILDERS.items():
        model = builder(params, config, opset).model(b.metadata(role, config, opset, variant="fused"))
        onnx.checker.check_model(model)
        graphs[role] = model
    return graphs


# --- int8 --------------------------------------------------------------------------------------

INT8_OPS = ("MatMul", "Attention")  # every product with a weight; the conv subsampler stays float


def quantize_int8(graphs: dict, op_types=INT8_OPS) -> dict:
    """Dynamic int8 of the graphs' weight products (onnxruntime's ``quantize_dynamic``):
    each weight matrix stored as int8 with one scale per matrix (per output column for
    MatMul), each activation quantised to uint8 at run time from its own range, the
    products in integers (VNNI where the CPU has it) and rescaled to float32. Layer norms,
    softmax, the cache and the convolutions stay float32 (``op_types``: what is
    quantised; a Conv quantised dynamically measured slower than float here, see
    docs/onnx.md)."""
    import logging
    import tempfile
    from pathlib import Path

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = {}
    logging.disable(logging.WARNING)  # the quantiser's advice to pre-process (shape inference): these graphs need none
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for role, model in graphs.items():
                path = Path(tmp) / f"{role}.onnx"
                quantize_dynamic(model, path, op_types_to_quantize=list(op_types), weight_type=QuantType.QInt8,
                                 per_channel=True, extra_options={"MatMulConstBOnly": True,  # fmt: skip
                                                                    "DefaultTensorType": onnx.TensorProto.FLOAT})
                quantised = onnx.load(str(path))
                del quantised.metadata_props[:]
                quantised.metadata_props.extend(model.metadata_props)
                for entry in quantised.metadata_props:
                    if entry.key == "minis2t.builder":
                        entry.value += "+int8"
                out[role] = quantised
    finally:
        logging.disable(logging.NOTSET)
    return out

"""ONNX graphs written from the reference, with the ``onnx`` package alone: no torch, no
transformers.

Each function here is the ONNX translation of its namesake in :mod:`minis2t.reference.nn`
or :mod:`minis2t.reference.model` — same name, same arguments, same order of operations —
so the graphs read as a third translation of the math, beside the NumPy reference and the
PyTorch twin in ``parity/``. A builder takes a :class:`Graph` (the node list being written)
and the *names* of its input values, adds nodes, and returns the names of its outputs.
The weights become initialisers, taken from the nested parameter tree the reference
reads (``params["model"]["encoder"]["layers"][3]["fc1"]["weight"]``).

:func:`build` returns the three graphs that :mod:`minis2t.app.onnx_runtime` runs, with
the inputs, outputs and metadata of the traced export (``minis2t export-onnx``'s former
and oracle path): a directory written from either is run the same way. The graphs are
float32 and take the same shapes as the traced ones::

    encoder    input_features [B, T, F], attention_mask [B, T] -> last_hidden_state [B, S, D],
               encoder_mask [B, S]
    cross_kv   encoder_states [B, S, D] -> cross_key.i, cross_value.i [B, H, S, Dh]
    decoder    input_ids [N, L], encoder_mask [N, S], past_key.i, past_value.i [N, H, P, Dh],
               cross_key.i, cross_value.i [N, H, S, Dh] -> logits [N, L, V],
               present_key.i, present_value.i [N, H, P + L, Dh], cross_attention.i [N, H, L, S]

Where the reference skips work that changes nothing (no key bias when nothing is padded),
the graph does it anyway (adding a zero bias leaves every score as it is): a graph has one
shape of computation for every input.

``onnx`` is imported inside the functions that need it: importing this module imports
neither onnx nor onnxruntime.
"""

from __future__ import annotations

import math

import numpy as np

from ..reference.model import position_table
from ..reference.nn import LAYER_NORM_EPS

FLOAT_MIN = float(np.finfo(np.float32).min)  # the reference's mask_bias value in float32
OPSET = 18  # the default; any from 17 (LayerNormalization) on


class Graph:
    """A graph being written: nodes, initialisers, inputs and outputs, and fresh names."""

    def __init__(self, name: str, opset: int = OPSET):
        self.name, self.nodes, self.initializers, self.inputs, self.outputs = name, [], [], [], []
        self.domains = {"": opset}
        self._count = 0
        self._consts: dict = {}

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array, name: str | None = None) -> str:
        """An initialiser; small constants of equal value and dtype are shared."""
        from onnx import numpy_helper

        array = np.asarray(array)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 16 else None
        if key is not None and key in self._consts:
            return self._consts[key]
        name = name or self.fresh("const")
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))  # 0-d stays 0-d
        if key is not None:
            self._consts[key] = name
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(values, np.int64))

    def op(self, op_type: str, *inputs: str, outputs: int = 1, domain: str = "", **attrs):
        """One node; returns its output name (or a list of ``outputs`` names)."""
        from onnx import helper

        names = [self.fresh(op_type) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, domain=domain or None, **attrs))
        if domain:
            self.domains[domain] = 1
        return names[0] if outputs == 1 else names

    def input(self, name: str, elem: str, shape: list) -> str:
        self.inputs.append((name, elem, shape))
        return name

    def output(self, value: str, name: str, elem: str, shape: list) -> None:
        """Expose ``value`` as the graph output ``name`` (renamed through an Identity)."""
        from onnx import helper

        self.nodes.append(helper.make_node("Identity", [value], [name]))
        self.outputs.append((name, elem, shape))

    def model(self, metadata: dict):
        from onnx import TensorProto, helper

        elems = {"float": TensorProto.FLOAT, "int64": TensorProto.INT64, "int32": TensorProto.INT32}
        info = lambda n, e, s: helper.make_tensor_value_info(n, elems[e], s)  # noqa: E731
        graph = helper.make_graph(self.nodes, self.name, [info(*x) for x in self.inputs],
                                  [info(*x) for x in self.outputs], self.initializers)  # fmt: skip
        opsets = [helper.make_opsetid(d, v) for d, v in self.domains.items()]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="minis2t")
        model.ir_version = helper.find_min_ir_version_for(opsets, ignore_unknown=True)  # the oldest that holds it
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
        return model


# --- primitives (reference/nn.py) ------------------------------------------------------------


def linear(g: Graph, x: str, weight, bias=None) -> str:
    """``y = x W^T + b``: ``[..., in] -> [..., out]`` (W stored transposed, ``[in, out]``)."""
    y = g.op("MatMul", x, g.const(np.ascontiguousarray(weight.T)))  # [..., in] @ [in, out]
    return y if bias is None else g.op("Add", y, g.const(bias))


def layer_norm(g: Graph, x: str, weight, bias, eps: float = LAYER_NORM_EPS) -> str:
    """``[..., D] -> [..., D]``: ONNX's LayerNormalization over the last axis (biased variance)."""
    return g.op("LayerNormalization", x, g.const(weight), g.const(bias), axis=-1, epsilon=eps)


def relu(g: Graph, x: str) -> str:
    return g.op("Relu", x)


def gelu(g: Graph, x: str) -> str:
    """``x Phi(x)``, the normal CDF through Erf (onnxruntime fuses the five nodes into Gelu)."""
    erf = g.op("Erf", g.op("Div", x, g.const(np.float32(math.sqrt(2.0)))))
    return g.op("Mul", x, g.op("Mul", g.const(np.float32(0.5)), g.op("Add", g.const(np.float32(1.0)), erf)))


def gelu_tanh(g: Graph, x: str) -> str:
    """``0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))``."""
    cube = g.op("Mul", g.const(np.float32(0.044715)), g.op("Mul", x, g.op("Mul", x, x)))
    inner = g.op("Mul", g.const(np.float32(math.sqrt(2.0 / math.pi))), g.op("Add", x, cube))
    half_x = g.op("Mul", g.const(np.float32(0.5)), x)
    return g.op("Mul", half_x, g.op("Add", g.const(np.float32(1.0)), g.op("Tanh", inner)))


def silu(g: Graph, x: str) -> str:
    return g.op("Mul", x, g.op("Sigmoid", x))


ACTIVATIONS = {"relu": relu, "gelu": gelu, "gelu_python": gelu, "gelu_new": gelu_tanh,
               "silu": silu, "swish": silu}  # fmt: skip


def glu(g: Graph, x: str, channels: int, axis: int = -1) -> str:
    """The first half of ``axis`` times the sigmoid of the second: ``[..., 2C] -> [..., C]``
    (``channels`` = 2C, the size of ``axis``)."""
    a, b = g.op("Split", x, g.ints([channels // 2, channels // 2]), outputs=2, axis=axis)
    return g.op("Mul", a, g.op("Sigmoid", b))


def conv1d(g: Graph, x: str, weight, bias, stride: int = 1, padding: int = 0) -> str:
    """Convolution over time, channels last like the reference: ``[B, T, C_in] -> [B, T',
    C_out]``. ONNX's Conv is channels first, hence a transpose on each side (onnxruntime
    cancels the pairs that meet between two convolutions)."""
    k = weight.shape[-1]
    y = g.op("Transpose", x, perm=[0, 2, 1])  # [B, C_in, T]
    y = g.op("Conv", y, g.const(weight), g.const(bias), strides=[stride], pads=[padding, padding],
             kernel_shape=[k])  # [B, C_out, T']  # fmt: skip
    return g.op("Transpose", y, perm=[0, 2, 1])  # [B, T', C_out]


def softmax(g: Graph, x: str, axis: int = -1) -> str:
    return g.op("Softmax", x, axis=axis)


def mask_bias(g: Graph, mask: str) -> str:
    """0/1 "may attend" mask -> additive bias: 0 where allowed, float32's most negative
    finite value where not (a fully masked row gives a uniform softmax, not NaN)."""
    allowed = g.op("Cast", mask, to=9)  # bool
    return g.op("Where", allowed, g.const(np.float32(0.0)), g.const(np.float32(FLOAT_MIN)))


def split_heads(g: Graph, x: str, n_head: int, head_dim: int) -> str:
    """``[B, L, D] -> [B, H, L, Dh]``."""
    y = g.op("Reshape", x, g.ints([0, 0, n_head, head_dim]))  # [B, L, H, Dh]
    return g.op("Transpose", y, perm=[0, 2, 1, 3])  # [B, H, L, Dh]


def merge_heads(g: Graph, x: str, d_model: int) -> str:
    """``[B, H, L, Dh] -> [B, L, D]``."""
    y = g.op("Transpose", x, perm=[0, 2, 1, 3])  # [B, L, H, Dh]
    return g.op("Reshape", y, g.ints([0, 0, d_model]))  # [B, L, D]


def attention(g: Graph, q: str, k: str, v: str, bias: str | None, head_dim: int):
    """``softmax(q k^T / sqrt(Dh) + bias) v``, q scaled first as in the reference.
    ``q [B, H, Lq, Dh]``, ``k, v [B, H, Lk, Dh]`` -> ``(out [B, H, Lq, Dh], weights [B, H, Lq, Lk])``."""
    scaled = g.op("Mul", q, g.const(np.float32(head_dim**-0.5)))
    scores = g.op("MatMul", scaled, g.op("Transpose", k, perm=[0, 1, 3, 2]))  # [B, H, Lq, Lk]
    if bias is not None:
        scores = g.op("Add", scores, bias)
    weights = softmax(g, scores)  # [B, H, Lq, Lk]
    return g.op("MatMul", weights, v), weights  # [B, H, Lq, Dh]


# --- masks and positions (reference/model.py) --------------------------------------------------


def position_ids(g: Graph, real: str, padding_idx: int, past_length: str | None = None) -> str:
    """``(cumsum(real) + past) * real + padding_idx``, ``real [B, L]`` int64 0/1."""
    counted = g.op("CumSum", real, g.ints(1))  # [B, L]
    if past_length is not None:
        counted = g.op("Add", counted, past_length)
    return g.op("Add", g.op("Mul", counted, real), g.ints(padding_idx))  # [B, L]


def encoder_position_ids(g: Graph, mask: str, padding_idx: int) -> str:
    """transformers' rule: count where the *padding* mask differs from the pad id."""
    padding = g.op("Sub", g.ints(1), mask)  # [B, S], 1 = padded
    real = g.op("Cast", g.op("Not", g.op("Equal", padding, g.ints(padding_idx))), to=7)  # int64
    return position_ids(g, real, padding_idx)


def subsampled_lengths(g: Graph, lengths: str, num_conv_layers: int) -> str:
    """``L -> (L - 1) // 2 + 1`` per conv layer (lengths are at least 1: ONNX's integer
    Div truncates, which equals the floor for the non-negative ``L - 1``)."""
    for _ in range(num_conv_layers):
        lengths = g.op("Add", g.op("Div", g.op("Sub", lengths, g.ints(1)), g.ints(2)), g.ints(1))
    return lengths


def frame_mask(g: Graph, attention_mask: str, states: str, num_conv_layers: int) -> str:
    """Feature mask ``[B, T]`` -> encoder mask ``[B, S]`` (int64, 1 = real), S read from
    the subsampler's output ``states [B, S, D]``."""
    lengths = subsampled_lengths(g, g.op("ReduceSum", attention_mask, g.ints([1]), keepdims=0), num_conv_layers)
    frames = g.op("Gather", g.op("Shape", states), g.ints(1))  # S, a scalar
    steps = g.op("Range", g.ints(0), frames, g.ints(1))  # [S]
    real = g.op("Less", g.op("Unsqueeze", steps, g.ints([0])), g.op("Unsqueeze", lengths, g.ints([1])))
    return g.op("Cast", real, to=7)  # [B, S] int64


def key_padding_bias(g: Graph, mask: str) -> str:
    """``[B, S]`` (1 = real) -> ``[B, 1, 1, S]``."""
    return g.op("Unsqueeze", mask_bias(g, mask), g.ints([1, 2]))


def causal_bias(g: Graph, past: str, length: str) -> str:
    """Query ``i`` (position ``past + i``) sees keys ``0 .. past + i``: ``[1, 1, L, P + L]``."""
    keys = g.op("Range", g.ints(0), g.op("Add", past, length), g.ints(1))  # [P + L]
    queries = g.op("Add", g.op("Range", g.ints(0), length, g.ints(1)), past)  # [L]
    allowed = g.op("LessOrEqual", g.op("Unsqueeze", keys, g.ints([0])), g.op("Unsqueeze", queries, g.ints([1])))
    return g.op("Unsqueeze", mask_bias(g, allowed), g.ints([0, 1]))  # [1, 1, L, P + L]


# --- blocks --------------------------------------------------------------------------------


def self_attention_block(g: Graph, x: str, layer: dict, n_head: int, d_model: int, bias, past=None):
    """Pre-LN self-attention with its residual, ``[B, L, D] -> [B, L, D]``; ``past`` the
    ``(k, v)`` names ``[B, H, P, Dh]`` or None. Returns ``(y, (k, v), weights)``."""
    p, dh = layer["self_attn"], d_model // n_head
    h = layer_norm(g, x, **layer["self_attn_layer_norm"])  # [B, L, D]
    q = split_heads(g, linear(g, h, **p["q_proj"]), n_head, dh)  # [B, H, L, Dh]
    k = split_heads(g, linear(g, h, **p["k_proj"]), n_head, dh)
    v = split_heads(g, linear(g, h, **p["v_proj"]), n_head, dh)
    if past is not None:
        k = g.op("Concat", past[0], k, axis=2)  # [B, H, P + L, Dh]
        v = g.op("Concat", past[1], v, axis=2)
    out, weights = attention(g, q, k, v, bias, dh)
    return g.op("Add", x, linear(g, merge_heads(g, out, d_model), **p["out_proj"])), (k, v), weights


def cross_attention_block(g: Graph, x: str, layer: dict, n_head: int, d_model: int, kv, bias):
    """Pre-LN attention to the encoder's keys and values ``kv [B, H, S, Dh]``, with
    residual. Returns ``(y [B, L, D], weights [B, H, L, S])``."""
    p, dh = layer["encoder_attn"], d_model // n_head
    h = layer_norm(g, x, **layer["encoder_attn_layer_norm"])
    q = split_heads(g, linear(g, h, **p["q_proj"]), n_head, dh)  # [B, H, L, Dh]
    out, weights = attention(g, q, kv[0], kv[1], bias, dh)
    return g.op("Add", x, linear(g, merge_heads(g, out, d_model), **p["out_proj"])), weights


def feed_forward_block(g: Graph, x: str, layer: dict, activation) -> str:
    """Pre-LN feed-forward with residual: ``[B, L, D] -> [B, L, E] -> [B, L, D]``."""
    h = layer_norm(g, x, **layer["final_layer_norm"])
    h = activation(g, linear(g, h, **layer["fc1"]))  # [B, L, E]
    return g.op("Add", x, linear(g, h, **layer["fc2"]))


# --- encoder -------------------------------------------------------------------------------


def conv_subsampler(g: Graph, features: str, conv_layers: list, kernel_sizes) -> list[str]:
    """Stride-2 convolutions, each followed by a GLU over channels: ``[B, T, F] -> [B, S, D]``."""
    outputs, x = [], features
    for layer, k in zip(conv_layers, kernel_sizes):
        x = glu(g, conv1d(g, x, layer["weight"], layer["bias"], stride=2, padding=k // 2), layer["weight"].shape[0])
        outputs.append(x)
    return outputs


def encoder_layer(g: Graph, x: str, layer: dict, n_head: int, d_model: int, bias, activation):
    x, _, weights = self_attention_block(g, x, layer, n_head, d_model, bias)
    return feed_forward_block(g, x, layer, activation), weights


def encode(g: Graph, params: dict, config, features: str, attention_mask: str) -> dict:
    """Features ``[B, T, F]`` and mask ``[B, T]`` -> ``{"last_hidden_state": [B, S, D],
    "mask": [B, S]}``."""
    enc, d = params["model"]["encoder"], config.d_model
    x = conv_subsampler(g, features, enc["conv"]["conv_layers"], config.conv_kernel_sizes)[-1]  # [B, S, D]
    if config.scale_embedding:
        x = g.op("Mul", x, g.const(np.float32(np.sqrt(d))))
    mask = frame_mask(g, attention_mask, x, config.num_conv_layers)  # [B, S]
    table = position_table(config.max_source_positions, d, config.pad_token_id, np.float32)
    x = g.op("Add", x, g.op("Gather", g.const(table, "encoder_positions"),
                            encoder_position_ids(g, mask, config.pad_token_id)))  # fmt: skip
    bias = key_padding_bias(g, mask)  # [B, 1, 1, S]
    activation = ACTIVATIONS[config.activation_function]
    for layer in enc["layers"]:
        x, _ = encoder_layer(g, x, layer, config.encoder_attention_heads, d, bias, activation)
    return {"last_hidden_state": layer_norm(g, x, **enc["layer_norm"]), "mask": mask}


# --- decoder -------------------------------------------------------------------------------


def cross_attention_kv(g: Graph, params: dict, config, encoder_states: str) -> list:
    """Each decoder layer's cross-attention ``(k, v)``, ``[B, H, S, Dh]`` each."""
    h, dh = config.decoder_attention_heads, config.d_model // config.decoder_attention_heads
    return [(split_heads(g, linear(g, encoder_states, **layer["encoder_attn"]["k_proj"]), h, dh),
             split_heads(g, linear(g, encoder_states, **layer["encoder_attn"]["v_proj"]), h, dh))
            for layer in params["model"]["decoder"]["layers"]]  # fmt: skip


def decoder_layer(g: Graph, x, layer, n_head, d_model, self_bias, past, cross_kv, cross_bias, activation):
    x, new_kv, _ = self_attention_block(g, x, layer, n_head, d_model, self_bias, past)
    x, cross_weights = cross_attention_block(g, x, layer, n_head, d_model, cross_kv, cross_bias)
    return feed_forward_block(g, x, layer, activation), new_kv, cross_weights


def embed_tokens(g: Graph, params: dict, config, input_ids: str, past: str) -> str:
    """Ids ``[B, L]`` -> embeddings ``x sqrt(D)`` plus positions, ``[B, L, D]``."""
    embed = params["model"]["decoder"]["embed_tokens"]["weight"]  # [V, D]
    x = g.op("Gather", g.const(embed, "embed_tokens"), input_ids)  # [B, L, D]
    if config.scale_embedding:
        x = g.op("Mul", x, g.const(np.float32(np.sqrt(config.d_model))))
    real = g.op("Cast", g.op("Not", g.op("Equal", input_ids, g.ints(config.pad_token_id))), to=7)
    table = position_table(config.max_target_positions, config.d_model, config.pad_token_id, np.float32)
    return g.op("Add", x, g.op("Gather", g.const(table, "decoder_positions"),
                               position_ids(g, real, config.pad_token_id, past)))  # fmt: skip


def lm_head(g: Graph, params: dict, x: str) -> str:
    """``[B, L, D] -> [B, L, V]``, no bias."""
    return linear(g, x, params["lm_head"]["weight"])


def decode(g: Graph, params: dict, config, input_ids: str, past_kv: list, cross_kv: list,
           encoder_mask: str) -> dict:  # fmt: skip
    """New ids ``[N, L]``, the past ``(k, v)`` ``[N, H, P, Dh]`` and cross ``(k, v)`` per
    layer -> ``{"logits", "present": [(k, v)], "cross_attentions": [...]}``."""
    dec = params["model"]["decoder"]
    past = g.op("Gather", g.op("Shape", past_kv[0][0]), g.ints(2))  # P, a scalar
    length = g.op("Gather", g.op("Shape", input_ids), g.ints(1))  # L
    x = embed_tokens(g, params, config, input_ids, past)  # [N, L, D]
    self_bias = causal_bias(g, past, length)  # [1, 1, L, P + L]
    cross_bias = key_padding_bias(g, encoder_mask)  # [N, 1, 1, S]
    activation = ACTIVATIONS[config.activation_function]
    present, weights = [], []
    for layer, layer_past, kv in zip(dec["layers"], past_kv, cross_kv):
        x, new_kv, w = decoder_layer(g, x, layer, config.decoder_attention_heads, config.d_model,
                                     self_bias, layer_past, kv, cross_bias, activation)  # fmt: skip
        present.append(new_kv)
        weights.append(w)
    x = layer_norm(g, x, **dec["layer_norm"])
    return {"logits": lm_head(g, params, x), "present": present, "cross_attentions": weights}


# --- the three graphs ----------------------------------------------------------------------


def graph_names():
    from ..engine.onnx_format import attention_names, cross_names, past_names, present_names

    return cross_names, past_names, present_names, attention_names


def key_value_pairs(names: list[str]) -> list[tuple[str, str]]:
    return list(zip(names[0::2], names[1::2]))


def encoder_graph(params: dict, config, opset: int = OPSET) -> Graph:
    g = Graph("encoder", opset)
    f = config.input_feat_per_channel * config.input_channels
    features = g.input("input_features", "float", ["batch", "feature_frames", f])
    mask = g.input("attention_mask", "int64", ["batch", "feature_frames"])
    out = encode(g, params, config, features, mask)
    g.output(out["last_hidden_state"], "last_hidden_state", "float", ["batch", "frames", config.d_model])
    g.output(out["mask"], "encoder_mask", "int64", ["batch", "frames"])
    return g


def cross_kv_graph(params: dict, config, opset: int = OPSET) -> Graph:
    cross_names = graph_names()[0]
    g = Graph("cross_kv", opset)
    h, dh = config.decoder_attention_heads, config.d_model // config.decoder_attention_heads
    states = g.input("encoder_states", "float", ["batch", "frames", config.d_model])
    for (k, v), (kn, vn) in zip(cross_attention_kv(g, params, config, states),
                                key_value_pairs(cross_names(config.decoder_layers))):  # fmt: skip
        g.output(k, kn, "float", ["batch", h, "frames", dh])
        g.output(v, vn, "float", ["batch", h, "frames", dh])
    return g


def decoder_graph(params: dict, config, opset: int = OPSET) -> Graph:
    cross_names, past_names, present_names, attention_names = graph_names()
    layers, h = config.decoder_layers, config.decoder_attention_heads
    dh = config.d_model // h
    g = Graph("decoder", opset)
    ids = g.input("input_ids", "int64", ["rows", "tokens"])
    mask = g.input("encoder_mask", "int64", ["rows", "frames"])
    past = [g.input(n, "float", ["rows", h, "past", dh]) for n in past_names(layers)]
    cross = [g.input(n, "float", ["rows", h, "frames", dh]) for n in cross_names(layers)]
    out = decode(g, params, config, ids, key_value_pairs(past), key_value_pairs(cross), mask)
    g.output(out["logits"], "logits", "float", ["rows", "tokens", config.vocab_size])
    for (k, v), (kn, vn) in zip(out["present"], key_value_pairs(present_names(layers))):
        g.output(k, kn, "float", ["rows", h, "total", dh])
        g.output(v, vn, "float", ["rows", h, "total", dh])
    for w, name in zip(out["cross_attentions"], attention_names(layers)):
        g.output(w, name, "float", ["rows", h, "tokens", "frames"])
    return g


BUILDERS = {"encoder": encoder_graph, "cross_kv": cross_kv_graph, "decoder": decoder_graph}


def metadata(role: str, config, opset: int = OPSET, variant: str = "plain") -> dict:
    """The format's metadata of a graph (role, model fingerprint, format, opset) and which builder wrote it."""
    from ..engine.onnx_format import graph_metadata

    return {**graph_metadata(role, config, opset), "minis2t.builder": f"onnx_build/{variant}"}


def as_float32(params):
    """The parameter tree in float32 (the graphs' dtype), arrays shared where they already are."""
    if isinstance(params, dict):
        return {k: as_float32(v) for k, v in params.items()}
    if isinstance(params, list):
        return [as_float32(v) for v in params]
    return np.asarray(params, np.float32)


def build(params: dict, config, opset: int = OPSET) -> dict:
    """``{role: onnx.ModelProto}``: the encoder, cross_kv and decoder graphs of the model
    ``(params, config)`` in ``opset`` (17 or later), checked by ``onnx.checker`` (shapes
    inferred)."""
    import onnx

    params = as_float32(params)
    graphs = {}
    for role, builder in BUILDERS.items():
        model = builder(params, config, opset).model(metadata(role, config, opset))
        onnx.checker.check_model(model, full_check=True)
        graphs[role] = model
    return graphs

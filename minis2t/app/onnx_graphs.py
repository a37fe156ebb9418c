"""The three small torch modules that :mod:`minis2t.app.onnx_export` traces, around
transformers' Speech2Text.

Only :func:`graphs` is public, and it imports torch and transformers when called: this
module can be imported without them (``minis2t`` never imports torch at module level).

* the **encoder** is transformers' encoder module as it is, plus its own helper for the
  encoder-level mask (``_get_feature_vector_attention_mask``);
* **cross_kv** applies each decoder layer's ``encoder_attn.k_proj`` / ``v_proj`` to the
  encoder states once per utterance and splits the heads, as transformers' attention does
  on its first decoding step;
* the **decoder** step is transformers' decoder taken apart only where the cache must
  cross the graph boundary: token embedding, positions, layer norms, projections,
  feed-forward and the attention arithmetic (``eager_attention_forward``) are
  transformers' own modules and function; the wrapper concatenates the past keys and
  values given as inputs, returns the grown ones as outputs, builds the two additive masks
  (causal, encoder padding) and returns each layer's cross-attention weights for word
  timestamps.
"""

from __future__ import annotations

from ..engine.onnx_format import attention_names, cross_names, past_names, present_names


def graphs(hf, config) -> dict:
    """``{role: (module, example_args, input_names, output_names, dynamic_axes)}``."""
    import torch
    from transformers.models.speech_to_text.modeling_speech_to_text import eager_attention_forward

    layers = config.decoder_layers
    heads, head_dim = config.decoder_attention_heads, config.d_model // config.decoder_attention_heads

    class Encoder(torch.nn.Module):
        """features [B, T, F], mask [B, T] -> states [B, S, D], encoder mask [B, S]."""

        def __init__(self):
            super().__init__()
            self.encoder = hf.model.encoder

        def forward(self, input_features, attention_mask):
            states = self.encoder(input_features, attention_mask=attention_mask).last_hidden_state
            mask = self.encoder._get_feature_vector_attention_mask(states.shape[1], attention_mask)
            return states, mask.long()

    def split(x, n):  # [N, S, D] -> [N, H, S, Dh], as transformers' attention does
        return x.view(n, -1, heads, head_dim).transpose(1, 2)

    class CrossKV(torch.nn.Module):
        """encoder states [B, S, D] -> each layer's cross keys and values [B, H, S, Dh]."""

        def __init__(self):
            super().__init__()
            self.layers = hf.model.decoder.layers

        def forward(self, encoder_states):
            n = encoder_states.shape[0]
            out = []
            for layer in self.layers:
                attn = layer.encoder_attn
                out += [split(attn.k_proj(encoder_states), n), split(attn.v_proj(encoder_states), n)]
            return tuple(out)

    class DecoderStep(torch.nn.Module):
        """ids [N, L], encoder mask [N, S], past and cross keys/values -> logits [N, L, V],
        present keys/values [N, H, P + L, Dh], cross-attention weights [N, H, L, S]."""

        def __init__(self):
            super().__init__()
            self.decoder, self.lm_head = hf.model.decoder, hf.lm_head

        def forward(self, input_ids, encoder_mask, *cache):
            past, cross = cache[: 2 * layers], cache[2 * layers :]
            dec = self.decoder
            n, length = input_ids.shape
            p = past[0].shape[2]
            x = dec.embed_tokens(input_ids) * dec.embed_scale
            x = x + dec.embed_positions(input_ids, cache_length=p)  # [N, L, D]
            low = torch.finfo(x.dtype).min
            keys = torch.arange(length, device=x.device)[:, None] + p  # query i's position
            causal = torch.arange(p + length, device=x.device)[None, :] <= keys  # [L, P + L]
            self_bias = torch.where(causal, 0.0, low).to(x.dtype)[None, None]  # [1, 1, L, P + L]
            cross_bias = torch.where(encoder_mask[:, None, None, :] > 0, 0.0, low).to(x.dtype)  # [N, 1, 1, S]
            presents, weights = [], []
            for i, layer in enumerate(dec.layers):
                h = layer.self_attn_layer_norm(x)
                a = layer.self_attn
                q = split(a.q_proj(h), n)
                k = torch.cat([past[2 * i], split(a.k_proj(h), n)], dim=2)  # [N, H, P + L, Dh]
                v = torch.cat([past[2 * i + 1], split(a.v_proj(h), n)], dim=2)
                out, _ = eager_attention_forward(a, q, k, v, self_bias, scaling=a.scaling)
                x = x + a.out_proj(out.reshape(n, length, -1))
                presents += [k, v]

                h = layer.encoder_attn_layer_norm(x)
                c = layer.encoder_attn
                q = split(c.q_proj(h), n)
                out, w = eager_attention_forward(c, q, cross[2 * i], cross[2 * i + 1], cross_bias,
                                                 scaling=c.scaling)  # fmt: skip
                x = x + c.out_proj(out.reshape(n, length, -1))
                weights.append(w)  # [N, H, L, S]

                h = layer.final_layer_norm(x)
                x = x + layer.fc2(layer.activation_fn(layer.fc1(h)))
            logits = self.lm_head(dec.layer_norm(x))
            return (logits, *presents, *weights)

    # Example inputs: every dynamic size distinct and above 1, so that none is traced as a
    # constant or confused with another.
    b, t, f = 3, 37, config.input_feat_per_channel * config.input_channels
    features = torch.randn(b, t, f)
    feature_mask = torch.ones(b, t, dtype=torch.long)
    feature_mask[1, 30:] = 0
    s = t
    for _ in range(config.num_conv_layers):
        s = (s - 1) // 2 + 1
    states = torch.randn(b, s, config.d_model)
    n, length, p = 4, 2, 5
    ids = torch.randint(3, config.vocab_size, (n, length))
    encoder_mask = torch.ones(n, s, dtype=torch.long)
    past = [torch.randn(n, heads, p, head_dim) for _ in range(2 * layers)]
    cross = [torch.randn(n, heads, s, head_dim) for _ in range(2 * layers)]

    cache_axes = {name: {0: "rows", 2: "past"} for name in past_names(layers)}
    cache_axes |= {name: {0: "rows", 2: "frames"} for name in cross_names(layers)}
    decoder_outputs = ["logits", *present_names(layers), *attention_names(layers)]
    decoder_axes = {"input_ids": {0: "rows", 1: "tokens"}, "encoder_mask": {0: "rows", 1: "frames"},
                    "logits": {0: "rows", 1: "tokens"}, **cache_axes}  # fmt: skip
    decoder_axes |= {name: {0: "rows", 2: "total"} for name in present_names(layers)}
    decoder_axes |= {name: {0: "rows", 2: "tokens", 3: "frames"} for name in attention_names(layers)}
    return {
        "encoder": (Encoder(), (features, feature_mask), ["input_features", "attention_mask"],
                    ["last_hidden_state", "encoder_mask"],
                    {"input_features": {0: "batch", 1: "feature_frames"},
                     "attention_mask": {0: "batch", 1: "feature_frames"},
                     "last_hidden_state": {0: "batch", 1: "frames"}, "encoder_mask": {0: "batch", 1: "frames"}}),
        "cross_kv": (CrossKV(), (states,), ["encoder_states"], cross_names(layers),
                     {"encoder_states": {0: "batch", 1: "frames"},
                      **{name: {0: "batch", 2: "frames"} for name in cross_names(layers)}}),
        "decoder": (DecoderStep(), (ids, encoder_mask, *past, *cross),
                    ["input_ids", "encoder_mask", *past_names(layers), *cross_names(layers)],
                    decoder_outputs, decoder_axes),
    }  # fmt: skip

"""Write a port's intermediates under the golden names, for ``minis2t golden check``.

The helper is :class:`PortDump`: put each intermediate under its golden name (a NumPy array
or a torch tensor, any float dtype), then save one safetensors file::

    dump = PortDump()
    dump.put("frontend.features", features)            # [T, F]
    dump.put("encoder.output", states)                 # [1, S, D]
    dump.save("port.safetensors")
    # minis2t golden check golden.safetensors port.safetensors

A port in another language does the same with its own safetensors writer (the names are
in :mod:`minis2t.app.golden.stages`, and in every golden's manifest). Two real ports are
here, and pass (``tests/test_golden.py``):

* :class:`TwinPort` — the PyTorch twin (``parity/``), float32 from the waveform on: its own
  front end (float32 DSP), encoder and decoder, called stage by stage. Each stage is a
  method, so a test plants a defect by overriding one;
* :func:`onnx_port` — the graphs ``minis2t export-onnx`` writes, run by onnxruntime: the
  stages the graphs expose (encoder output, cross-attention keys and values, each step's
  logits) and the search state.

Both drive the reference's searches (transformers' and fairseq's rules, NumPy) with their
own logits, as the application drives onnxruntime: the search's decisions follow the
port's numbers, and its record (``GenerateOutput.steps``) is the beam state dumped.
"""

from __future__ import annotations

import math

import numpy as np
import torch

import minis2t
from minis2t.app.golden import stages
from minis2t.app.golden.tensorfile import write
from minis2t.app.golden.write import RULES, finished_scores, refused, run_search

from . import features as tf
from . import model as tm
from .nn import ACTIVATIONS, layer_norm, sinusoidal_positions


class PortDump:
    """Intermediates by golden name; ``save(path)`` writes them as safetensors."""

    def __init__(self):
        self.tensors: dict[str, np.ndarray] = {}

    def put(self, name: str, value) -> None:
        if stages.stage_of(name) is None:
            raise ValueError(f"{name!r} is not a golden name (see minis2t.app.golden.stages)")
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        self.tensors[name] = np.ascontiguousarray(value)

    def save(self, path) -> None:
        write(path, self.tensors, {})


def search_dump(dump: PortDump, rules: str, step, cache, options, vocab_size: int) -> None:
    """Run one of the reference's searches on the port's ``step(tokens [K, 1], cache) ->
    (logits [K, V] as NumPy, cache, {name: value})`` and dump each step's values, logits
    and beam state under ``search.{rules}.step.{t}.*``."""
    t = 0

    def counted(tokens, cache):
        nonlocal t
        logits, cache, record = step(np.asarray(tokens), cache)
        for name, value in {**record, "logits": logits}.items():
            dump.put(f"search.{rules}.step.{t}.{name}", value)
        t += 1
        return logits, cache

    result, steps = run_search(rules, counted, cache, options, vocab_size)
    for t, s in enumerate(steps or []):
        for name in ("beam", "token", "score", "ends", "live"):
            dump.put(f"search.{rules}.step.{t}.{name}", np.asarray(s[name]))
        dump.put(f"search.{rules}.step.{t}.finished", finished_scores(s, t, options.num_beams, options.length_penalty))
    dump.put(f"search.{rules}.sequences", result.sequences)
    if result.sequences_scores is not None:
        dump.put(f"search.{rules}.sequences_scores", result.sequences_scores)


def search_rules(options) -> list[str]:
    """The rule sets these options allow (fairseq's refuses a forced language, n-gram bans)."""
    return [rules for rules in RULES if not refused(rules, options)]


class TwinPort:
    """The PyTorch twin as a port: the network in ``dtype`` (float32), the front end's DSP
    in ``dsp_dtype`` — float64 by default, as transformers and minis2t compute it before
    rounding the log-mel to float32; float32 DSP passes the front-end stages too, but its
    rounding noise in near-silent bands reaches the encoder (docs/porting.md)."""

    def __init__(self, model_dir, dtype=torch.float32, device="cpu", dsp_dtype=torch.float64,
                 attention: bool = False):  # fmt: skip
        self.attention = attention  # dump each encoder layer's attention weights (golden write --attention)
        self.model = minis2t.Speech2Text.from_pretrained(model_dir)
        self.config, self.dtype, self.device, self.dsp_dtype = self.model.config, dtype, device, dsp_dtype
        self.params = tm.to_torch(self.model.weights, dtype, device)
        self.extractor = self.model.feature_extractor or minis2t.FeatureExtractor()

    # --- the front end ----------------------------------------------------------------------

    def dc_and_preemphasis(self, frames, dump):
        """DC removal, then pre-emphasis (Kaldi's order)."""
        dump.put("frontend.dc_removed", frames := tf.remove_dc_offset(frames))
        dump.put("frontend.preemphasized", frames := tf.preemphasize(frames))
        return frames

    def cmvn(self, log_mel):
        e = self.extractor
        x = tf.utterance_cmvn(log_mel, e.normalize_means, e.normalize_vars) if e.do_ceptral_normalize else log_mel
        return x if e.global_cmvn is None else tf.global_cmvn(x, e.global_cmvn["mean"], e.global_cmvn["std"])

    def frontend(self, waveform, dump):
        wave = torch.as_tensor(np.asarray(waveform), device=self.device).to(self.dsp_dtype)
        dump.put("waveform", wave)
        dump.put("frontend.frames", frames := tf.frame_signal(tf.scale_waveform(wave)))
        frames = self.dc_and_preemphasis(frames, dump)
        dump.put("frontend.windowed", frames := frames * tf.povey_window(400, self.dsp_dtype, self.device))
        dump.put("frontend.power", power := tf.power_spectrum(frames))
        banks = tf.mel_filterbank(self.extractor.num_mel_bins, device=self.device)
        dump.put("frontend.log_mel", log_mel := tf.log_mel(power, banks).to(self.dtype))
        dump.put("frontend.features", features := self.cmvn(log_mel))
        return features

    # --- the network -------------------------------------------------------------------------

    def positions(self, rows: int):
        """The sinusoidal table ``[rows, D]`` (sines, then cosines), pad row zero."""
        return sinusoidal_positions(rows, self.config.d_model, self.config.pad_token_id, self.dtype, self.device)

    def embed_scale(self) -> float:
        return math.sqrt(self.config.d_model) if self.config.scale_embedding else 1.0

    def encoder(self, features, dump):
        c, enc = self.config, self.params["model"]["encoder"]
        convs = tm.conv_subsampler(features[None], enc["conv"]["conv_layers"], c.conv_kernel_sizes)
        for i, x in enumerate(convs):
            dump.put(f"encoder.conv.{i}", x)
        x = convs[-1] * self.embed_scale()
        mask = tm.frame_mask(None, 1, x.shape[1], c.num_conv_layers, self.device)
        table = self.positions(c.max_source_positions + c.pad_token_id + 1)
        dump.put("encoder.positions", positions := table[tm.encoder_position_ids(mask, c.pad_token_id)][0])
        dump.put("encoder.input", x := x + positions)
        activation = ACTIVATIONS[c.activation_function]
        for i, layer in enumerate(enc["layers"]):
            x, weights = tm.encoder_layer(x, layer, c.encoder_attention_heads, None, activation)
            dump.put(f"encoder.layer.{i}", x)
            if self.attention:
                dump.put(f"encoder.layer.{i}.attention", weights)
        dump.put("encoder.output", x := layer_norm(x, **enc["layer_norm"]))
        return x

    def decode_step(self, tokens, cache):
        """``[N, 1]`` ids -> (logits [N, V] NumPy, cache, the step's intermediates)."""
        c, dec = self.config, self.params["model"]["decoder"]
        ids = torch.as_tensor(tokens, device=self.device)
        past = cache.length
        table = self.positions(c.max_target_positions + c.pad_token_id + 1)
        x = dec["embed_tokens"]["weight"][ids] * self.embed_scale()
        x = x + table[tm.position_ids(ids != c.pad_token_id, c.pad_token_id, past)]
        record = {"decoder.input": x}
        self_bias = tm.causal_bias(past, 1, None, x.dtype, self.device)
        activation = ACTIVATIONS[c.activation_function]
        new_kv = []
        for i, (layer, layer_past, cross) in enumerate(zip(dec["layers"], cache.self_kv, cache.cross_kv)):
            x, kv, _, _ = tm.decoder_layer(x, layer, c.decoder_attention_heads, self_bias, layer_past, cross,
                                           None, activation)  # fmt: skip
            record[f"decoder.layer.{i}"] = x
            new_kv.append(kv)
        logits = tm.lm_head(self.params, layer_norm(x, **dec["layer_norm"]))[:, -1]
        return logits.cpu().numpy(), tm.KVCache(tuple(new_kv), cache.cross_kv), record

    def search_options(self, options):
        """The options the port's searches run with (the golden's)."""
        return options

    @torch.no_grad()
    def run(self, waveform, options=None, rules=None) -> PortDump:
        """Every stage for one recording. ``options``: the generation options (by default
        the model's); ``rules``: the searches to run (by default every one they allow)."""
        c, options = self.config, options or self.model.generation_config
        dump = PortDump()
        features = self.frontend(waveform, dump)
        states = self.encoder(features, dump)
        for i, (k, v) in enumerate(tm.cross_attention_kv(self.params, c, states)):
            dump.put(f"decoder.layer.{i}.cross_key", k)
            dump.put(f"decoder.layer.{i}.cross_value", v)
        beams = options.num_beams
        for name in search_rules(options) if rules is None else rules:
            cache = tm.init_cache(self.params, c, states.repeat_interleave(beams, dim=0))
            search_dump(dump, name, self.decode_step, cache, self.search_options(options), c.vocab_size)
        steps = sum(1 for name in dump.tensors if name.endswith(".logits"))
        if steps:  # the decoder's position rows, for as many steps as the longest search took
            longest = max(int(n.split(".")[3]) for n in dump.tensors if n.endswith(".logits")) + 1
            table = self.positions(c.max_target_positions + c.pad_token_id + 1)
            dump.put("decoder.positions", table[c.pad_token_id + 1 : c.pad_token_id + 1 + longest])
        return dump


def onnx_port(onnx_dir, waveform, options=None) -> PortDump:
    """The exported graphs in onnxruntime as a port: the features of minis2t's front end
    (float64 DSP, float32 features), then the stages the graphs expose."""
    model = minis2t.Speech2Text.from_pretrained(onnx_dir)  # an exported directory: OnnxRuntime
    runtime, options = model.runtime, options or model.generation_config
    dump = PortDump()
    features = model.feature_extractor(waveform)["input_features"]  # [1, T, F] float32
    dump.put("frontend.features", features[0])
    enc = runtime.encode(features, None)
    dump.put("encoder.output", enc["last_hidden_state"])
    cache = runtime.init_cache(enc["last_hidden_state"])
    for i in range(model.config.decoder_layers):
        dump.put(f"decoder.layer.{i}.cross_key", cache.cross_kv[2 * i])
        dump.put(f"decoder.layer.{i}.cross_value", cache.cross_kv[2 * i + 1])
    k = options.num_beams
    mask = np.repeat(enc["mask"], k, axis=0)

    def step(tokens, cache):
        out = runtime.decode(tokens, cache, mask)
        return out["logits"][:, -1], out["cache"], {}

    for rules in search_rules(options):
        search_dump(dump, rules, step, runtime.init_cache(enc["last_hidden_state"]), options, model.config.vocab_size)
    return dump

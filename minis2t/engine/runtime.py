"""What :class:`minis2t.Speech2Text` runs: a *runtime* computes the network, everything
else is the application's.

A runtime is the one thing that changes between backends. Features, both searches, long
form, word timestamps and confidence are the same code whichever runtime computes the
encoder and decoder; :class:`minis2t.Speech2Text` takes its runtime as a constructor
argument (``Speech2Text(config, runtime=...)``), and ``Speech2Text.from_pretrained``
picks it from the directory: :class:`NumpyRuntime` (this module: the engine over a
checkpoint's weights) or :class:`minis2t.engine.onnx_runtime.OnnxRuntime` (an exported
ONNX directory in onnxruntime sessions).

**The runtime protocol** (:class:`Runtime`; ``B`` utterances, ``N = B*K`` decoder rows,
``K`` beams per utterance, item-major)::

    name: str                      "numpy", "onnxruntime", ... (shown, never branched on)
    dtype: np.dtype                the float type features are handed in
    weights: dict | None           the checkpoint's arrays by name, when the runtime computes
                                   from NumPy arrays (save_pretrained, export and training read
                                   them); None when it holds its weights in its own form
    encode(features [B, T, F], attention_mask [B, T] | None,
           output_hidden_states=False, output_attentions=False)
        -> {"last_hidden_state": [B, S, D], "mask": [B, S]  (1 real, 0 padding),
            "conv_outputs", "hidden_states" [B, S, D] each, "attentions" [B, H, S, S] each:
            only when asked}
    init_cache(encoder_states [B, S, D]) -> cache
        the decoder's state before any token; a cache has ``length`` (tokens held) and
        ``reorder(rows) -> cache`` (rows stay within their utterance's K rows)
    decode(input_ids [N, L], cache, encoder_mask [N, S] | None,
           decoder_attention_mask [N, L] | None = None,
           output_hidden_states=False, output_attentions=False)
        -> {"logits": [N, L, V], "cache": the cache grown by L tokens,
            "hidden_states" [N, L, D] each (the last after the final layer norm),
            "self_attentions" [N, H, L, P + L] each, "cross_attentions" [N, H, L, S] each:
            only when asked}

A cache made for ``B`` utterances serves ``N = B*K`` rows: the runtime shares (or
repeats) each utterance's cross-attention keys over its rows. An output a runtime cannot
give (the ONNX graphs have no hidden states) is a :class:`minis2t.errors.ModelInputError`
naming it, never a silent None. :class:`minis2t.Speech2Text` checks what a user gives
(feature bins, lengths, token ids) before calling a runtime, and checks its outputs are
finite.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError
from ..reference.model import model_params
from . import model as engine
from .nn import usable_cores

THREADS_RULE = ("at most the cores this process may run on (its CPU affinity, os.sched_getaffinity; "
                "else os.cpu_count())")  # fmt: skip


def check_threads(threads) -> int | None:
    """``threads`` (a runtime's intra-op or BLAS threads) checked: None (all cores) or an
    integer from 1 to :func:`~minis2t.engine.nn.usable_cores`. More threads than cores buy
    nothing and cost much: 256 made OpenBLAS fail to allocate its buffers (no minis2t
    message), 100 000 made onnxruntime crash (a segmentation fault after 21 s), and the
    NumPy path ran 12x slower. The same rule for every runtime, the API and ``--threads``."""
    if threads is None:
        return None
    cores = usable_cores()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= cores:
        raise ConfigError(f"threads={threads!r:.40}: give an integer from 1 to {cores}, {THREADS_RULE}.")
    return int(threads)


@runtime_checkable
class Runtime(Protocol):
    """What :class:`minis2t.Speech2Text` needs from a backend (see the module's protocol)."""

    name: str
    dtype: np.dtype
    weights: dict | None

    def encode(self, features, attention_mask=None, output_hidden_states=False, output_attentions=False) -> dict:
        ...

    def init_cache(self, encoder_states):
        ...

    def decode(self, input_ids, cache, encoder_mask=None, decoder_attention_mask=None,
               output_hidden_states=False, output_attentions=False) -> dict:  # fmt: skip
        ...


class NumpyRuntime:
    """The NumPy engine (:mod:`minis2t.engine.model`) over a checkpoint's ``weights``
    (``{name: array}``, Hugging Face names) for the model ``config``. :attr:`params` is
    :func:`minis2t.reference.model.model_params` of them: the weights nested (sharing their
    arrays), with the encoder's and decoder's sinusoidal position tables added once as data
    under ``embed_positions.weights`` (parity checks may swap in another library's table
    there, see :func:`minis2t.reference.nn.sinusoidal_positions` on why they differ)."""

    name = "numpy"

    def __init__(self, weights: dict[str, np.ndarray], config):
        self.weights, self.config = weights, config
        self.params = model_params(weights, config)  # nested, with the sinusoidal position tables
        self.dtype = next(iter(weights.values())).dtype

    def encode(self, features, attention_mask=None, output_hidden_states=False, output_attentions=False):
        return engine.encode(self.params, self.config, features, attention_mask, output_hidden_states,
                             output_attentions)  # fmt: skip

    def init_cache(self, encoder_states):
        return engine.init_cache(self.params, self.config, encoder_states)

    def decode(self, input_ids, cache, encoder_mask=None, decoder_attention_mask=None,
               output_hidden_states=False, output_attentions=False):  # fmt: skip
        return engine.decode(self.params, self.config, input_ids, cache, encoder_mask, decoder_attention_mask,
                             output_hidden_states, output_attentions)  # fmt: skip

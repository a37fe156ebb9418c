"""The agreement bars the tests assert, in one place.

The tests import these, the Parity page prints them (docs/hooks/worked.py), and a test
checks that the README's "How close" table states the same — so no page can promise a
bar the suite does not check. Each bar's reason is beside it.
"""

# NumPy vs the twin, the front end step by step: max |delta|, relative to the frame's
# peak power for power spectra. float64: only the FFT libraries' summation orders differ
# (~1e-12 on log-mel); float32: the power spectrum's rounding is ~1e-7 of the peak.
FRONT_END_TWIN = {"float64": 1e-9, "float32": 1e-4}

# NumPy vs the twin, per layer and end to end: max |delta| relative to the tensor's scale.
# float64 rounding is ~1e-16 per operation, a few hundred operations deep; float32's ~6e-8.
MODEL_TWIN = {"float64": 1e-10, "float32": 1e-5}

# The whole model vs transformers (logits, hidden states, loss), relative to the scale:
# float32 allows the different orders of torch's and NumPy's matrix products.
MODEL_TRANSFORMERS = {"float64": 1e-10, "float32": 1e-4}

# fairseq's model vs the others (logits at decoder positions that are not <pad>), relative
# to the scale. fairseq rounds cross-attention scores to float32 before its softmax, in a
# float64 model too: a score s then carries an absolute error up to |s| * 6e-8 (float32's
# unit roundoff), each probability the same relative error, and the logits inherit it
# through the decoder's layers with the residual stream's growth (under 10x for the
# tests' random models of <= 2 layers, scores |s| < 10): 6e-8 * 10 * 10 = 6e-6 bounds it.
# In float32 fairseq is held to the transformers bar (both round everything to float32).
FAIRSEQ = {"float64": 6e-6, "float32": 1e-4}

# fbank vs kaldi-native-fbank (float32 raw log-mel), over the recordings' frames.
KNF_MEAN, KNF_P99 = 2e-5, 2e-4

# FeatureExtractor vs transformers' Speech2TextFeatureExtractor after CMVN (unit variance).
HF_FEATURES_MAX = 5e-4

# Beam-search sequence scores vs transformers: relative (float32 scores, long sums).
SEQUENCE_SCORES = 1e-6

# The engine vs the reference (minis2t.engine vs minis2t.reference), whole layers and the
# model, relative to the scale: the same operations in the same library, only the
# association of some sums differs (one 2-D product instead of a stacked one, an item's
# padded keys left out of its softmax sum, beams' queries stacked into one product). Each
# such sum of n terms is within gamma_n = n u of exact, so the two within 2 gamma_n of
# each other (tests/test_engine.py checks each primitive against that); through a few
# layers that is the twin's situation, and the twin's bar holds.
ENGINE = MODEL_TWIN

# onnxruntime running the exported graphs (minis2t export-onnx) vs NumPy, float32, relative
# to the scale (encoder states; logits). Both compute every value in float32 and differ only
# in how they round: the order of the sums inside matrix products (MLAS against OpenBLAS),
# and the kernels onnxruntime fuses (LayerNormalization, Softmax, GELU, MatMul + Add) — the
# same kind of difference as NumPy's from torch's, so the transformers bar holds it. A
# log-probability log_softmax(z)_i = z_i - logsumexp(z) moves by at most twice the largest
# logit change (logsumexp is 1-Lipschitz in the max norm): the tests hold log-probs to
# 2 * ONNX * max(1, |log p|max).
ONNX = {"float32": 1e-4}

"""NumPy front end vs its PyTorch twin, function by function and end to end.

Bars: ``parity.bars.FRONT_END_TWIN`` (float64 1e-9, float32 1e-4). In float64 the two
differ only by the FFT libraries' summation order (~1e-12 on log-mel). In float32 the
power spectrum's rounding is ~1e-7 of a frame's *peak* power, so near-silent bands are
compared in the linear domain (see ``assert_float32_log_mel``). The feature extractor
does its DSP in float64 in both, and rounds to float32 before CMVN.
"""

import numpy as np
import pytest
import torch

from parity import bars
from hypothesis import given
from hypothesis import strategies as st

import minis2t
import minis2t.reference.features as npf
import parity.features as thf
from tests.test_features import signals

BARS = {np.float64: bars.FRONT_END_TWIN["float64"], np.float32: bars.FRONT_END_TWIN["float32"]}
DTYPES = {np.float64: torch.float64, np.float32: torch.float32}


def to_torch(x, dtype):
    return torch.from_numpy(np.ascontiguousarray(x, dtype=dtype))


def assert_twin(ours: np.ndarray, theirs: torch.Tensor, dtype, relative=False):
    """|delta| <= bar; with ``relative``, bar x the tensor's peak (for 16-bit-unit frames)."""
    theirs = theirs.cpu().numpy()
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    scale = max(1.0, float(np.abs(ours).max())) if relative else 1.0
    assert np.abs(ours.astype(np.float64) - theirs).max() <= BARS[dtype] * scale


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(wave=signals(), bins=st.sampled_from([13, 40, 80]), dither=st.sampled_from([0.0, 1.0]))
def test_fbank_and_its_steps(dtype, wave, bins, dither):
    x = wave.astype(dtype)
    t = to_torch(x, dtype)
    frames = npf.frame_signal(npf.scale_waveform(x))
    tframes = thf.frame_signal(thf.scale_waveform(t))
    assert_twin(frames, tframes, dtype, relative=True)
    assert_twin(npf.add_dither(frames, dither, 5), thf.add_dither(tframes, dither, 5), dtype, relative=True)
    assert_twin(npf.remove_dc_offset(frames), thf.remove_dc_offset(tframes), dtype, relative=True)
    assert_twin(npf.preemphasize(frames), thf.preemphasize(tframes), dtype, relative=True)
    assert_twin(npf.povey_window(400, dtype), thf.povey_window(400, DTYPES[dtype]), dtype)
    # the power spectrum is compared relative to its peak: it spans ~1e12 in 16-bit units
    p, tp = npf.power_spectrum(frames), thf.power_spectrum(tframes).numpy()
    assert np.abs(p - tp).max() <= BARS[dtype] * p.max()
    np.testing.assert_allclose(npf.mel_filterbank(bins), thf.mel_filterbank(bins), atol=1e-12)
    ours, theirs = npf.fbank(x, bins, dither, 3), thf.fbank(t, bins, dither, 3)
    if dtype == np.float64:
        assert_twin(ours, theirs, dtype)
    else:
        assert_float32_log_mel(ours, theirs.numpy())


def assert_float32_log_mel(ours, theirs):
    """float32 FFTs carry rounding noise ~1e-7 of a frame's peak power, which dominates
    bands more than ~100 dB below it. So: energies agree to 1e-4 of the frame's peak
    band, and log-mel to 1e-4 on every band within 60 dB (x1e-6) of that peak."""
    e_ours, e_theirs = np.exp(ours.astype(np.float64)), np.exp(theirs.astype(np.float64))
    peak = e_ours.max(axis=1, keepdims=True)  # [T, 1]
    assert np.all(np.abs(e_ours - e_theirs) <= BARS[np.float32] * peak)
    loud = e_ours >= 1e-6 * peak
    assert np.abs(ours - theirs)[loud].max() <= BARS[np.float32]


@st.composite
def batches(draw):
    waves = draw(st.lists(signals(max_len=8000), min_size=1, max_size=4))
    padding = draw(st.sampled_from([True, "longest", "max_length", False]))
    options = dict(padding=padding, pad_to_multiple_of=draw(st.sampled_from([None, 8])))
    if padding == "max_length" or draw(st.booleans()):
        options["max_length"] = draw(st.integers(1, 60))
        options["truncation"] = padding != "max_length" or draw(st.booleans())
    if padding == "max_length" and not options["truncation"]:
        options["max_length"] = max(npf.num_frames(len(w)) for w in waves)
    return waves, options


@given(batch=batches(), bins=st.sampled_from([23, 80]), means=st.booleans(), vars_=st.booleans())
def test_feature_extractor(batch, bins, means, vars_):
    waves, options = batch
    kwargs = dict(num_mel_bins=bins, normalize_means=means, normalize_vars=vars_)
    ours = minis2t.FeatureExtractor(feature_size=bins, **kwargs)(waves, **options)
    theirs = thf.FeatureExtractor(**kwargs)(waves, **options)
    ours_f, theirs_f = ours["input_features"], theirs["input_features"]
    if isinstance(ours_f, list):  # do_not_pad with ragged lengths
        for a, b in zip(ours_f, theirs_f):
            assert_twin(a, b, np.float32)
    else:
        assert_twin(ours_f, theirs_f, np.float32)
        np.testing.assert_array_equal(ours["attention_mask"], theirs["attention_mask"].numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(x=st.integers(0, 2**31).map(lambda s: np.random.default_rng(s).normal(3, 2, (50, 7))))
def test_cmvn(dtype, x):
    x = x.astype(dtype)
    assert_twin(npf.utterance_cmvn(x), thf.utterance_cmvn(to_torch(x, dtype)), dtype)
    const = np.full((20, 3), 7.5, dtype)  # the variance floor: zeros, not NaN
    assert np.all(npf.utterance_cmvn(const) == 0)
    assert torch.all(thf.utterance_cmvn(to_torch(const, dtype)) == 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(seed=st.integers(0, 2**31))
def test_global_cmvn(dtype, seed):
    """fairseq's global CMVN (models whose config.yaml asks for it): both compute in
    float64 and round once to the features' dtype, so they agree to that rounding."""
    rng = np.random.default_rng(seed)
    x = rng.normal(8, 3, (40, 80)).astype(dtype)
    mean, std = rng.normal(8, 2, 80), rng.uniform(0.5, 4, 80)
    assert_twin(npf.global_cmvn(x, mean, std), thf.global_cmvn(to_torch(x, dtype), mean, std), dtype)
    stats = {"mean": mean.tolist(), "std": std.tolist()}
    wave = rng.standard_normal(8000).astype(np.float32) * 0.1
    ours = minis2t.FeatureExtractor(do_ceptral_normalize=False, global_cmvn=stats)(wave)["input_features"]
    theirs = thf.FeatureExtractor(do_ceptral_normalize=False, global_cmvn=stats)(wave)["input_features"]
    assert_twin(ours, theirs, np.float32)

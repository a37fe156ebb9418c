"""Hypothesis fuzz of the public API: whatever the length, dtype, scale (up to 1e300),
rate or shape, each entry point returns a finite result or raises a typed
``MiniS2TError`` — never another exception, never NaN."""

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import minis2t
from minis2t import errors

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
          "bool", "complex64", "object"]  # fmt: skip


@st.composite
def arrays(draw, max_len=6000):
    """Random shapes (rank 0-3, empty axes included), dtypes and scales, with a chance of
    NaN/inf, constants and channel-first layouts."""
    rank = draw(st.sampled_from([1, 1, 1, 1, 2, 0, 3]))
    length = st.one_of(st.integers(400, max_len), st.integers(0, max_len))  # half long enough
    shape = tuple(draw(st.lists(length, min_size=rank, max_size=rank)))
    if rank == 2:
        shape = (shape[0], draw(st.integers(0, 4))) if draw(st.booleans()) else (draw(st.integers(0, 4)), shape[1])
    if rank == 3:
        shape = tuple(min(n, 20) for n in shape)
    dtype = draw(st.sampled_from(["float32", "float64", "int16"] * 3 + DTYPES))
    scale = draw(st.sampled_from([0.5, 1.0, 0.5, 1.0, 0.0, 1e-7, 1e-3, 3.0, 3e4, 1e12, 1e38, 1e300]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    with np.errstate(all="ignore"):
        x = rng.uniform(-1, 1, shape) * scale + draw(st.sampled_from([0.0, 0.0, 0.3]))
    special = draw(st.sampled_from([None, None, np.nan, np.inf, -np.inf]))
    if dtype.startswith("int") or dtype.startswith("uint"):
        with np.errstate(all="ignore"):
            x = x * (np.iinfo(dtype).max / max(scale, 1e-300))  # use the integer range
    if special is not None and x.size and dtype.startswith("float"):
        x.flat[rng.integers(x.size)] = special
    with np.errstate(all="ignore"):
        if dtype == "object":
            return x.astype(object)
        return x.astype(dtype)


RATES = st.one_of(st.sampled_from([None, 8000, 16000, 22050, 44100, 1000, 384000]),
                  st.sampled_from([None, 16000, 11025, 48000]),
                  st.integers(-10, 10**13), st.just(16000.0), st.just(True))  # fmt: skip


def typed_or_finite(call):
    """The result, or None after a typed error; anything else fails the test. The events
    (see --hypothesis-show-statistics) show how many examples got through to a result."""
    try:
        out = call()
    except errors.MiniS2TError as e:
        event(f"refused: {type(e).__name__}")
        return None
    event("result")
    return out


@given(arrays(), RATES)
def test_load_audio(x, rate):
    wave = typed_or_finite(lambda: minis2t.load_audio(x, rate))
    if wave is not None:
        assert wave.dtype == np.float32 and wave.ndim == 1 and np.all(np.isfinite(wave))


@given(arrays(), st.sampled_from([1, 23, 80]), st.sampled_from([0.0, 1.0, float("nan"), -1.0]))
def test_fbank(x, bins, dither):
    out = typed_or_finite(lambda: minis2t.fbank(x, bins, dither=dither, seed=0))
    if out is not None:
        assert out.shape[1] == bins and np.all(np.isfinite(out))


@given(st.lists(arrays(), min_size=1, max_size=3), st.sampled_from([None, 16000, 8000]),
       st.sampled_from(["longest", "max_length", True, False, "nonsense"]), st.sampled_from([None, 0, 50]))  # fmt: skip
def test_feature_extractor(batch, rate, padding, max_length):
    fe = minis2t.FeatureExtractor()
    out = typed_or_finite(lambda: fe(batch, sampling_rate=rate, padding=padding, max_length=max_length))
    if out is not None:
        features = out["input_features"]
        for f in features if isinstance(features, list) else [features]:
            assert np.all(np.isfinite(f))


@pytest.fixture(scope="module")
def bundled():
    return minis2t.Speech2Text.from_pretrained()


@given(arrays(max_len=40000), RATES, st.sampled_from([1, 2]))
def test_transcribe(bundled, x, rate, beams):
    texts = typed_or_finite(lambda: bundled.transcribe(x, sampling_rate=rate, num_beams=beams, max_length=12))
    if texts is not None:
        assert len(texts) == 1 and isinstance(texts[0], str)


@given(st.one_of(st.binary(max_size=3000), st.text(max_size=50)))
def test_load_audio_of_arbitrary_bytes_and_strings(data):
    wave = typed_or_finite(lambda: minis2t.load_audio(data))
    if wave is not None:
        assert np.all(np.isfinite(wave))

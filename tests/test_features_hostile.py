"""Hostile input to the front end (fbank, FeatureExtractor): typed errors, never NaN
features."""

import numpy as np
import pytest

import minis2t
from minis2t import errors


def test_fbank_refuses_nan_dither_and_integers():
    wave = np.random.default_rng(0).uniform(-.1, .1, 4000).astype(np.float32)
    for dither in (float("nan"), -1.0, float("inf")):
        with pytest.raises(errors.FeatureError, match="dither"):
            minis2t.fbank(wave, dither=dither)
    with pytest.raises(errors.AudioDtypeError, match="integer"):
        minis2t.fbank((wave * 3e4).astype(np.int16))


def test_largest_accepted_amplitude_gives_finite_features():
    wave = np.random.default_rng(0).uniform(-1, 1, 4000) * 2.0**32
    assert np.all(np.isfinite(minis2t.fbank(minis2t.load_audio(wave))))
    assert np.all(np.isfinite(minis2t.FeatureExtractor()(wave)["input_features"]))


def test_channels_last_array_in_the_feature_extractor_is_named():
    stereo = np.random.default_rng(0).uniform(-.1, .1, (8000, 2))
    with pytest.raises(errors.AudioShapeError, match="channels"):
        minis2t.FeatureExtractor()(stereo)

"""minis2t.load_audio: files, arrays, channels, rates, integer PCM, and every error path."""

import math

import numpy as np
import pytest
import soundfile

import minis2t
from minis2t import errors


def test_loads_every_bundled_recording_as_16k_mono_float32(recording):
    wave = minis2t.load_audio(recording["path"])
    rate = int(recording["sample_rate"])
    frames = int(recording["frames"])
    assert wave.dtype == np.float32 and wave.ndim == 1 and wave.flags.c_contiguous
    assert wave.shape[0] == math.ceil(frames * 16000 / rate)
    assert 0.0 < np.abs(wave).max() <= 1.05  # resampling may overshoot full scale a little


def test_file_samples_equal_soundfile_int16_scaled(recording):
    raw, rate = soundfile.read(recording["path"], dtype="int16")
    wave = minis2t.load_audio(recording["path"])
    expected = raw.astype(np.float32) / 32768
    if rate != 16000:  # the same samples through the same resampler
        expected = minis2t.resample(expected, rate, 16000)
    np.testing.assert_array_equal(wave, expected)


@pytest.mark.parametrize(
    "dtype, full_scale", [(np.int16, 2**15), (np.int32, 2**31), (np.int8, 2**7)]
)
def test_integer_pcm_is_scaled_by_its_type_not_by_the_data(dtype, full_scale):
    pcm = (np.arange(1000) % 7 - 3).astype(dtype)  # tiny values: a data-driven guess would fail
    wave = minis2t.load_audio(pcm, 16000)
    np.testing.assert_array_equal(wave, pcm.astype(np.float32) / full_scale)


def test_uint8_is_centred_on_128():
    pcm = np.array([0, 128, 255] * 200, dtype=np.uint8)
    wave = minis2t.load_audio(pcm)
    np.testing.assert_allclose(wave[:3], [-1.0, 0.0, 127 / 128])


def test_float_arrays_are_taken_as_they_are_and_not_modified():
    x = np.random.default_rng(0).uniform(-3, 3, 2000)  # out of [-1, 1]: no rescaling guessed
    before = x.copy()
    wave = minis2t.load_audio(x, 16000)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(wave, x.astype(np.float32))
    wave[:] = 0
    np.testing.assert_array_equal(x, before)


def test_channels_are_averaged():
    rng = np.random.default_rng(1)
    stereo = rng.uniform(-0.5, 0.5, (4000, 2)).astype(np.float32)
    np.testing.assert_allclose(minis2t.load_audio(stereo), stereo.mean(axis=1), atol=1e-7)


def test_stereo_file_is_averaged(tmp_path):
    rng = np.random.default_rng(2)
    stereo = (rng.uniform(-0.5, 0.5, (8000, 2)) * 32767).astype(np.int16)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, stereo, 16000, subtype="PCM_16")
    expected = (stereo.astype(np.float32) / 32768).mean(axis=1)
    np.testing.assert_allclose(minis2t.load_audio(path), expected, atol=1e-7)


@pytest.mark.parametrize("rate", [44100, 22050, 8000, 48000, 11025])
def test_resampling_length_and_content(rate):
    seconds = 0.75
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440.0 * t)  # well below every Nyquist
    wave = minis2t.load_audio(tone, rate)
    assert wave.shape[0] == math.ceil(tone.shape[0] * 16000 / rate)
    t16 = np.arange(wave.shape[0]) / 16000
    middle = slice(800, -800)  # the polyphase filter's edges are transients
    np.testing.assert_allclose(
        wave[middle], 0.5 * np.sin(2 * np.pi * 440.0 * t16)[middle], atol=2e-3
    )


def test_file_and_array_at_the_same_rate_agree(tmp_path):
    rng = np.random.default_rng(3)
    pcm = (rng.uniform(-0.3, 0.3, 22050) * 32767).astype(np.int16)
    path = tmp_path / "x.wav"
    soundfile.write(path, pcm, 22050, subtype="PCM_16")
    np.testing.assert_allclose(minis2t.load_audio(path), minis2t.load_audio(pcm, 22050), atol=1e-7)


@pytest.mark.parametrize("fmt", ["FLAC", "OGG"])
def test_flac_and_ogg_are_read(tmp_path, fmt):
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    path = tmp_path / f"x.{fmt.lower()}"
    soundfile.write(path, tone, 16000, format=fmt)
    wave = minis2t.load_audio(path)
    assert wave.shape == (16000,)
    atol = 5e-4 if fmt == "FLAC" else 0.05  # FLAC 16-bit is lossless; Vorbis is lossy
    np.testing.assert_allclose(wave, tone, atol=atol)


# --- errors -----------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(errors.AudioFileError, match="not found"):
        minis2t.load_audio(tmp_path / "nope.wav")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(errors.AudioFileError, match="directory"):
        minis2t.load_audio(tmp_path)


def test_unreadable_file(tmp_path):
    path = tmp_path / "text.wav"
    path.write_text("this is not audio")
    with pytest.raises(errors.AudioFileError, match="cannot decode"):
        minis2t.load_audio(path)


def test_truncated_file(tmp_path, recording):
    data = recording["path"].read_bytes()[:30]
    path = tmp_path / recording["file"]
    path.write_bytes(data)
    with pytest.raises(errors.AudioError):
        minis2t.load_audio(path)


def test_rate_that_contradicts_the_file(recording):
    with pytest.raises(errors.SamplingRateError, match="Hz"):
        minis2t.load_audio(recording["path"], sampling_rate=12345)


@pytest.mark.parametrize("bad", [0, -16000, 16000.0, True, "16000"])
def test_bad_rates(bad):
    with pytest.raises(errors.SamplingRateError):
        minis2t.load_audio(np.zeros(1000, np.float32), bad)


@pytest.mark.parametrize("x", [np.zeros(0, np.float32), np.zeros((0, 2), np.float32)])
def test_empty(x):
    with pytest.raises(errors.EmptyAudioError):
        minis2t.load_audio(x)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, np.int16), 16000)
    with pytest.raises(errors.EmptyAudioError):
        minis2t.load_audio(path)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite(value):
    x = np.zeros(2000, np.float32)
    x[1234] = value
    with pytest.raises(errors.NonFiniteAudioError, match="1234"):
        minis2t.load_audio(x)


def test_shorter_than_one_frame_after_resampling():
    minis2t.load_audio(np.zeros(400, np.float32))  # exactly one frame is fine
    with pytest.raises(errors.AudioTooShortError, match="400"):
        minis2t.load_audio(np.zeros(399, np.float32))
    with pytest.raises(errors.AudioTooShortError):  # 1000 samples at 44.1 kHz -> 363 at 16 kHz
        minis2t.load_audio(np.zeros(1000, np.float32), 44100)


@pytest.mark.parametrize("shape", [(), (2, 3, 400)])
def test_wrong_rank(shape):
    with pytest.raises(errors.AudioShapeError):
        minis2t.load_audio(np.zeros(shape, np.float32))


def test_channel_first_array_is_refused_with_a_hint():
    with pytest.raises(errors.AudioShapeError, match="x.T"):
        minis2t.load_audio(np.zeros((2, 16000), np.float32))


@pytest.mark.parametrize("x", [np.zeros(1000, bool), np.zeros(1000, complex), np.array(["a"] * 500)])
def test_wrong_dtype(x):
    with pytest.raises(errors.AudioDtypeError):
        minis2t.load_audio(x)


def test_errors_are_value_errors_with_one_base():
    assert issubclass(errors.AudioFileError, minis2t.MiniS2TError)
    assert issubclass(minis2t.MiniS2TError, ValueError)

"""Hostile audio — absurd rates and headers, truncated files, silence, huge amplitudes,
bytes and file objects — gets a typed error, fast and within a memory cap; never a
traceback, an exhausted machine, or a wrong or empty answer in silence. Each case was
found by feeding the public API and the command a list of bad inputs (issue: "no input
that crashes, exhausts memory or returns a wrong answer in silence"); the other stages'
hostile inputs are beside them (test_checkpoint_hostile, test_features_hostile,
test_pipeline_hostile, test_cli_hostile).

Cases that could allocate without bound run in a child process capped at its imports plus
1 GiB (tests/bounded.py), so a regression fails here instead of killing the machine.
"""

import io
import struct

import numpy as np
import pytest
import soundfile

import minis2t
from minis2t import errors
from tests.bounded import assert_refused, run_bounded
from tests.builders import GOOD, GOOD_TEXT, wav_bytes, with_header_rate


# --- memory and time bounded before any work ----------------------------------------------


@pytest.mark.parametrize("rate", [10**12, 1, 0, -16000])
def test_absurd_array_rates_are_refused_before_resampling(rate):
    result = run_bounded(f"minis2t.load_audio(np.zeros(16000, np.float32), {rate})")
    assert_refused(result, "SamplingRateError", "sampling_rate")


def test_transcribe_with_absurd_rate_is_refused_within_the_cap():
    result = run_bounded("""
        model = minis2t.Speech2Text.from_pretrained()
        model.transcribe(np.random.default_rng(0).uniform(-.1, .1, 16000), sampling_rate=1)
    """)
    assert_refused(result, "SamplingRateError", "1 Hz")


def test_wav_header_at_1_hz_is_refused_from_the_header(tmp_path):
    path = tmp_path / "one_hz.wav"
    path.write_bytes(with_header_rate(wav_bytes(0.5), 1))
    result = run_bounded(f"minis2t.Speech2Text.from_pretrained().transcribe({str(path)!r})")
    assert_refused(result, "SamplingRateError", "declares 1 Hz")


def test_audio_longer_than_the_model_is_refused_from_the_header(tmp_path):
    """A valid 2-minute file against the bundled model's 60 s: refused before decoding."""
    path = tmp_path / "long.wav"
    soundfile.write(path, np.zeros(16000 * 120, np.int16), 16000)
    result = run_bounded(f"minis2t.Speech2Text.from_pretrained().transcribe({str(path)!r})", 256)
    assert_refused(result, "InputTooLongError", "Split the audio")
    assert "AudioTooLongError" in result["mro"]


# --- no wrong or empty answer in silence ----------------------------------------------------


def test_truncated_wav_is_refused_not_transcribed_in_part(tmp_path):
    data = GOOD.read_bytes()
    path = tmp_path / "half.wav"
    path.write_bytes(data[: len(data) // 2])
    assert soundfile.info(path).frames > 0  # libsndfile alone reads the first half silently
    with pytest.raises(errors.AudioFileError, match="truncated"):
        minis2t.load_audio(path)


def test_truncated_flac_is_refused(tmp_path):
    path = tmp_path / "a.flac"
    soundfile.write(path, np.random.default_rng(0).uniform(-.3, .3, 32000), 16000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(errors.AudioFileError):
        minis2t.load_audio(path)


def test_streamed_wav_with_open_size_is_read(tmp_path):
    """Writers to pipes put 0xFFFFFFFF in the size fields: not truncation."""
    data = bytearray(wav_bytes(0.5))
    data[4:8] = data[40:44] = struct.pack("<I", 0xFFFFFFFF)
    assert minis2t.load_audio(bytes(data)).shape[0] == 8000


def test_sampling_rate_applies_to_every_kind_of_samples(bundled):
    wave8k = minis2t.load_audio(GOOD)[::2].copy()  # 8 kHz
    as_array = bundled.transcribe(wave8k, sampling_rate=8000)
    assert bundled.transcribe(wave8k.tolist(), sampling_rate=8000) == as_array  # one recording
    assert bundled.transcribe([wave8k, wave8k.tolist()], sampling_rate=8000) == as_array * 2
    with pytest.raises(errors.SamplingRateError, match="sampled at 16000"):
        bundled.transcribe(str(GOOD), sampling_rate=8000)  # contradicts the file


@pytest.mark.parametrize("signal", [
    np.full(16000, 0.25), np.full(16000, -1e-3), np.zeros(16000),
    np.random.default_rng(0).uniform(-1e-6, 1e-6, 16000) + 0.1,
])  # fmt: skip
def test_constant_and_sub_lsb_signals_are_silence(bundled, signal):
    """A constant gives the same features as zeros (each frame's mean is removed), and noise
    below half a 16-bit step would be zeros once stored as 16-bit PCM."""
    with pytest.raises(errors.SilentAudioError, match="silence"):
        bundled.transcribe(signal.astype(np.float32))


def test_quiet_but_real_signal_is_transcribed(bundled):
    """-60 dBFS speech is above the silence rule: CMVN makes the level irrelevant."""
    wave = minis2t.load_audio(GOOD)
    assert bundled.transcribe(wave * (1e-3 / np.abs(wave).max())) == [GOOD_TEXT]


# --- typed and accurate errors ------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1e12, 1e38, 1e300])
def test_huge_amplitudes_are_refused_not_nan(scale):
    wave = np.random.default_rng(0).uniform(-1, 1, 4000) * scale
    with pytest.raises(errors.AudioRangeError, match="2\\*\\*32"):
        minis2t.load_audio(wave)
    with pytest.raises(errors.AudioRangeError):
        minis2t.FeatureExtractor()(wave)
    if scale < 3e38:
        with pytest.raises(errors.AudioRangeError):
            minis2t.fbank(wave.astype(np.float32))


def test_messages_say_what_happened(tmp_path):
    with pytest.raises(errors.AudioFileError, match="is a URL; minis2t does not download"):
        minis2t.load_audio("https://example.com/a.wav")
    with pytest.raises(errors.AudioFileError, match="pass it as str"):
        minis2t.load_audio(str(GOOD).encode())  # a path given as bytes
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(errors.AudioFileError) as caught:
        minis2t.load_audio(junk)
    message = str(caught.value)
    assert ".." not in message and "sox in.mp3" not in message and "ffmpeg" in message


# --- inputs users have -------------------------------------------------------------------------


def test_bytes_and_binary_file_objects_are_audio(bundled):
    expected = minis2t.load_audio(GOOD)
    np.testing.assert_array_equal(minis2t.load_audio(GOOD.read_bytes()), expected)
    with open(GOOD, "rb") as f:
        np.testing.assert_array_equal(minis2t.load_audio(f), expected)
    assert bundled.transcribe([GOOD.read_bytes(), io.BytesIO(GOOD.read_bytes())]) == [GOOD_TEXT] * 2

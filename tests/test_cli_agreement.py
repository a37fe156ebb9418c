"""The command and the Python API agree on every recording (issue 32).

Hypothesis writes recordings the way users have them go wrong — a NaN or an infinity at
any position, any length (none, less than one 25 ms frame, a few seconds), digital
silence, a DC offset, anti-phase channels, clipping, sub-LSB noise, rates from 1 kHz to
384 kHz, one or two channels, 16-bit or float files — and asserts, for each one, that

* ``Speech2Text.transcribe`` (the whole file at once) and ``Speech2Text.transcribe_long``
  (blocks, as the command reads) raise the same typed error, or both succeed;
* the command (``--output-format json``) reports that same error type and message for
  the file, exits 1 when it failed and 0 otherwise, and its text is ``transcribe_long``'s;
* the bytes of the file and the file object give ``transcribe_long``'s answer too, and
  the samples themselves (an array, for files that hold them exactly) the same error.

All of them go through :class:`minis2t.io.audio_checks.AudioCheck`; this test is what keeps a new
entry point from skipping it.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile
from hypothesis import event, given, settings
from hypothesis import strategies as st

import minis2t
from minis2t import errors
from minis2t.app.cli import main
from minis2t.app.pipeline import BUNDLED_MODEL

SPEECH = minis2t.load_audio(BUNDLED_MODEL.parent / "samples" / "test_00.wav")  # float32 [N] at 16 kHz
MODEL = minis2t.Speech2Text.from_pretrained()
RATES = [1_000, 8_000, 16_000, 22_050, 44_100, 48_000, 384_000]


@st.composite
def recordings(draw):
    """``(samples [N, C] float64, rate, subtype)``: a signal of one kind, maybe damaged."""
    rate = draw(st.sampled_from(RATES))
    # lengths around the 400-samples-at-16-kHz floor, and up to 3 s
    floor = -(-400 * rate // 16000)
    frames = draw(st.one_of(st.integers(0, floor + 2), st.integers(floor, 3 * rate)))
    kind = draw(st.sampled_from(["speech", "noise", "tone", "silence", "dc", "sub_lsb", "clipped"]))
    t = np.arange(frames) / rate
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    signal = {
        "speech": lambda: np.resize(SPEECH, frames).astype(np.float64),  # played at `rate`
        "noise": lambda: rng.uniform(-0.5, 0.5, frames),
        "tone": lambda: 0.3 * np.sin(2 * np.pi * 440 * t),
        "silence": lambda: np.zeros(frames),
        "dc": lambda: np.full(frames, draw(st.floats(-1, 1, allow_nan=False))),
        "sub_lsb": lambda: 0.2 + rng.uniform(-1e-5, 1e-5, frames),
        "clipped": lambda: np.clip(3 * np.resize(SPEECH, frames), -1, 1),
    }[kind]()
    channels = draw(st.sampled_from(["mono", "stereo", "anti_phase"]))
    if channels == "mono":
        samples = signal[:, None]
    else:
        other = -signal if channels == "anti_phase" else np.roll(signal, 7)
        samples = np.stack([signal, other], axis=1)
    subtype = draw(st.sampled_from(["FLOAT", "DOUBLE", "PCM_16"]))
    damage = draw(st.sampled_from([None, None, None, "nan", "inf", "-inf", "huge"]))
    if damage and frames and subtype != "PCM_16":  # 16-bit files cannot hold them
        at = draw(st.integers(0, frames - 1))
        channel = draw(st.integers(0, samples.shape[1] - 1))
        samples = samples.copy()
        samples[at, channel] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "huge": 1e11}[damage]
    return samples, rate, subtype


def outcome(call, *args):
    """``("ok", text)`` or ``(error type name, message)``."""
    try:
        result = call(*args)
    except errors.MiniS2TError as e:
        return type(e).__name__, str(e)
    return "ok", result["text"] if isinstance(result, dict) else result[0]


def command(path: str) -> tuple[int, dict]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["transcribe", path, "--output-format", "json", "--quiet", "--no-word-timestamps"])
    assert "Traceback" not in err.getvalue() and "Warning" not in err.getvalue(), err.getvalue()
    return status, json.loads(out.getvalue())[0]


@settings(max_examples=max(40, settings().max_examples))  # each example is a few file reads and decodes
@given(recordings())
def test_the_command_and_the_api_agree_on_every_recording(recording):
    samples, rate, subtype = recording
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "x.wav")
        soundfile.write(path, samples, rate, subtype=subtype)
        whole = outcome(MODEL.transcribe, path)
        long_form = outcome(lambda p: MODEL.transcribe_long(p, word_timestamps=False), path)
        data = Path(path).read_bytes()
        from_bytes = outcome(lambda d: MODEL.transcribe_long(d, word_timestamps=False), data)
        from_file_object = outcome(lambda d: MODEL.transcribe_long(io.BytesIO(d), word_timestamps=False), data)
        status, row = command(path)
    event(long_form[0])  # --hypothesis-show-statistics: how many of each outcome were drawn
    assert whole[0] == long_form[0], (whole, long_form)
    if long_form[0] == "ok":
        assert status == 0 and "error" not in row and row["text"] == long_form[1]
    else:
        assert status == 1 and (row["error_type"], row["error"]) == long_form
        assert whole[1] == long_form[1]  # the same message, naming the same file
    # bytes and file objects are named differently in messages ("the N bytes given"), so
    # only their outcome's type, and their text, are compared
    for other in (from_bytes, from_file_object):
        assert other[0] == long_form[0] and (other[0] != "ok" or other[1] == long_form[1])
    # the file holds the array's exact values: as samples, the same error (arrays with more
    # channels than frames are refused as channel-first [C, N], a rule files do not need)
    if subtype == "DOUBLE" and samples.shape[0] >= samples.shape[1]:
        # (only the type: decoders give float32, the array stays float64, so texts may differ
        # where a segment boundary falls within rounding)
        as_array = samples[:, 0] if samples.shape[1] == 1 else samples
        assert outcome(MODEL.transcribe, as_array, rate)[0] == whole[0]
        assert outcome(lambda a, r: MODEL.transcribe_long(a, r, word_timestamps=False), as_array, rate)[0] == whole[0]

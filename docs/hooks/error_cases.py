"""The bad inputs shown on the docs' error page, each run at build time: the table says
what minis2t really raises today, with its real message."""

from __future__ import annotations

import io
import json
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import soundfile

import minis2t
from minis2t.app.pipeline import BUNDLED_MODEL

SAMPLE = BUNDLED_MODEL.parent / "samples" / "test_00.wav"
ROOT = Path(__file__).resolve().parents[2]


def _wav(seconds: float, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    x = np.random.default_rng(0).uniform(-0.3, 0.3, int(seconds * rate)).astype(np.float32)
    soundfile.write(out, x, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def _header_rate(data: bytes, rate: int) -> bytes:
    out = bytearray(data)
    out[24:28], out[28:32] = struct.pack("<I", rate), struct.pack("<I", 2 * rate)
    return bytes(out)


def _damaged(work: Path, name: str, change) -> str:
    model = work / name
    shutil.copytree(BUNDLED_MODEL, model)
    change(model)
    return str(model)


def _edit(file: str, **values):
    def change(model: Path):
        path = model / file
        path.write_text(json.dumps({**json.loads(path.read_text()), **values}))
    return change


def cases(work: Path):
    """``(what the user did, a function doing it)`` pairs."""
    model = minis2t.Speech2Text.from_pretrained()
    truncated = work / "half.wav"
    truncated.write_bytes(SAMPLE.read_bytes()[: SAMPLE.stat().st_size // 2])
    one_hz = work / "one_hz.wav"
    one_hz.write_bytes(_header_rate(_wav(0.5), 1))
    long = work / "long.wav"
    soundfile.write(long, np.zeros(16000 * 90, np.int16), 16000)
    noise = np.random.default_rng(0).uniform(-1e-6, 1e-6, 16000)

    def nan_weight(d: Path):
        from safetensors.numpy import load_file, save_file
        tensors = load_file(d / "model.safetensors")
        tensors["model.encoder.layers.0.fc1.weight"] = tensors["model.encoder.layers.0.fc1.weight"].copy()
        tensors["model.encoder.layers.0.fc1.weight"][0, 0] = np.nan
        save_file(tensors, d / "model.safetensors")

    def flipped(d: Path):
        raw = bytearray((d / "model.safetensors").read_bytes())
        raw[200_000:204_096] = bytes(b ^ 0xFF for b in raw[200_000:204_096])
        (d / "model.safetensors").write_bytes(bytes(raw))

    def no_d_model(d: Path):
        values = json.loads((d / "config.json").read_text())
        del values["d_model"]
        (d / "config.json").write_text(json.dumps(values))

    return [
        ("a missing file", lambda: minis2t.load_audio("missing.wav")),
        ("a URL", lambda: minis2t.load_audio("https://example.com/a.wav")),
        ("a path given as bytes", lambda: minis2t.load_audio(str(SAMPLE).encode())),
        ("a WAV cut to half its declared length", lambda: minis2t.load_audio(truncated)),
        ("a WAV whose header says 1 Hz", lambda: minis2t.load_audio(one_hz)),
        ("`sampling_rate=10**12` for an array", lambda: minis2t.load_audio(np.zeros(16000), 10**12)),
        ("a file and a `sampling_rate` that contradicts it", lambda: minis2t.load_audio(SAMPLE, 8000)),
        ("90 s of audio for the bundled model (60 s at most)", lambda: model.transcribe(str(long))),
        ("an empty array", lambda: minis2t.load_audio(np.zeros(0, np.float32))),
        ("200 samples (less than one 25 ms frame)", lambda: minis2t.load_audio(np.zeros(200, np.float32))),
        ("a NaN sample", lambda: minis2t.load_audio(np.array([0.1] * 999 + [np.nan]))),
        ("float samples of 1e300", lambda: minis2t.load_audio(np.full(2000, 1e300))),
        ("a channel-first array [2, N]", lambda: minis2t.load_audio(np.zeros((2, 16000), np.float32))),
        ("strings as samples", lambda: minis2t.load_audio(np.array(["a", "b"]))),
        ("digital silence", lambda: model.transcribe(np.zeros(16000, np.float32))),
        ("a constant (DC) signal", lambda: model.transcribe(np.full(16000, 0.25, np.float32))),
        ("noise at 1e-6 (below half a 16-bit step)", lambda: model.transcribe(noise)),
        ("integer samples to `fbank`", lambda: minis2t.fbank(np.zeros(800, np.int16))),
        ("`fbank(..., dither=nan)`", lambda: minis2t.fbank(np.zeros(800, np.float32), dither=float("nan"))),
        ("a stereo [N, 2] array to `FeatureExtractor`", lambda: minis2t.FeatureExtractor()(np.zeros((8000, 2)))),
        ("`length_penalty=nan`", lambda: model.transcribe(str(SAMPLE), length_penalty=float("nan"))),
        ("`forced_bos_token_id=10**6`", lambda: model.transcribe(str(SAMPLE), forced_bos_token_id=10**6)),
        ("`min_length` > `max_length`", lambda: model.transcribe(str(SAMPLE), min_length=30, max_length=20)),
        ("`max_length` beyond the decoder's positions", lambda: model.transcribe(str(SAMPLE), max_length=500)),
        ("`num_beams=0`", lambda: model.transcribe(str(SAMPLE), num_beams=0)),
        ("`language=\"fr\"` for an English-only model", lambda: model.transcribe(str(SAMPLE), language="fr")),
        ("a NaN weight", lambda: minis2t.load_checkpoint(_damaged(work, "nan", nan_weight))),
        ("4 KB of bit-flipped weight bytes", lambda: minis2t.load_checkpoint(_damaged(work, "flip", flipped))),
        ("`config.json` without `d_model`", lambda: minis2t.load_checkpoint(_damaged(work, "no_d", no_d_model))),
        ("`max_source_positions: 1000000000`", lambda: minis2t.load_checkpoint(_damaged(
            work, "huge", _edit("config.json", max_source_positions=10**9)))),
        ("a `vocab.json` holding a list", lambda: minis2t.Speech2Text.from_pretrained(_damaged(
            work, "vocab", lambda d: (d / "vocab.json").write_text("[1, 2]")))),
        ("a corrupt `preprocessor_config.json`", lambda: minis2t.Speech2Text.from_pretrained(_damaged(
            work, "pre", lambda d: (d / "preprocessor_config.json").write_text("{")))),
        ("a model directory that does not exist", lambda: minis2t.load_checkpoint("./nowhere")),
    ]


def table() -> str:
    rows = ["| what was given | error | message |", "| --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        for what, call in cases(Path(tmp)):
            try:
                call()
                error, message = "*(none: accepted)*", ""
            except minis2t.MiniS2TError as e:
                error, message = f"`{type(e).__name__}`", str(e).replace(tmp, "…").replace(str(ROOT) + "/", "").replace("|", "\\|")
            rows.append(f"| {what} | {error} | {message} |")
    return "\n".join(rows) + "\n"


def classes() -> str:
    """Every error type, its parent and its docstring, from minis2t.errors itself."""
    from minis2t import errors

    rows = ["| error | is a | raised when |", "| --- | --- | --- |"]
    for name in dir(errors):
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.MiniS2TError):
            parents = ", ".join(f"`{b.__name__}`" for b in cls.__bases__)
            doc = " ".join((cls.__doc__ or "").split())
            rows.append(f"| `{name}` | {parents} | {doc} |")
    return "\n".join(rows) + "\n"

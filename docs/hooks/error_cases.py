"""The bad inputs shown on the docs' error page, each run at build time: the table says
what minis2t really raises today, with its real message."""

from __future__ import annotations

import io
import json
import re
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
    media = _hostile_media(work, minis2t.load_audio(SAMPLE))

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
        ("`config.json` asking for 10⁹ encoder layers", lambda: minis2t.load_checkpoint(_damaged(
            work, "layers", _edit("config.json", encoder_layers=10**9)))),
        ("`Speech2Text.from_pretrained(threads=100000)`",
         lambda: minis2t.Speech2Text.from_pretrained(threads=10**5)),
        ("an Ogg/Vorbis file cut at 60 %", lambda: minis2t.load_audio(media["ogg_cut"])),
        ("an MP3 cut between two frames", lambda: model.transcribe_long(media["mp3_between"])),
        ("an Ogg/Opus file of 128 channels", lambda: minis2t.load_audio(media["opus_128"])),
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


# --- the command ---------------------------------------------------------------------------------


def _run_command(argv: list[str], stdin: bytes | None = None) -> tuple[int, str]:
    """``minis2t ARGV`` in this process: (exit status, what it wrote to stderr)."""
    import contextlib
    import sys

    from minis2t.app.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        data = io.BytesIO(stdin)
        data.name = "<stdin>"
        sys.stdin = io.TextIOWrapper(data)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    finally:
        sys.stdin = old_stdin
    return status, err.getvalue()


def command_cases(work: Path) -> list[tuple[str, list[str], bytes | None]]:
    """``(situation, the command's arguments, standard input)``: every error the command
    gives — usage errors (exit 2, before any file is read) and a file's errors (exit 1,
    the other files go on). ``tests/test_cli.py`` checks that every ``raise`` in
    ``minis2t/app/cli.py`` and every audio error type appears."""
    good = str(SAMPLE)
    taken = work / "taken"
    taken.write_text("x")
    for d in ("a", "b"):
        (work / d).mkdir(exist_ok=True)
        shutil.copy(SAMPLE, work / d / "x.wav")
    model_dir = _damaged(work, "cmd_vocab", lambda d: (d / "vocab.json").write_text("[1, 2]"))
    silent_model = _damaged(work, "cmd_silent", _edit("generation_config.json", forced_bos_token_id=2))

    def wav(name: str, samples, rate: int = 16000, subtype: str = "FLOAT") -> str:
        path = work / name
        soundfile.write(path, np.asarray(samples, np.float32), rate, subtype=subtype)
        return str(path)

    speech = minis2t.load_audio(SAMPLE)
    empty = work / "empty.wav"
    empty.write_bytes(b"")
    junk = work / "notes.wav"
    junk.write_text("not audio at all " * 20)
    truncated = work / "half.wav"
    truncated.write_bytes(SAMPLE.read_bytes()[: SAMPLE.stat().st_size // 2])
    out_dir = work / "out"
    (out_dir / "test_00.json").mkdir(parents=True, exist_ok=True)
    one_hz = work / "one_hz.wav"
    one_hz.write_bytes(_header_rate(_wav(0.5), 1))
    video = _video_without_sound(work / "video.mp4")
    media = _hostile_media(work, speech)
    layers = _damaged(work, "cmd_layers", _edit("config.json", encoder_layers=10**9))
    nested = _damaged(work, "cmd_nested", lambda d: (d / "vocab.json").write_text("[" * 100_000 + "]" * 100_000))
    calibration = _damaged(work, "cmd_true", _edit("confidence.json", threshold=True))
    manifest = work / "manifest.tsv"
    manifest.write_text(f"path\n{good}\n")
    t = ["transcribe"]
    return [
        # usage errors: exit 2
        ("an option's value is not a positive integer", [*t, good, "--beams", "0"], None),
        ("an unknown option", [*t, good, "--best_of", "5"], None),
        ("`--output-dir` names a file", [*t, good, "--output-dir", str(taken)], None),
        ("`--output-dir` cannot be created", [*t, good, "--output-dir", "/proc/self/out"], None),
        ("`--output-dir` cannot be written in", [*t, good, "--output-dir", "/proc/self"], None),
        ("two inputs would write the same output files", [*t, str(work / "a" / "x.wav"), str(work / "b" / "x.wav"),
                                                          "--output-dir", str(work / "o")], None),
        ("`--output-format all` (or srt/vtt for several files) without `--output-dir`",
         [*t, good, "--output-format", "all"], None),
        ("`--max-line-width` without subtitles", [*t, good, "--max-line-width", "30"], None),
        ("`--max-line-count` with `--no-word-timestamps`",
         [*t, good, "--output-format", "srt", "--max-line-count", "2", "--no-word-timestamps"], None),
        ("standard input named twice", [*t, "-", "-"], None),
        ("`--device cuda`", [*t, good, "--device", "cuda"], None),
        ("a model directory that does not exist", [*t, good, "--model", str(work / "nowhere")], None),
        ("a damaged model directory", [*t, good, "--model", model_dir], None),
        ("`--language` for a monolingual model (whisper's meaning)", [*t, good, "--language", "en"], None),
        ("`--task translate` for a recogniser", [*t, good, "--task", "translate"], None),
        ("`--task transcribe` for a translation model",
         [*t, good, "--model", "bundled-st", "--task", "transcribe", "--language", "de"], None),
        ("a translation model without `--language`", [*t, good, "--model", "bundled-st"], None),
        ("a language the translation model was not trained for",
         [*t, good, "--model", "bundled-st", "--language", "ja"], None),
        ("`--max-length` beyond the decoder's positions", [*t, good, "--max-length", "100000"], None),
        ("`--threads` beyond the cores this process may run on", [*t, good, "--threads", "100000"], None),
        ("`minis2t corpus --workers` beyond the cores",
         ["corpus", str(manifest), "--output", str(work / "o.jsonl"), "--workers", "100000"], None),
        ("`config.json` asks for 10⁹ encoder layers", [*t, good, "--model", layers], None),
        ("a `vocab.json` nested 100 000 levels deep", [*t, good, "--model", nested], None),
        ("`confidence.json` with `\"threshold\": true`", [*t, good, "--model", calibration], None),
        # a file's errors: exit 1, the other files go on
        ("a missing file", [*t, str(work / "missing.wav")], None),
        ("a URL", [*t, "https://example.com/a.wav"], None),
        ("a directory", [*t, str(work)], None),
        ("a 0-byte file", [*t, str(empty)], None),
        ("0 bytes on standard input", [*t, "-"], b""),
        ("a file no decoder reads", [*t, str(junk)], None),
        ("a WAV cut to half its declared length", [*t, str(truncated)], None),
        ("a video without an audio track", [*t, video], None),
        ("an Ogg/Vorbis file cut at 60 %", [*t, media["ogg_cut"]], None),
        ("an Ogg file with damaged middle pages", [*t, media["ogg_damaged"]], None),
        ("an MP3 cut at 60 %", [*t, media["mp3_cut"]], None),
        ("an MP3 cut between two frames (its Info header counts more)", [*t, media["mp3_between"]], None),
        ("an M4A cut at half (before its index)", [*t, media["m4a_cut"]], None),
        ("an M4A with its index first (`+faststart`), cut at 60 %", [*t, media["m4a_first_cut"]], None),
        ("an MPEG-TS file cut inside a packet", [*t, media["ts_cut"]], None),
        ("an AIFF file cut at 60 %", [*t, media["aiff_cut"]], None),
        ("a WebM cut at half", [*t, media["webm_cut"]], None),
        ("an Ogg/Opus file of 128 channels", [*t, media["opus_128"]], None),
        ("a WAV whose header says 1 Hz", [*t, str(one_hz)], None),
        ("a NaN sample", [*t, wav("nan.wav", np.r_[speech[:-1], np.nan])], None),
        ("an infinite sample in one channel", [*t, wav("inf.wav", np.stack([speech, np.r_[speech[:9], np.inf, speech[10:]]], 1))], None),
        ("a sample of 1e11 (float audio far outside [-1, 1])", [*t, wav("huge.wav", np.r_[speech[:-1], 1e11])], None),
        ("200 samples (less than one 25 ms frame)", [*t, wav("short.wav", speech[:200])], None),
        ("a WAV header with no samples", [*t, wav("nothing.wav", np.zeros(0))], None),
        ("digital silence", [*t, wav("zeros.wav", np.zeros(16000), subtype="PCM_16")], None),
        ("anti-phase stereo (the channels cancel)", [*t, wav("anti.wav", np.stack([speech, -speech], 1))], None),
        ("a constant (DC) signal", [*t, wav("dc.wav", np.full(16000, 0.25))], None),
        ("an output file that cannot be written", [*t, good, "--output-dir", str(out_dir), "--output-format", "json"], None),
        # not an error: a warning, the file is counted and its outputs are written
        ("a recording in which the model finds no words (a warning; exit 0)", [*t, good, "--model", silent_model], None),
    ]


def _encoded(wave: np.ndarray, path: Path, container: str, codec: str, options: dict | None = None) -> Path:
    """16 kHz mono ``wave`` encoded by PyAV's FFmpeg (``options``: the container's)."""
    import fractions

    import av

    with av.open(str(path), mode="w", format=container, options=options or {}) as out:
        stream = out.add_stream(codec, rate=16000, layout="mono")
        for start in range(0, wave.shape[0], 1024):
            frame = av.AudioFrame.from_ndarray(wave[None, start : start + 1024].copy(), format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 16000, start, fractions.Fraction(1, 16000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _hostile_media(work: Path, speech: np.ndarray) -> dict[str, str]:
    """Cut, damaged and over-wide media (issue 43's cases), made from the bundled sample."""
    def cut(path: Path, fraction: float) -> str:
        out = path.with_name("cut_" + path.name)
        out.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])
        return str(out)

    ogg, opus, aiff = work / "speech.ogg", work / "wide.opus", work / "speech.aiff"
    soundfile.write(aiff, speech, 16000, format="AIFF", subtype="PCM_16")
    soundfile.write(ogg, speech, 16000, format="OGG", subtype="VORBIS")
    soundfile.write(opus, np.full((9600, 128), 0.01, np.float32), 48000, format="OGG", subtype="OPUS")
    damaged = bytearray(ogg.read_bytes())
    middle = len(damaged) // 2
    damaged[middle : middle + 200] = bytes(b ^ 0x5A for b in damaged[middle : middle + 200])
    (work / "damaged.ogg").write_bytes(bytes(damaged))
    mp3 = _encoded(speech, work / "speech.mp3", "mp3", "libmp3lame")
    data = mp3.read_bytes()
    from minis2t.io.stream_checks import mpeg_frame

    # the frames' starts, after an ID3v2 tag (its size: 4 bytes of 7 bits each)
    position = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(data[6:10])) if data[:3] == b"ID3" else 0
    starts = []
    while (frame := mpeg_frame(data[position : position + 4])) is not None:
        starts.append(position)
        position += frame[1]
    (work / "between.mp3").write_bytes(data[: starts[len(starts) // 2]])
    return {"ogg_cut": cut(ogg, 0.6), "ogg_damaged": str(work / "damaged.ogg"), "mp3_cut": cut(mp3, 0.6),
            "mp3_between": str(work / "between.mp3"),
            "m4a_cut": cut(_encoded(speech, work / "speech.m4a", "ipod", "aac"), 0.5),
            "m4a_first_cut": cut(_encoded(speech, work / "first.m4a", "ipod", "aac", {"movflags": "+faststart"}), 0.6),
            "webm_cut": cut(_encoded(speech, work / "speech.webm", "webm", "libopus"), 0.5),
            "opus_128": str(opus), "ts_cut": cut(_encoded(speech, work / "speech.ts", "mpegts", "aac"), 0.6),
            "aiff_cut": cut(aiff, 0.6)}  # fmt: skip


def _video_without_sound(path: Path) -> str:
    import av

    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return str(path)


def command_table() -> str:
    """What the command prints on stderr, and its exit status, for each of
    :func:`command_cases`, run now."""
    rows = ["| situation | exit | what the command says (stderr) |", "| --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        for what, argv, stdin in command_cases(Path(tmp)):
            status, err = _run_command(argv + ["--quiet"] if argv[0] == "transcribe" and "--quiet" not in argv else argv,
                                       stdin)  # fmt: skip
            lines = [line for line in err.splitlines() if line.strip()]
            lines = [line for line in lines if not re.match(r"\d+ files?: ", line)] or lines  # the summary
            said = " ".join(lines[:2]).replace(tmp, "…").replace(str(ROOT) + "/", "").replace("|", "\\|")
            rows.append(f"| {what} | {status} | {said} |")
    return "\n".join(rows) + "\n"


def limits_table() -> str:
    """The limits on the newer surfaces (media, model files, options), each value read from
    the constant the code checks, so the page cannot drift from it."""
    from minis2t.app import confidence
    from minis2t.engine.runtime import THREADS_RULE
    from minis2t.io import audio_checks, config
    from minis2t.jsonfile import MAX_JSON_BYTES, MAX_JSON_DEPTH

    sizes = ", ".join(f"`{name}` {most:,}" for name, most in config.MAX_SIZES.items())
    chunk_mib = audio_checks.CHUNK_VALUES * 4 / 2**20
    second_mb = audio_checks.MAX_RATE * audio_checks.MAX_CHANNELS * 4 / 1e6  # float32
    rows = [
        ("audio channels", f"1 – {audio_checks.MAX_CHANNELS}, from the header, before decoding",
         "real recordings have up to 8 (7.1), 16–25 (ambisonics), 64 (microphone arrays); "
         "a header claiming more is damage, or a recording to mix down first"),
        ("decoding", f"chunks of {audio_checks.CHUNK_VALUES:,} samples ({chunk_mib:.0f} MiB of float32), "
         "each mixed to mono at once", "memory is the 16 kHz output plus one chunk, whatever the channels and the "
         f"rate (one second of {audio_checks.MAX_CHANNELS} channels at 384 kHz is {second_mb:.0f} MB)"),
        ("cut or damaged streams", "Ogg pages (checksum, sequence, end of stream), MP3 frames (a cut frame, "
         "the Xing/Info/VBRI count), Matroska elements and blocks, MPEG-TS packets, RIFF (AVI) and CAF chunks, "
         "WAV, AIFF and AU data sizes, MP4's own track duration; and any error FFmpeg reports while decoding",
         "judged from what the stream itself says, never from a container's or header's claim alone: "
         "a cut file is refused, never transcribed in part"),
        ("a model's config", f"{sizes}; conv kernels odd, ≤ {config.MAX_KERNEL}",
         "checked before anything is built from them; and the counts may not ask for more parameters than "
         "the weights on disk hold"),
        ("every JSON file of a model directory", f"{MAX_JSON_BYTES // 2**20} MiB, nesting {MAX_JSON_DEPTH} levels",
         "the largest is a 250 000-piece vocab.json (~6 MB), the deepest 3 levels; deeper would exhaust "
         "Python's recursion before a message"),
        ("`confidence.json`", f"numbers are JSON numbers (not booleans or strings); the size of each coef / scale, "
         f"mean and the intercept ≤ {confidence.MAX_WEIGHT:.0e}", "a fit on standardised signals has weights of order "
         "1–10; beyond the bound the arithmetic could overflow"),
        ("`--threads`, `threads=`", f"1 to the usable cores, {THREADS_RULE}",
         "more threads than cores only contend; 100 000 crashed onnxruntime"),
        ("`minis2t corpus --workers`", "1 to the usable cores (a cluster, `--address`, for more)",
         "each worker is a process holding its own copy of the model"),
    ]
    lines = ["| limit | value | reason |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"

"""The ``minis2t`` command as whisper users reach for it (issue 32): reachable, the same
checks as the Python API, usage errors before any work, an output for every input, media
formats through PyAV, whisper's spellings, subtitles shaped by word times.

Each test names the defect it guards against; each fails on the code before issue 32.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

import minis2t
from minis2t import errors
from minis2t.app.cli import main
from minis2t.app.pipeline import BUNDLED_MODEL
from tests.builders import GOOD, GOOD_TEXT, SAMPLES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model(bundled):
    return bundled


def command(*args, stdin=None, env=None) -> subprocess.CompletedProcess:
    """The command in a fresh process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "minis2t", *map(str, args)], check=False, capture_output=True,
                          text=True, stdin=stdin, env=env, timeout=300)  # fmt: skip


def in_process(*args) -> tuple[int, str, str]:
    """``main(args)`` with its stdout and stderr captured: (status, out, err)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def json_rows(*args) -> tuple[int, list[dict], str]:
    status, out, err = in_process("transcribe", *args, "--output-format", "json", "--quiet")
    return status, json.loads(out), err


def one_line_error(err: str) -> str:
    """A usage error is one line, ``minis2t: error: ...``, and no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minis2t: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --- 1. reachable ------------------------------------------------------------------------------


def readme_lines_after_setup() -> tuple[str, str]:
    """The README's set-up command and the shell line that follows it."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    setup = next(i for i, b in enumerate(blocks) if "scripts/run.sh" in b)
    return blocks[setup].strip(), blocks[setup + 1].strip().splitlines()[0]


def test_the_readme_line_after_set_up_works_in_a_new_shell(tmp_path):
    """Defect: the demo said "Try: minis2t transcribe YOUR.wav", which a new shell does not
    find (`.venv/bin` is not on PATH). The README's line after `bash scripts/run.sh` runs as
    written in a clean shell (no activated venv), in a checkout whose `.venv` is the one
    these tests run in (in CI that is the checkout's own `.venv`)."""
    setup, line = readme_lines_after_setup()
    assert setup == "bash scripts/run.sh"
    assert ".venv/bin/minis2t" in line and "YOUR" not in line  # runnable as written
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    os.symlink(sys.prefix, checkout / ".venv")  # the venv scripts/run.sh made
    os.symlink(ROOT / "minis2t", checkout / "minis2t")  # the recording the line names
    assert (checkout / ".venv" / "bin" / "minis2t").is_file()
    clean_path = ":".join(p for p in os.environ["PATH"].split(":") if not p.startswith(sys.prefix))
    env = {"PATH": clean_path, "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", line], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == GOOD_TEXT


def test_the_demo_says_how_to_reach_the_command(tmp_path):
    """The demo's hint names the command as this shell can run it."""
    from minis2t.app.cli import command_hint

    hint = command_hint()
    program = hint.split(" transcribe ")[0]
    runnable = shutil.which(program) or (Path(program).is_file() and os.access(program, os.X_OK))
    assert runnable or program.endswith("-m minis2t"), hint


def test_version():
    """Defect: `minis2t --version` was a usage error."""
    done = command("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"minis2t {minis2t.__version__}"
    from importlib.metadata import version

    assert minis2t.__version__ == version("minis2t")  # the installed package's own


# --- 2. the same checks as the Python API ----------------------------------------------------------


def wav(path: Path, samples, rate: int = 16000, subtype: str = "FLOAT") -> str:
    soundfile.write(path, np.asarray(samples, np.float32), rate, subtype=subtype)
    return str(path)


@pytest.mark.parametrize("name, make, error", [
    ("nan.wav", lambda: np.r_[minis2t.load_audio(GOOD)[:-1], np.nan], "NonFiniteAudioError"),
    ("inf.wav", lambda: np.r_[minis2t.load_audio(GOOD)[:5000], np.inf, minis2t.load_audio(GOOD)[5000:]],
     "NonFiniteAudioError"),
    ("short.wav", lambda: np.random.default_rng(0).uniform(-0.5, 0.5, 200), "AudioTooShortError"),
    ("antiphase.wav", lambda: np.stack([minis2t.load_audio(GOOD), -minis2t.load_audio(GOOD)], 1),
     "SilentAudioError"),
    ("zeros.wav", lambda: np.zeros(16000), "SilentAudioError"),
])  # fmt: skip
def test_the_command_refuses_what_the_api_refuses(tmp_path, model, name, make, error):
    """Defect: one NaN sample was transcribed ("call grandma", exit 0), a 200-sample file
    and an anti-phase stereo file printed nothing with exit 0; the API raised
    NonFiniteAudioError, AudioTooShortError, SilentAudioError. Now the command reports the
    API's error, with the same message, and exits 1."""
    path = wav(tmp_path / name, make())
    with pytest.raises(getattr(errors, error)) as api:
        model.transcribe(path)
    with pytest.raises(getattr(errors, error)) as long_form:
        model.transcribe_long(path)
    assert str(api.value) == str(long_form.value)
    status, rows, err = json_rows(path)
    assert status == 1 and rows[0]["error_type"] == error and rows[0]["error"] == str(api.value)
    assert f"{path}: error: {api.value}" in err
    done = command("transcribe", path)  # the same, as a user runs it
    assert done.returncode == 1 and done.stdout == "" and str(api.value) in done.stderr
    from minis2t.app import corpus  # a corpus worker's line for the file

    row = corpus.transcribe_item(corpus.Item("x", path), "bundled-asr", {})
    assert row == {"id": "x", "path": path, "error": str(api.value), "error_type": error}


def test_an_infinite_sample_leaks_no_numpy_warning(tmp_path):
    """Defect: an `inf` sample printed NumPy's RuntimeWarning before the proper error
    (channels were averaged, inf - inf, before the check)."""
    stereo = np.stack([minis2t.load_audio(GOOD), minis2t.load_audio(GOOD)], 1)
    stereo[100] = [np.inf, -np.inf]
    path = wav(tmp_path / "inf.wav", stereo)
    done = subprocess.run([sys.executable, "-W", "error", "-m", "minis2t", "transcribe", path],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1 and "NaN or infinite sample (the first at sample 100" in done.stderr
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr


def test_an_empty_file_is_empty_not_an_unknown_format(tmp_path, model):
    """Defect: a 0-byte file said "Format not recognised"."""
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for call in (minis2t.load_audio, model.transcribe, model.transcribe_long):
        with pytest.raises(errors.EmptyAudioError, match=r"empty file \(0 bytes\)"):
            call(empty)
    with pytest.raises(errors.EmptyAudioError, match="empty"):
        model.transcribe(b"")
    with pytest.raises(errors.EmptyAudioError, match="empty"):
        model.transcribe_long(io.BytesIO(b""))
    done = command("transcribe", "-", stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and "is empty (0 bytes left to read)" in done.stderr
    status, rows, _ = json_rows(empty)
    assert status == 1 and rows[0]["error_type"] == "EmptyAudioError"


# --- 3. usage errors before any work ------------------------------------------------------------


@pytest.mark.parametrize("make_dir, message", [
    (lambda tmp: (tmp / "taken").write_text("x") and tmp / "taken", "exists and is not a directory"),
    (lambda tmp: Path("/proc/self/minis2t-out"), "cannot create it"),
    (lambda tmp: Path("/proc/self"), "cannot write in it"),
])  # fmt: skip
def test_an_unusable_output_dir_is_a_usage_error_before_any_file(tmp_path, make_dir, message):
    """Defect: `--output-dir` naming a file (or a directory that cannot be made) was found
    after every file had been decoded, then a traceback and exit 1. Now exit 2, one line,
    and before any file is read: the input here does not even exist, and its error does
    not appear. (/proc/self: a directory no one, root included, may write in.)"""
    directory = make_dir(tmp_path)
    done = command("transcribe", tmp_path / "missing.wav", "--output-dir", directory)
    assert done.returncode == 2, done.stderr
    assert message in one_line_error(done.stderr) and "missing.wav" not in done.stderr


@pytest.mark.parametrize("args, message", [
    (["--model", "nowhere/"], "nowhere"),
    (["--language", "en"], "TARGET language"),  # a whisper user naming the spoken language
    (["--task", "translate"], "only transcribes"),
    (["--model", "bundled-st", "--task", "transcribe", "--language", "de"], "this model translates"),
    (["--model", "bundled-st", "--language", "xx"], "translates into"),
    (["--model", "bundled-st"], "choose the target language"),
    (["--beams", "0"], "positive integer"),
    (["--beam_size", "x"], "positive integer"),
    (["--batch-size", "0"], "positive integer"),
    (["--threads", "-1"], "positive integer"),
    (["--max-line-width", "0"], "positive integer"),
    (["--search", "greedy"], "invalid choice"),
    (["--output_format", "pdf"], "invalid choice"),
    (["--best_of", "5"], "unrecognized arguments"),
    (["--max-line-width", "20"], "--output-format srt"),
    (["--max-line-count", "2", "--output-format", "srt", "--no-word-timestamps"], "word"),
    (["--output-format", "all"], "--output-dir"),
    (["--device", "cuda"], "CPU"),
    (["--task", "summarise"], "invalid choice"),
    (["--max-length", "100000"], "max_length"),
])  # fmt: skip
def test_every_usage_error_exits_2_in_one_line_before_any_file(tmp_path, args, message):
    """Options, the model, the task and the language are checked before the first file is
    read: the input does not exist, and its error never shows."""
    status, out, err = in_process("transcribe", tmp_path / "missing.wav", *args)
    assert status == 2 and out == ""
    assert message in one_line_error(err.replace("minis2t transcribe: error:", "minis2t: error:"))
    assert "missing.wav" not in err


def test_two_inputs_that_would_share_output_files_are_a_usage_error(tmp_path):
    """a/x.wav and b/x.wav would both become DIR/x.*: the second would overwrite the first
    and one input would have no output."""
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(GOOD, tmp_path / d / "x.wav")
    status, _, err = in_process("transcribe", tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav",
                                "--output-dir", tmp_path / "out")  # fmt: skip
    assert status == 2 and "both be written" in one_line_error(err)


# --- 4. every input gets an output ----------------------------------------------------------------


def silent_model(tmp_path) -> str:
    """The bundled model whose first output token is forced to </s>: it says nothing, as
    an odd checkpoint might."""
    target = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL, target)
    config = target / "generation_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "forced_bos_token_id": 2}))
    return str(target)


def test_an_empty_transcript_still_writes_every_output_and_is_counted(tmp_path):
    """Defect: a recording that yielded no words wrote no output file (the directory was
    not even created) and was not counted. Now it writes an empty-text result with a
    warning in JSON, an empty subtitle file, and the summary counts it."""
    import srt
    import webvtt

    out = tmp_path / "new" / "dir"
    status, _, err = in_process("transcribe", GOOD, "--model", silent_model(tmp_path), "--output-dir", out,
                                "--output-format", "all", "--quiet")  # fmt: skip
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == [f"test_00.{f}" for f in sorted(("txt", "json", "srt", "vtt", "tsv"))]
    result = json.loads((out / "test_00.json").read_text())
    assert result["text"] == "" and result["segments"] == [] and "no words" in result["warning"]
    assert list(srt.parse((out / "test_00.srt").read_text())) == []
    assert list(webvtt.from_string((out / "test_00.vtt").read_text())) == []
    assert (out / "test_00.txt").read_text() == ""
    assert "1 file: 1 transcribed, written to" in err and "(1 with no words), 0 failed." in err


def test_every_input_is_counted_and_the_exit_code_says_if_one_failed(tmp_path):
    """Three inputs: one transcribed, one silent (an error), one missing. Outputs for the
    good one, errors stated for the others, all three in the summary, exit 1."""
    silent = wav(tmp_path / "silent.wav", np.zeros(16000))
    out = tmp_path / "out"
    status, _, err = in_process("transcribe", GOOD, silent, tmp_path / "missing.wav", "--output-dir", out,
                                "--quiet")  # fmt: skip
    assert status == 1
    assert [p.name for p in out.iterdir()] == ["test_00.txt"]
    assert (out / "test_00.txt").read_text() == GOOD_TEXT + "\n"
    assert f"{silent}: error: " in err and "missing.wav: error: audio file not found" in err
    assert "3 files: 1 transcribed" in err and "2 failed." in err


def test_outputs_appear_whole_and_a_failed_write_is_that_file_s_error(tmp_path):
    """Outputs are written aside and renamed into place: nothing half-written is left. A
    write that fails (here the target name is taken by a directory) is an error for that
    recording, stated, and the other outputs are still written."""
    out = tmp_path / "out"
    (out / "test_00.json").mkdir(parents=True)
    status, _, err = in_process("transcribe", GOOD, SAMPLES / "test_01.wav", "--output-dir", out,
                                "--output-format", "json", "--quiet")  # fmt: skip
    assert status == 1 and "test_00.wav: error: cannot write" in err
    assert json.loads((out / "test_01.json").read_text())["text"]
    assert sorted(p.name for p in out.iterdir()) == ["test_00.json", "test_01.json"]  # no partial files
    assert "2 files: 1 transcribed" in err and "1 failed." in err


# --- 5. media formats through PyAV ---------------------------------------------------------------


def encode(wave: np.ndarray, rate: int, path: Path, container: str, codec: str) -> str:
    """``wave`` (float32 [N]) encoded with PyAV's own FFmpeg: the test's fixture, made
    here from the bundled WAV (no network, no system ffmpeg)."""
    import fractions

    import av

    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        pcm = (np.clip(wave, -1, 1) * 32767).astype(np.int16)
        for start in range(0, pcm.shape[0], 960):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + 960], format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, fractions.Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return str(path)


MEDIA = [("m4a", "ipod", "aac"), ("mp4", "mp4", "aac"), ("webm", "webm", "libopus"), ("mkv", "matroska", "libopus")]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("media")
    wave, rate = soundfile.read(GOOD, dtype="float32")
    return {ext: encode(wave, rate, work / f"speech.{ext}", container, codec) for ext, container, codec in MEDIA}


@pytest.mark.parametrize("ext", [m[0] for m in MEDIA])
def test_m4a_mp4_webm_mkv_are_transcribed_like_the_wav(media, model, ext):
    """Defect: m4a, mp4 and webm were refused (libsndfile does not read them). Their audio
    track, decoded by PyAV's FFmpeg, gives the WAV's transcript, from the API (path,
    bytes, file object) and the command."""
    path = media[ext]
    assert model.transcribe(path) == [GOOD_TEXT]
    assert model.transcribe(Path(path).read_bytes()) == [GOOD_TEXT]
    with open(path, "rb") as f:
        assert model.transcribe_long(f)["text"] == GOOD_TEXT
    status, rows, _ = json_rows(path)
    assert status == 0 and rows[0]["text"] == GOOD_TEXT


def test_media_read_from_standard_input(media):
    with open(media["m4a"], "rb") as f:
        done = command("transcribe", "-", stdin=f)
    assert done.returncode == 0 and done.stdout.strip() == GOOD_TEXT


def test_media_checks_are_the_same_checks(tmp_path):
    """An m4a of digital silence is SilentAudioError, a cut-off one a typed AudioFileError,
    a video container without audio says so."""
    import av

    silent = encode(np.zeros(16000, np.float32), 16000, tmp_path / "silent.m4a", "ipod", "aac")
    with pytest.raises(errors.SilentAudioError):
        minis2t.Speech2Text.from_pretrained().transcribe_long(silent)
    webm = Path(encode(minis2t.load_audio(GOOD), 16000, tmp_path / "a.webm", "webm", "libopus")).read_bytes()
    with pytest.raises(errors.AudioFileError, match="truncated"):
        minis2t.load_audio(webm[: len(webm) // 2])
    m4a = Path(encode(minis2t.load_audio(GOOD), 16000, tmp_path / "a.m4a", "ipod", "aac")).read_bytes()
    with pytest.raises(errors.AudioFileError, match="cannot decode"):
        minis2t.load_audio(m4a[: len(m4a) // 2])
    video = tmp_path / "video.mp4"
    with av.open(str(video), mode="w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(errors.AudioFileError, match="no audio track"):
        minis2t.load_audio(video)


# --- 6. whisper's habits --------------------------------------------------------------------------


def test_minis2t_file_is_short_for_transcribe_file(tmp_path):
    """Defect: `minis2t FILE` was a usage error (exit 2)."""
    done = command(GOOD)
    assert done.returncode == 0 and done.stdout.strip() == GOOD_TEXT
    assert in_process(GOOD, "--output_format", "json", "--quiet")[0] == 0  # options after the file
    status, out, _ = in_process("-f", "json", "--beam_size", "2", GOOD)  # and before it
    assert status == 0 and json.loads(out)[0]["text"] == GOOD_TEXT
    status, _, err = in_process("transcibe", GOOD)  # a mistyped command is not taken for a file
    assert status == 2 and "invalid choice" in err


def test_whisper_spellings_of_the_options(tmp_path):
    """Defect: --output_format, --output_dir, --beam_size (whisper's spellings) were usage
    errors. They are aliases of --output-format, --output-dir, --beams."""
    status, _, _ = in_process("transcribe", GOOD, "--output_format", "srt", "--output_dir", tmp_path,
                              "--beam_size", "2", "--quiet")  # fmt: skip
    assert status == 0 and (tmp_path / "test_00.srt").is_file()
    assert in_process("transcribe", GOOD, "--beams", "2")[1] == in_process("transcribe", GOOD, "--beam_size", "2")[1]


def test_task_translate_with_the_translation_model():
    """--task translate works with a translation model (and its --language)."""
    samples = BUNDLED_MODEL.parent.parent / "assets" / "samples_st"
    ref = json.loads((samples / "references.json").read_text())[0]
    status, out, _ = in_process("transcribe", samples / ref["file"], "--model", "bundled-st", "--task",
                                "translate", "--language", "de")  # fmt: skip
    assert status == 0 and out.strip() == ref["translations"]["de"]


@pytest.mark.parametrize("width, count", [(12, 2), (20, None), (None, 1), (8, 3)])
def test_subtitle_lines_and_cues_are_shaped_by_word_times(tmp_path, model, width, count):
    """--max-line-width / --max-line-count (whisper's): every line within the width (words
    kept whole), every cue within the count, the words in order and complete, and cues in
    time order, parsed by the `srt` and `webvtt-py` libraries."""
    import srt
    import webvtt

    args = ["--output-format", "all", "--output-dir", tmp_path, "--quiet"]
    args += ["--max-line-width", width] if width else []
    args += ["--max-line-count", count] if count else []
    assert in_process("transcribe", GOOD, *args)[0] == 0
    words = GOOD_TEXT.split()
    for cues in (
        [(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in srt.parse((tmp_path / "test_00.srt").read_text())],
        [(c.start_in_seconds, c.end_in_seconds, c.text) for c in webvtt.read(str(tmp_path / "test_00.vtt"))],
    ):
        lines = [line for _, _, text in cues for line in text.split("\n")]
        assert " ".join(lines).split() == words
        assert all(len(line) <= (width or 10**9) or " " not in line for line in lines)
        assert all(len(text.split("\n")) <= (count or 10**9) for _, _, text in cues)
        assert all(a <= b for a, b, _ in cues) and all(cues[i][1] <= cues[i + 1][0] + 1e-3 for i in range(len(cues) - 1))


# --- the docs list every error the command gives ---------------------------------------------------


def raise_sites(path: Path) -> list[tuple[int, str]]:
    """``(line, longest literal piece of the message)`` of every ``raise SomeError(...)``
    of a minis2t error in ``path``."""
    import ast

    sites = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            name = getattr(node.exc.func, "id", "")
            if not (name.endswith("Error") and isinstance(getattr(errors, name, None), type)):
                continue
            pieces = [c.value for c in ast.walk(node.exc.args[0]) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            sites.append((node.lineno, max(pieces, key=len).strip()))
    return sites


def test_the_errors_page_lists_every_error_the_command_gives():
    """docs/errors.md's command table is generated by running docs/hooks/error_cases.py's
    cases; every `raise` of cli.py shows up in it (by its message's longest literal
    piece), and every audio error type a file can get from the command is there."""
    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    import error_cases

    table = error_cases.command_table()
    assert "--8<-- \"figures/command_errors.md\"" in (ROOT / "docs" / "errors.md").read_text()
    missing = [(line, piece) for line, piece in raise_sites(ROOT / "minis2t" / "app" / "cli.py")
               if piece.replace("\\n", "") not in table and piece not in ("",)]  # fmt: skip
    # _model_dir's "no bundled model" and convert's "not an empty directory" are not
    # transcribe's; every other raise must have its row
    missing = [m for m in missing if "bundled model in this installation" not in m[1] and "nothing was written" not in m[1]]
    assert not missing, f"cli.py raises without a row in the errors page: {missing}"
    rows = [r.split(" | ") for r in table.splitlines()[2:]]
    assert {r[1] for r in rows} == {"0", "1", "2"}
    assert all("Traceback" not in r[2] for r in rows)
    for said in ("NaN or infinite", "samples at 16 kHz", "digital silence", "constant signal", "empty file",
                 "holds no samples", "truncated", "cannot decode", "no audio track", "declares 1 Hz",
                 "belongs in [-1, 1]", "cannot write"):  # fmt: skip
        assert said in table, said


@pytest.mark.parametrize("args", [["--model", "nowhere/"], ["--language", "en"], ["--max-length", "100000"]])
def test_a_usage_error_leaves_no_output_directory_behind(tmp_path, args):
    """The output directory is made only once every check has passed."""
    status, _, _ = in_process("transcribe", GOOD, "--output-dir", tmp_path / "new" / "out", *args)
    assert status == 2 and not (tmp_path / "new").exists()
    assert not list(tmp_path.iterdir())  # nor a probe file


def test_the_same_file_twice_is_two_inputs(tmp_path):
    """Every input is counted, even one given twice."""
    status, out, err = in_process("transcribe", GOOD, GOOD)
    assert status == 0 and out.count(GOOD_TEXT) == 2 and "2 files: 2 transcribed" in err


def test_a_damaged_wav_is_not_handed_to_ffmpeg(tmp_path):
    """A WAV whose format tag was damaged into 0x0022 (DSP Group TrueSpeech) over 16-bit
    PCM data: libsndfile refuses it, and FFmpeg would decode its bytes as TrueSpeech into
    14 s of noise (checked here). It is not handed to FFmpeg: a file libsndfile's family
    refuses is damaged, and a damaged file is never transcribed."""
    from minis2t.io.av_decoder import AvDecoder

    data = bytearray(GOOD.read_bytes())
    data[20:22] = b"\x22\x00"  # the format tag, little-endian
    bad = tmp_path / "bad.wav"
    bad.write_bytes(bytes(data))
    with AvDecoder.open(str(bad), "bad.wav") as ffmpeg:  # what FFmpeg alone would make of it
        assert ffmpeg.read(-1).shape[0] > 10 * 16000
    with pytest.raises(errors.AudioFileError, match="cannot decode"):
        minis2t.load_audio(bad)

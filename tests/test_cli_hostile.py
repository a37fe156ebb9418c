"""Hostile input to the ``minis2t`` command: usage errors exit 2 before any work, one bad
file never costs the others, an empty transcript is flagged."""

import json
import subprocess
import sys

import pytest

from minis2t.app.cli import main
from tests.bounded import ROOT, run_bounded
from tests.builders import GOOD, GOOD_TEXT, wav_bytes, with_header_rate
from tests.test_checkpoint_hostile import DAMAGED_MODELS, damaged_copy, edit_json


def test_command_keeps_good_files_when_one_header_is_absurd(tmp_path):
    bad = tmp_path / "one_hz.wav"
    bad.write_bytes(with_header_rate(wav_bytes(0.5), 1))
    result = run_bounded(f"""
        import contextlib, io
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = minis2t.app.cli.main(["transcribe", {str(bad)!r}, {str(GOOD)!r}, "--output-format", "json"])
        result["value"] = [code, out.getvalue(), err.getvalue()]
    """)
    assert result["error"] is None, result
    code, out, err = result["value"]
    rows = {r["file"]: r for r in json.loads(out)}
    assert code == 1
    assert rows[str(GOOD)]["text"] == GOOD_TEXT
    assert "declares 1 Hz" in rows[str(bad)]["error"] and str(bad) in err


def test_damaged_model_in_the_command_is_a_usage_error(tmp_path, capsys):
    model = damaged_copy(tmp_path, DAMAGED_MODELS["NaN weight"][0])
    assert main(["transcribe", str(GOOD), "--model", model]) == 2
    assert "NaN" in capsys.readouterr().err


def test_empty_transcript_is_flagged_by_the_command(tmp_path, capsys):
    # </s> forced as the first token: the model says nothing, as an odd checkpoint might
    model = damaged_copy(tmp_path, edit_json("generation_config.json", forced_bos_token_id=2))
    assert main(["transcribe", str(GOOD), "--model", model, "--output-format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["text"] == ""
    assert "produced no words" in captured.err


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--batch-size", "-3"], ["--beams", "x"],
                                  ["--max-length", "0"]])  # fmt: skip
def test_command_usage_errors_exit_2(args, capsys):
    assert main(["transcribe", str(GOOD), *args]) == 2
    assert "expected a positive integer" in capsys.readouterr().err


def test_command_reads_standard_input():
    with open(GOOD, "rb") as f:
        done = subprocess.run([sys.executable, "-m", "minis2t", "transcribe", "-"], stdin=f,
                              capture_output=True, text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == GOOD_TEXT


# --- names a user gives are escaped where they are shown --------------------------------------------


def test_control_characters_in_names_are_escaped_on_the_terminal(tmp_path):
    """A file name (or an option) holding ESC sequences, a newline, a carriage return or a
    bidirectional override is shown escaped: it can neither break the one-line message nor
    move, recolour or clear the screen. Printable non-ASCII text is kept."""
    from tests.hostile import assert_clean_refusal, run_command

    evil = tmp_path / "evil\x1b[2J\x1b[31m\rnéw\nline\u202e.wav"
    evil.write_bytes(GOOD.read_bytes())
    bad = tmp_path / "bad\x1b]0;title\x07.wav"
    bad.write_bytes(b"not audio " * 50)
    run = run_command("transcribe", str(evil), str(bad), "--quiet")
    assert run.returncode == 1
    shown_evil = str(evil).replace("\x1b", "\\x1b").replace("\r", "\\r").replace("\n", "\\n")
    shown_evil = shown_evil.replace("\u202e", "\\u202e")
    assert f"{shown_evil}: {GOOD_TEXT}" in run.stdout.splitlines()
    shown_bad = str(bad).replace("\x1b", "\\x1b").replace("\x07", "\\x07")
    assert_clean_refusal(run, shown_bad, "cannot decode")
    for text in (run.stdout, run.stderr):
        assert not any(c in text for c in "\x1b\r\x07\u202e"), repr(text)
    language = run_command("transcribe", str(GOOD), "--language", "\x1b[31mred", "--quiet")
    assert language.returncode == 2 and "\x1b" not in language.stderr and "\\x1b[31mred" in language.stderr


def test_escaped_keeps_printable_text():
    from minis2t.app.formats import escaped

    assert escaped("café/日本語 file.wav") == "café/日本語 file.wav"
    assert escaped("a\tb\nc\x00d\x9be") == "a\\tb\\nc\\x00d\\x9be"

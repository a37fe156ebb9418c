"""Hostile media in a corpus run (issue 43): the same typed error from a Dask worker
process as from the API, for every bad file; the right transcript for every valid one
(7.1 AAC, 8-channel FLAC in MKV, a WebM whose video outlasts its sound, ...); the good
files around them keep their output; no traceback and no Dask CRITICAL line.

One real local cluster (one worker process) runs every case in one manifest; the media
are the audio half's (:mod:`tests.test_audio_hostile_media`), made at test time.
"""

from __future__ import annotations

import json

import pytest

import minis2t
from minis2t.errors import guarded
from tests.builders import GOOD, GOOD_TEXT
from tests.hostile import run_command
from tests.test_audio_hostile_media import make_refusals, make_valid

pytest.importorskip("av")
pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("corpus_hostile")
    (work / "bad").mkdir()
    (work / "valid").mkdir()
    bad, valid = make_refusals(work / "bad"), make_valid(work / "valid")
    rows = [("good_first", str(GOOD))]
    rows += [(f"bad_{name}", str(path)) for name, (path, _, _) in bad.items()]
    rows += [(f"valid_{name}", str(path)) for name, path in valid.items()]
    rows += [("good_last", str(GOOD))]
    manifest = work / "manifest.tsv"
    manifest.write_text("id\tpath\n" + "".join(f"{i}\t{p}\n" for i, p in rows), encoding="utf-8")
    out = work / "out.jsonl"
    # The client's memory is capped like the command's; the worker is its child process.
    run = run_command("corpus", manifest, "--output", out, "--workers", "1", "--quiet", timeout=600)
    lines = {row["id"]: row for row in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    return run, lines, bad, valid


def test_every_file_gets_its_line_and_the_run_says_some_failed(corpus_run):
    run, lines, bad, valid = corpus_run
    assert run.returncode == 1, run.stderr[-3000:]
    assert len(lines) == 2 + len(bad) + len(valid)
    assert "Traceback" not in run.stderr and "CRITICAL" not in run.stderr, run.stderr[-3000:]
    assert lines["good_first"]["text"] == GOOD_TEXT and lines["good_last"]["text"] == GOOD_TEXT


def test_bad_media_get_the_apis_typed_error_from_a_worker(corpus_run, bundled):
    """The worker's error type and message are the API's (``transcribe_long``, which a
    worker runs; ``load_audio`` gives the same type), for each bad file."""
    _, lines, bad, _ = corpus_run
    for name, (path, error, words) in bad.items():
        row = lines[f"bad_{name}"]
        _, expected = guarded(bundled.transcribe_long, str(path))
        _, loaded = guarded(minis2t.load_audio, str(path))
        assert expected is not None and expected.kind == loaded.kind == error, (name, expected, loaded)
        assert row.get("error_type") == error and words in row["error"], (name, row)
        assert row["error"] == str(expected), (name, row["error"], str(expected))


def test_valid_media_are_transcribed_by_a_worker(corpus_run):
    _, lines, _, valid = corpus_run
    for name in valid:
        row = lines[f"valid_{name}"]
        assert "error" not in row and row["text"] == GOOD_TEXT, (name, row)

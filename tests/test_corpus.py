"""``minis2t corpus`` on a real local Dask cluster: the manifest, the output file as the
run's memory (resume, a line cut by a crash), a bad file, and a worker process killed in
the middle of a run — every id must come back exactly once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import minis2t
from minis2t.app import corpus
from minis2t.errors import CorpusError

SAMPLES = Path(minis2t.__file__).parent / "assets" / "samples"
REFERENCES = {r["file"]: r["text"] for r in json.loads((SAMPLES / "references.json").read_text())}


def write_manifest(folder: Path, rows: list[tuple], header=("id", "path", "reference")) -> Path:
    path = folder / "manifest.tsv"
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(li) for li in path.read_text(encoding="utf-8").splitlines()]


def run_cli(*args, check_rc=None) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "minis2t", "corpus", *map(str, args)], capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    if check_rc is not None:
        assert out.returncode == check_rc, out.stderr[-3000:]
    return out


# --- the manifest and the output file -----------------------------------------------------


def test_manifest_rows_ids_and_relative_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    m = tmp_path / "sub" / "m.tsv"
    m.write_text("path\treference\textra\na.wav\thello\tx\n\n/abs/b.wav\t\t\n", encoding="utf-8")
    items = corpus.read_manifest(m)
    assert items == [corpus.Item("a.wav", str(tmp_path / "sub" / "a.wav"), "hello"),
                     corpus.Item("/abs/b.wav", "/abs/b.wav", "")]  # fmt: skip


def test_manifest_from_a_spreadsheet_bom_and_crlf(tmp_path):
    m = tmp_path / "m.tsv"
    m.write_bytes("\ufeffid\tpath\r\nu1\ta.wav\r\n".encode("utf-8"))
    assert corpus.read_manifest(m) == [corpus.Item("u1", str(tmp_path / "a.wav"), None)]


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"file\tid\na.wav\t1\n", "no 'path' column"),
    (b"path\n", "nothing to do"),
    (b"id\tpath\n1\ta.wav\n1\tb.wav\n", "lines 2 and 3: the id '1' twice"),
    (b"id\tpath\n1\t\n", "line 2: no path"),
    (b"path\n\xff\xfe.wav\n", "not UTF-8"),
])  # fmt: skip
def test_bad_manifests_are_refused_by_name(tmp_path, content, message):
    m = tmp_path / "m.tsv"
    m.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        corpus.read_manifest(m)


def test_missing_or_huge_manifest(tmp_path, monkeypatch):
    with pytest.raises(CorpusError, match="no such manifest"):
        corpus.read_manifest(tmp_path / "none.tsv")
    with pytest.raises(CorpusError, match="is a folder"):
        corpus.read_manifest(tmp_path)
    m = write_manifest(tmp_path, [("1", "a.wav", "x")])
    monkeypatch.setattr(corpus, "MANIFEST_MAX_BYTES", 10)
    with pytest.raises(CorpusError, match="at most"):
        corpus.read_manifest(m)


def test_result_log_drops_a_line_cut_short_and_refuses_a_foreign_file(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a", "path": "a.wav", "text": "x"}\n{"id": "b", "pa', encoding="utf-8")
    log = corpus.ResultLog(out)
    assert set(log.done) == {"a"}  # b was being written when the run died: it runs again
    log.write({"id": "b", "path": "b.wav", "text": "y"})
    log.close()
    assert [r["id"] for r in lines(out)] == ["a", "b"]
    foreign = tmp_path / "notes.jsonl"
    foreign.write_text("some notes\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="line 1: not a result line"):
        corpus.ResultLog(foreign)
    assert foreign.read_text(encoding="utf-8") == "some notes\n"  # untouched
    with pytest.raises(CorpusError, match="does not exist"):
        corpus.ResultLog(tmp_path / "no" / "out.jsonl")


def test_normalised_scores():
    assert corpus.normalise("Don't STOP, 'now'!  ok.") == "don't stop now ok"
    items = [corpus.Item("1", "a", "the cat sat"), corpus.Item("2", "b", None), corpus.Item("3", "c", "x")]
    rows = {"1": {"text": "The cat, sat."}, "2": {"text": "anything"}, "3": {"error": "bad"}}
    assert corpus.scores(items, rows) == {"files": 1, "references": 2, "failed": 1, "wer": 0.0, "cer": 0.0}
    assert corpus.scores(items[1:2], rows) is None
    assert corpus.scores(items[1:], rows) == {"files": 0, "references": 1, "failed": 1, "wer": None, "cer": None}


def test_the_score_sentence_says_what_it_leaves_out():
    """Issue 32: "WER 0.00 %" was printed over the successes while 5 of 11 files failed.
    The sentence names the files it covers and, in the same sentence, the failures."""
    items = [corpus.Item(str(i), f"{i}.wav", "turn on the lights") for i in range(11)]
    rows = {str(i): ({"error": "bad"} if i < 5 else {"text": "turn on the lights"}) for i in range(11)}
    sentence = corpus.score_sentence(corpus.scores(items, rows))
    assert sentence.startswith("WER 0.00 %, CER 0.00 % over the 6 files with a reference and a transcript")
    assert "5 of the 11 files with a reference FAILED" in sentence and sentence.count(".") == 1 + 2  # 0.00 twice
    all_failed = corpus.score_sentence(corpus.scores(items[:5], rows))
    assert all_failed.startswith("No WER: none of the 5 files") and "WER 0" not in all_failed


# --- runs on a local cluster ---------------------------------------------------------------


def test_corpus_command_transcribes_resumes_and_reports_a_bad_file(tmp_path):
    """Two local workers; the texts are those of the model's own transcribe_long (what
    `minis2t transcribe` prints); a bad file gets an error line and exit status 1; a
    second run skips everything; after a crash cut the output, a third run redoes only the
    missing ids."""
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    rows = [(f"s{i}", str(SAMPLES / name), ref) for i, (name, ref) in enumerate(sorted(REFERENCES.items()))]
    rows.append(("bad", "bad.wav", "nothing"))
    manifest, out = write_manifest(tmp_path, rows), tmp_path / "out.jsonl"
    first = run_cli(manifest, "--output", out, "--workers", 2, check_rc=1)
    got = {r["id"]: r for r in lines(out)}
    assert sorted(got) == sorted(r[0] for r in rows) and len(lines(out)) == len(rows)
    assert "error" in got["bad"] and "text" not in got["bad"]
    # the file's own typed error crossed the worker boundary (never "internal error")
    assert got["bad"]["error_type"] == "AudioFileError", got["bad"]
    assert "internal error" not in got["bad"]["error"] and "bad.wav" in got["bad"]["error"], got["bad"]
    assert got["bad"]["path"] == str(tmp_path / "bad.wav")
    model = minis2t.Speech2Text.from_pretrained("bundled-asr")
    for item_id, path, _ in rows[:-1]:
        # the command's JSON for the file (segments with times and scores), without word times
        assert got[item_id] == {"id": item_id, "path": path, **model.transcribe_long(path, word_timestamps=False)}
        assert got[item_id]["segments"] and "avg_logprob" in got[item_id]["segments"][0]
    assert f"{len(rows)} files: {len(rows)} done in this run (1 with errors), 0 already" in first.stdout
    assert f"over the {len(rows) - 1} files with a reference and a transcript" in first.stdout
    assert f"1 of the {len(rows)} files with a reference FAILED" in first.stdout
    assert "bad.wav: error:" in first.stderr or "error line" in first.stderr
    assert "Traceback" not in first.stderr and "CRITICAL" not in first.stderr, first.stderr[-3000:]

    second = run_cli(manifest, "--output", out, "--workers", 1, check_rc=1)
    assert f"0 done in this run (0 with errors), {len(rows)} already" in second.stdout
    assert len(lines(out)) == len(rows)

    text = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(text[:2]) + text[2][:10], encoding="utf-8")  # the run died writing line 3
    third = run_cli(manifest, "--output", out, "--workers", 2, check_rc=1)
    assert f"{len(rows) - 2} done in this run" in third.stdout
    ids = [r["id"] for r in lines(out)]
    assert sorted(ids) == sorted(r[0] for r in rows)  # each exactly once


def _worker_pids(pid: int) -> list[int]:
    """Dask's worker processes under ``pid`` (multiprocessing's spawned processes)."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    from common import descendants

    found = []
    for child in descendants(pid):
        try:
            if b"spawn_main" in open(f"/proc/{child}/cmdline", "rb").read():
                found.append(child)
        except OSError:  # gone
            continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker processes through /proc")
def test_a_worker_killed_mid_run_loses_nothing(tmp_path):
    """Kill one of two workers' processes (SIGKILL) once results are coming in: Dask runs
    its files again elsewhere; every id is in the output exactly once, none as an error."""
    names = sorted(REFERENCES)
    rows = [(f"u{i:02d}", str(SAMPLES / names[i % len(names)]), REFERENCES[names[i % len(names)]]) for i in range(30)]
    manifest, out = write_manifest(tmp_path, rows), tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "minis2t", "corpus", str(manifest), "--output", str(out),
                             "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (out.exists() and out.read_text(encoding="utf-8").count("\n") >= 2):
            assert proc.poll() is None and time.monotonic() < deadline, "no results came"
            time.sleep(0.02)
        workers = _worker_pids(proc.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        written_at_kill = out.read_text(encoding="utf-8").count("\n")
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert written_at_kill < len(rows), "the run ended before the kill: the test proved nothing"
    assert not os.path.exists(f"/proc/{workers[0]}") or b"zombie" in open(f"/proc/{workers[0]}/status", "rb").read()
    assert proc.returncode == 0, stderr[-3000:]
    got = lines(out)
    assert sorted(r["id"] for r in got) == [r[0] for r in rows]
    assert all("text" in r and "error" not in r for r in got)
    assert f"{len(rows)} files: {len(rows)} done in this run (0 with errors)" in stdout


def test_usage_errors_before_any_work(tmp_path):
    manifest = write_manifest(tmp_path, [("1", str(SAMPLES / "test_00.wav"), "x")])
    out = run_cli(manifest, "--output", tmp_path / "o.jsonl", "--workers", 2, "--address", "tcp://127.0.0.1:1")
    assert out.returncode == 2 and "Give one of them" in out.stderr
    out = run_cli(manifest, "--output", tmp_path / "o.jsonl", "--language", "xx")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    for address in ("tcp://127.0.0.1:1", "not-an-address", "http://127.0.0.1:1"):
        out = run_cli(manifest, "--output", tmp_path / "o.jsonl", "--address", address)
        assert out.returncode == 2 and "no Dask scheduler answered" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "o.jsonl").exists() or (tmp_path / "o.jsonl").read_text() == ""
    shutil.rmtree(tmp_path)


def test_parity_sweep_on_a_local_cluster(tmp_path):
    """`python -m parity sweep` on the bundled model and its recordings, 2 workers: one
    line per file with the three stages' differences inside the suite's own bars
    (parity/bars.py), identical tokens from NumPy, the twin, transformers and onnxruntime
    (the exported graphs, the fifth runtime), the bad file as an error line, and the
    summary table."""
    from parity import bars

    (tmp_path / "bad.wav").write_bytes(b"not audio")
    rows = [(f"s{i}", str(SAMPLES / name), ref) for i, (name, ref) in enumerate(sorted(REFERENCES.items()))]
    manifest, out = write_manifest(tmp_path, rows + [("bad", "bad.wav", "")]), tmp_path / "sweep.jsonl"
    model = Path(minis2t.__file__).parent / "assets" / "model"
    done = subprocess.run([sys.executable, "-m", "parity", "sweep", str(manifest), str(model), "--output", str(out),
                           "--workers", "2"], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).parent.parent)  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    got = {r["id"]: r for r in lines(out)}
    assert sorted(got) == sorted([r[0] for r in rows] + ["bad"]) and "error" in got["bad"]
    for item_id, *_ in rows:
        r = got[item_id]
        assert r["tokens_identical"] is True and r["tokens"] >= 3
        assert r["features"]["numpy-transformers"][0] <= bars.HF_FEATURES_MAX
        for stage in ("encoder", "logits"):
            for pair in ("numpy-twin", "numpy-transformers", "twin-transformers"):
                bar = bars.MODEL_TWIN if pair == "numpy-twin" else bars.MODEL_TRANSFORMERS
                assert r[stage][pair][0] / max(1.0, r[stage]["scale"]) <= bar["float32"], (item_id, stage, pair)
            assert r[stage]["numpy-onnxruntime"][0] / max(1.0, r[stage]["scale"]) <= bars.ONNX["float32"]
    assert f"tokens identical in all four (with onnxruntime): {len(rows)} of {len(rows)} files; errors: 1" in done.stdout
    assert "logits: worst numpy-transformers" in done.stdout and "within the suite's bar" in done.stdout
    assert "logits: worst numpy-onnxruntime" in done.stdout


def test_documented_limits_are_the_code_s():
    """docs/errors.md's manifest limit and the corpus page's "three by default" are what
    the code and Dask use; /dev/zero as a manifest is refused after a bounded read."""
    import dask
    import distributed  # noqa: F401 (loads its settings)

    root = Path(__file__).parent.parent
    assert f"| {corpus.MANIFEST_MAX_BYTES // 2**20} MiB |" in (root / "docs" / "errors.md").read_text()
    assert dask.config.get("distributed.scheduler.allowed-failures") == 3
    assert "`allowed-failures`, three by default" in (root / "docs" / "corpus.md").read_text()
    if os.path.exists("/dev/zero"):
        with pytest.raises(CorpusError, match="MiB"):
            corpus.read_manifest("/dev/zero")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_joining_a_cluster_started_with_dask_s_own_commands(tmp_path):
    """The docs' cluster recipe, on one machine: `dask scheduler`, `dask worker ADDRESS`,
    then `minis2t corpus --address ADDRESS` — the run uses that cluster's worker."""
    from dask.distributed import Client

    dask_cli = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    scheduler = subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                  "--no-dashboard"], stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    worker = None
    try:
        worker = subprocess.Popen([dask_cli, "worker", address, "--nworkers", "1", "--nthreads", "1",
                                   "--no-dashboard"], stderr=subprocess.DEVNULL, env=env)  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(1, timeout=120)
                    break
            except OSError:
                assert time.monotonic() < deadline, "the scheduler did not come up"
                time.sleep(0.5)
        rows = [(f"s{i}", str(SAMPLES / name), ref) for i, (name, ref) in enumerate(sorted(REFERENCES.items()))]
        manifest, out = write_manifest(tmp_path, rows), tmp_path / "out.jsonl"
        done = run_cli(manifest, "--output", out, "--address", address, check_rc=0)
        got = {r["id"]: r["text"] for r in lines(out)}
        assert got == {i: ref for i, _, ref in rows}  # the bundled model gets these right
        assert "WER 0.00 %" in done.stdout
    finally:
        for p in (worker, scheduler):
            if p is not None:
                p.terminate()
                p.wait(timeout=60)


def test_parity_sweep_of_the_translation_model_forces_the_language(tmp_path):
    """A multilingual model needs --language (exit 2 without it, naming the choices);
    with it, NumPy, the twin, transformers and onnxruntime all force the code and agree
    on the tokens."""
    samples = SAMPLES.parent / "samples_st"
    rows = [(p.stem, str(p), "") for p in sorted(samples.glob("*.wav"))]
    manifest, out = write_manifest(tmp_path, rows), tmp_path / "sweep.jsonl"
    model = SAMPLES.parent / "model_st"
    command = [sys.executable, "-m", "parity", "sweep", str(manifest), str(model), "--output", str(out), "--workers", "1"]
    root = Path(__file__).parent.parent
    refused = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=root)
    assert refused.returncode == 2 and "fr, es, de" in refused.stderr and not out.exists()
    done = subprocess.run(command + ["--language", "fr"], capture_output=True, text=True, timeout=600, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    got = lines(out)
    assert len(got) == len(rows) and all(r["tokens_identical"] for r in got)
    assert f"tokens identical in all four (with onnxruntime): {len(rows)} of {len(rows)} files" in done.stdout


def test_a_local_cluster_leaves_the_callers_environment_as_it_was():
    """Dask's LocalCluster sets OMP_NUM_THREADS=1 in the process that starts it; a program
    that runs a corpus from Python would then do its own NumPy on one thread."""
    before = dict(os.environ)
    client, cluster = corpus.connect(workers=1)
    client.close()
    cluster.close()
    assert dict(os.environ) == before

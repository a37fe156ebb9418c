"""Hostile model files and options (issue 43): every count in a config bounded before
anything is built from it, every JSON file of a model directory read with a depth limit,
the confidence calibration's fields type-checked, ``--threads`` bounded by the cores, an
ONNX manifest's opset type-checked, subtitles without an empty cue, and each file's output
out before the next file runs. Each case is made at test time from the bundled model and
run through the command in a memory-capped child (tests/hostile.py): one typed line, no
traceback, within ~1 GB and a few seconds; and the same typed error from the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minis2t
import minis2t.app.pipeline
from minis2t import errors, jsonfile
from minis2t.engine.nn import usable_cores
from tests.bounded import assert_refused, run_bounded
from tests.builders import GOOD, GOOD_TEXT
from tests.hostile import ROOT, assert_clean_refusal, run_command
from tests.test_checkpoint_hostile import damaged_copy, edit_json, write_file

WEIGHTS_RULE = "may not ask for more numbers than its weights hold"
DEEP = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"  # 200 kB; json.loads: a RecursionError


def refused_by_command(model: str, name: str, match: str, *options: str):
    run = run_command("transcribe", GOOD, "--model", model, "--quiet", *options)
    line = assert_clean_refusal(run, name, match, seconds=15)
    assert run.returncode == 2, run.stderr
    return line


def refused_by_api(model: str, error: str, match: str, capped: bool = False):
    """The same refusal from ``Speech2Text.from_pretrained``: in process, or (``capped``)
    in a child under the memory cap (tests/bounded.py), for the cases that once allocated
    without bound."""
    if capped:
        result = run_bounded(f"minis2t.Speech2Text.from_pretrained({model!r})")
        assert_refused(result, error, match)
        assert "MiniS2TError" in result["mro"]
        return
    with pytest.raises(getattr(errors, error)) as caught:
        minis2t.Speech2Text.from_pretrained(model)
    assert match in str(caught.value)


# --- counts and sizes in config.json ------------------------------------------------------------


@pytest.mark.parametrize("field, value, match", [
    ("encoder_layers", 10**9, "allows at most 1,024"),  # was a MemoryError after 2.7 GB and 17 s
    ("encoder_layers", 10**5, "allows at most 1,024"),  # was 556 MB of tensor names
    ("decoder_layers", 1000, WEIGHTS_RULE),  # under the cap, over the weights
    ("vocab_size", 10**7, "allows at most"),
    ("d_model", 2**20, "allows at most"),
    ("encoder_ffn_dim", 2**15, WEIGHTS_RULE),
    ("conv_channels", 10**9, "allows at most"),
    ("num_conv_layers", 10**6, "allows at most"),
    ("conv_kernel_sizes", [10**9 + 1, 5], "odd integers in [1, 63]"),
    ("conv_kernel_sizes", 5, "must be a list"),
    ("input_feat_per_channel", 10**6, "allows at most"),
    ("encoder_attention_heads", 10**6, "allows at most"),
])  # fmt: skip
def test_config_counts_are_bounded_before_anything_is_built(tmp_path, field, value, match):
    model = damaged_copy(tmp_path, edit_json("config.json", **{field: value}))
    refused_by_command(model, "config.json" if match == WEIGHTS_RULE else field, match)
    refused_by_api(model, "ConfigError", match, capped=value == 10**9)


def test_the_weights_bound_states_its_rule_and_the_numbers(tmp_path):
    model = damaged_copy(tmp_path, edit_json("config.json", encoder_layers=1000))
    with pytest.raises(errors.ConfigError) as caught:
        minis2t.Speech2Text.from_pretrained(model)
    from safetensors.numpy import load_file

    held = sum(w.size for w in load_file(os.path.join(model, "model.safetensors")).values())
    assert f"the weights hold {held:,} numbers" in str(caught.value) and "1000 encoder" in str(caught.value)


def test_the_bound_is_below_every_real_model():
    """The lower bound on parameters never exceeds a real model's count (it leaves out
    biases and norms), so no genuine directory is refused by it."""
    from minis2t.io.config import S2T_SMALL, ModelConfig, minimum_parameters

    for name in ("bundled-asr", "bundled-st"):
        model = minis2t.Speech2Text.from_pretrained(name, runtime="numpy")
        assert minimum_parameters(model.config) <= model.num_parameters
    assert 29.0e6 < minimum_parameters(ModelConfig(**S2T_SMALL)) <= 29.5e6  # s2t-small: 29.5 M


# --- JSON nested without end, in each JSON file a model directory holds -------------------------

JSON_FILES = {
    "config.json": "ConfigError",
    "generation_config.json": "ConfigError",
    "preprocessor_config.json": "ConfigError",
    "tokenizer_config.json": "TokenizerError",
    "vocab.json": "TokenizerError",
    "confidence.json": "ConfigError",
}


@pytest.mark.parametrize("name", list(JSON_FILES))
def test_deeply_nested_json_in_any_model_file_is_refused(tmp_path, name):
    model = damaged_copy(tmp_path, write_file(name, DEEP))
    refused_by_command(model, name, "nested more than 32 levels")
    refused_by_api(model, JSON_FILES[name], "nested more than 32 levels", capped=name == "config.json")


def test_json_nesting_is_counted_outside_strings_only():
    assert not jsonfile.json_depth_exceeds('{"a": "' + "[" * 100 + '", "b": "\\"[[[["}')
    assert jsonfile.json_depth_exceeds("[" * 33 + "]" * 33) and not jsonfile.json_depth_exceeds("[" * 32 + "]" * 32)


# --- the confidence calibration --------------------------------------------------------------------


@pytest.mark.parametrize("changes, match", [
    ({"threshold": True}, "'threshold': must be a number, got True (a JSON boolean"),  # read as 1.0 before
    ({"threshold": "0.5"}, "'threshold': must be a number, got '0.5' (a JSON string"),
    ({"intercept": False}, "'intercept': must be a number"),
    ({"coef": [True] * 6}, "'coef' must be a list of finite numbers"),
    ({"mean": "0.1"}, "'mean' must be a list of finite numbers"),
    ({"features": [1, 2]}, "'features' must be a list of signal names"),
    ({"scale": [1e-308] * 6}, "beyond 1e+06"),  # a NumPy overflow warning on stderr before, and confidence 0
    ({"coef": [1e308] * 6}, "beyond 1e+06"),
    ({"intercept": 1e300}, "beyond 1e+06"),
])  # fmt: skip
def test_confidence_fields_are_type_checked(tmp_path, changes, match):
    model = damaged_copy(tmp_path, edit_json("confidence.json", **changes))
    refused_by_command(model, "confidence.json", match)
    refused_by_api(model, "ConfigError", match)


@pytest.mark.parametrize("changes, match", [
    ({"dither": 1e308}, "dither must be a number from 0"),  # NumPy's warnings, then NaN features, before
    ({"padding_value": 1e308}, "padding_value must be a number that float32 holds"),  # an overflow warning
])  # fmt: skip
def test_feature_settings_beyond_float32_are_refused(tmp_path, changes, match):
    model = damaged_copy(tmp_path, edit_json("preprocessor_config.json", **changes))
    refused_by_command(model, "preprocessor_config", match)


def test_the_bundled_calibration_is_far_inside_the_weight_bound():
    """The refusal's message says the bundled calibration's largest weight is under 20."""
    from minis2t.app import confidence

    calibration = confidence.load(minis2t.app.pipeline.BUNDLED_MODEL)
    assert np.abs(calibration.coef / calibration.scale).max() < 20 < confidence.MAX_WEIGHT


# --- --threads and threads= ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from minis2t.app.onnx_export import export

    return str(export("bundled-asr", tmp_path_factory.mktemp("onnx") / "out"))  # ~2 s


@pytest.mark.parametrize("workers", ["100000", str(usable_cores() + 1)])
def test_corpus_workers_beyond_the_cores_are_refused_before_any_process_starts(tmp_path, workers):
    """Each local worker is a process with its own model: --workers 100000 would start
    processes until the machine gave out."""
    manifest = tmp_path / "m.tsv"
    manifest.write_text(f"path\n{GOOD}\n", encoding="utf-8")
    run = run_command("corpus", manifest, "--output", tmp_path / "o.jsonl", "--workers", workers, "--quiet")
    line = assert_clean_refusal(run, f"--workers {workers}", f"give 1 to {usable_cores()}", seconds=10)
    assert run.returncode == 2 and "--address" in line and not (tmp_path / "o.jsonl").exists()
    with pytest.raises(errors.CorpusError, match="at most one local worker process per core"):
        from minis2t.app import corpus

        corpus.connect(workers=int(workers))


@pytest.mark.parametrize("threads", ["100000", "256", str(usable_cores() + 1)])
@pytest.mark.parametrize("kind", ["bundled", "onnx"])
def test_threads_beyond_the_cores_are_a_usage_error(kind, threads, request):
    """100 000 threads on an ONNX directory was a segmentation fault after 21 s; 256 an
    OpenBLAS allocation failure; the NumPy path 12x slower."""
    model = request.getfixturevalue("onnx_dir") if kind == "onnx" else "bundled-asr"
    run = run_command("transcribe", GOOD, "--model", model, "--threads", threads, "--quiet")
    line = assert_clean_refusal(run, "--threads", f"from 1 to {usable_cores()}", seconds=10)
    assert run.returncode == 2 and "sched_getaffinity" in line, run.stderr


@pytest.mark.parametrize("threads", [10**5, usable_cores() + 1, 0, -1, True, 1.5, "2"])
@pytest.mark.parametrize("runtime", ["numpy", "onnx", "exported"])
def test_threads_are_checked_by_the_api_for_every_runtime(threads, runtime, request):
    options = {"threads": threads}
    if runtime == "exported":
        model = request.getfixturevalue("onnx_dir")
    else:
        model = "bundled-asr"
        options["runtime"] = runtime
        if runtime == "onnx":
            pytest.importorskip("onnxruntime")
    with pytest.raises(errors.ConfigError, match=f"from 1 to {usable_cores()}"):
        minis2t.Speech2Text.from_pretrained(model, **options)


def test_the_onnx_runtime_checks_threads_itself(onnx_dir):
    from minis2t.engine.onnx_runtime import OnnxRuntime

    config = minis2t.ModelConfig.from_pretrained(onnx_dir)
    with pytest.raises(errors.ConfigError, match="threads=100000"):
        OnnxRuntime(onnx_dir, config, threads=100_000)


def test_threads_up_to_the_cores_run():
    model = minis2t.Speech2Text.from_pretrained("bundled-asr", threads=usable_cores(), runtime="numpy")
    assert model.transcribe(str(GOOD)) == [GOOD_TEXT]


# --- the ONNX manifest ----------------------------------------------------------------------------


@pytest.mark.parametrize("opset, match", [("18", "'18' (a JSON string, not an integer)"),
                                          (18.0, "18.0 (a JSON number, not an integer)"),
                                          (True, "True (a JSON boolean"), (None, "None (a JSON null")])  # fmt: skip
def test_a_manifest_opset_that_is_not_an_integer_says_what_it_is(onnx_dir, tmp_path, opset, match):
    import shutil

    model = tmp_path / "out"
    shutil.copytree(onnx_dir, model)
    manifest = json.loads((model / "onnx_config.json").read_text())
    (model / "onnx_config.json").write_text(json.dumps({**manifest, "opset": opset}))
    refused_by_command(str(model), "onnx_config.json", match)
    with pytest.raises(errors.OnnxModelError, match="need an integer opset"):
        minis2t.Speech2Text.from_pretrained(str(model))


def test_a_deeply_nested_manifest_is_refused(onnx_dir, tmp_path):
    import shutil

    model = tmp_path / "out"
    shutil.copytree(onnx_dir, model)
    (model / "onnx_config.json").write_text(DEEP)
    refused_by_command(str(model), "onnx_config.json", "nested more than 32 levels")
    refused_by_api(str(model), "OnnxModelError", "nested more than 32 levels")


# --- subtitles and the command's output ----------------------------------------------------------


def test_narrowest_subtitles_hold_no_empty_cue():
    """--max-line-width 1 --max-line-count 1 wrote a cue of 0 ms (00:00:00,840 -->
    00:00:00,840): every word its own cue now, each at least 1 ms, in order."""
    import srt

    run = run_command("transcribe", GOOD, "--quiet", "--output-format", "srt", "--max-line-width", "1",
                      "--max-line-count", "1", budget_mb=0)  # fmt: skip
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    cues = list(srt.parse(run.stdout))
    assert [c.content for c in cues] == GOOD_TEXT.split()
    assert all(c.end > c.start for c in cues) and all(a.end <= b.start for a, b in zip(cues, cues[1:]))


def test_cue_layout_never_empty_on_degenerate_word_times():
    from minis2t.app.formats import cues

    words = [{"word": w, "start": 1.0, "end": 1.0} for w in ("a", " ", "bb", "", "c")]
    segment = {"start": 1.0, "end": 1.002, "text": "a bb c", "words": words}
    out = cues({"segments": [segment]}, max_line_width=1, max_line_count=1)
    assert out and all(text.strip() and "\n\n" not in text for _, _, text in out)
    assert all(round(b * 1000) > round(a * 1000) for a, b, _ in out) or len(out) == 1
    lone = {"start": 2.0, "end": 3.0, "text": " ", "words": [{"word": " ", "start": 2.0, "end": 2.0}]}
    assert [t for _, _, t in cues({"segments": [lone]}, max_line_width=1)] == ["…"]


def test_earlier_transcripts_are_out_before_a_later_file_crashes(tmp_path):
    """The second file's transcription dies of a native crash (SIGSEGV, simulated): the
    first file's transcript is already on standard output."""
    script = f"""
import os, signal, sys
from minis2t.app import cli, pipeline
real, calls = pipeline.Speech2Text.transcribe_long, []
def dying(self, *a, **k):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGSEGV)
    return real(self, *a, **k)
pipeline.Speech2Text.transcribe_long = dying
sys.exit(cli.main(["transcribe", {str(GOOD)!r}, {str(GOOD)!r}, "--quiet", "--runtime", "numpy"] + sys.argv[1:]))
"""
    for fmt in ("text", "json"):
        out = subprocess.run([sys.executable, "-c", script, "--output-format", fmt], capture_output=True, text=True,
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)  # fmt: skip
        assert out.returncode < 0, out.stderr[-2000:]
        assert GOOD_TEXT in out.stdout, (fmt, out.stdout, out.stderr[-2000:])

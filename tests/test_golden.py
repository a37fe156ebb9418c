"""Golden tensors for ports (#41): ``minis2t golden write`` and ``minis2t golden check``.

The goldens are the reference's own numbers (a test holds them to ``reference.model`` and
``reference.run``); the ports that must pass are real ones — the PyTorch twin computing
in float32 from the waveform on, and onnxruntime running the exported graphs — and each
planted defect is a twin with one stage done wrong, which the check must find at that
stage. Hostile files are refused with a typed error before anything large is read.
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import minis2t
from tests.builders import blocked_check, import_blocker
from minis2t.app.golden import stages
from minis2t.app.golden.write import generation_options, refused
from minis2t.app.golden.check import FAIL, PASS, SKIPPED, TIE, check, format_report, read_manifest
from minis2t.app.golden.tensorfile import MAX_HEADER, TensorFile
from minis2t.errors import TensorFileError
from minis2t.reference import features as rf
from minis2t.reference import model as m
from minis2t.reference import run as reference_run
from parity import bars
from parity.broken_ports import DEFECTS, UnbiasedCMVN
from parity.port import PortDump, TwinPort, onnx_port

ROOT = Path(__file__).parents[1]
LIBRISPEECH = ROOT / "minis2t" / "assets" / "en_librispeech_dev-clean_1272-128104-0000.flac"
BLOCKED = ("torch", "transformers", "fairseq", "onnx")
POISON = (import_blocker(*BLOCKED) + "import minis2t.app.cli\nstatus = minis2t.app.cli.main(sys.argv[1:])\n"
          + blocked_check(*BLOCKED) + "sys.exit(status)\n")


def command(*args) -> subprocess.CompletedProcess:
    """``minis2t ARGS`` in a process where torch, transformers, fairseq and onnx cannot be imported."""
    return subprocess.run([sys.executable, "-c", POISON, *map(str, args)], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> Path:
    """The bundled recogniser's goldens on the LibriSpeech sample, written by the command
    without torch."""
    out = tmp_path_factory.mktemp("golden") / "asr.safetensors"
    done = command("golden", "write", "bundled-asr", LIBRISPEECH, out)
    assert done.returncode == 0, done.stderr
    assert "rules transformers, fairseq" in done.stdout
    return out


@pytest.fixture(scope="module")
def waveform() -> np.ndarray:
    return minis2t.load_audio(LIBRISPEECH)


def golden_tensors(path: Path) -> dict[str, np.ndarray]:
    f = TensorFile(path)
    return {name: f.read(name) for name in f.names}


# --- the goldens are the reference's numbers ------------------------------------------------


def test_goldens_are_the_reference_computed_in_float64(golden, waveform):
    """Taken apart stage by stage, the reference gives what its whole functions give, bit for
    bit: fbank, encode, and both searches (``reference.run.generate``) on the float64 model."""
    g = golden_tensors(golden)
    model = minis2t.Speech2Text.from_pretrained("bundled-asr", np.float64)
    wave = waveform.astype(np.float64)
    np.testing.assert_array_equal(g["waveform"], wave)
    np.testing.assert_array_equal(g["frontend.log_mel"], rf.fbank(wave))
    features = rf.utterance_cmvn(rf.fbank(wave))
    np.testing.assert_array_equal(g["frontend.features"], features)
    enc = m.encode(model.params, model.config, features[None])
    np.testing.assert_array_equal(g["encoder.output"], enc["last_hidden_state"])
    for i, x in enumerate(enc["hidden_states"][1:-1]):  # each layer's input is the previous one's output
        np.testing.assert_array_equal(g[f"encoder.layer.{i}"], x)
    for rules in ("transformers", "fairseq"):
        out = reference_run.generate(model.params, model.config, features[None], None, model.generation_config, rules)
        np.testing.assert_array_equal(g[f"search.{rules}.sequences"], out.sequences)
        np.testing.assert_array_equal(g[f"search.{rules}.sequences_scores"], out.sequences_scores)
    # a step's decoder, taken apart, is reference.model.decode
    cache = m.init_cache(model.params, model.config, np.repeat(enc["last_hidden_state"], 5, axis=0))
    step0 = m.decode(model.params, model.config, np.full((5, 1), 2), cache)
    np.testing.assert_array_equal(g["search.transformers.step.0.logits"], step0["logits"][:, -1])
    assert model.tokenizer.decode(g["search.transformers.sequences"][0], skip_special_tokens=True)


def test_the_manifest_describes_every_tensor_in_data_path_order(golden):
    f = TensorFile(golden)
    doc = read_manifest(f)
    names = [t["name"] for t in doc["tensors"]]
    assert sorted(names) == sorted(f.names)
    assert names[:3] == ["waveform", "frontend.frames", "frontend.dc_removed"]
    assert names.index("encoder.positions") < names.index("encoder.input") < names.index("encoder.output")
    model = minis2t.Speech2Text.from_pretrained("bundled-asr")
    from minis2t.app.golden.write import config_sha256

    assert doc["config_sha256"] == config_sha256(model.config)
    assert doc["rules"] == ["transformers", "fairseq"] and doc["dtype"] == "float64"
    patterns = {p["pattern"]: p for p in doc["stage_patterns"]}
    for t in doc["tensors"]:
        assert f.shape(t["name"]) == tuple(t["shape"]) and t["pattern"] in patterns
        assert patterns[t["pattern"]]["reference"].startswith("minis2t.")
    assert all(set(p) == {"pattern", "meaning", "reference", "source", "measure", "derivation"}
               for p in patterns.values())  # fmt: skip
    for p in patterns.values():  # each source line is the def of a function the reference names
        for place in p["source"]:
            path, line = place.split(":")
            text = (ROOT / path).read_text().splitlines()[int(line) - 1]
            assert text.startswith(("def ", "class ")) and text.split()[1].split("(")[0] in p["reference"], place
    steps = [n for n in names if n.startswith("search.fairseq.step.") and n.endswith(".token")]
    assert len(steps) >= 2, "fairseq's beam state is recorded (GenerateOutput.steps)"


def test_tolerances_are_the_parity_bars():
    assert stages.FRONT_END_FLOAT32 == bars.FRONT_END_TWIN["float32"]
    assert stages.MODEL_FLOAT32 == bars.MODEL_TRANSFORMERS["float32"] == bars.ONNX["float32"]


# --- real ports pass -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twin_dump(waveform) -> PortDump:
    return TwinPort("bundled-asr", dsp_dtype=torch.float32).run(waveform)


def test_the_twin_in_float32_passes(golden, twin_dump, tmp_path):
    """The twin from the waveform on in float32 (its DSP too): every stage within its
    tolerance, both searches step for step, nothing absent."""
    twin_dump.save(tmp_path / "twin.safetensors")
    result = check(golden, tmp_path / "twin.safetensors")
    assert result.passed, format_report(result, golden, "twin")
    assert {r.status for r in result.rows} == {PASS}
    assert not result.divergence and not result.unknown


def test_onnxruntime_passes_on_the_stages_its_graphs_expose(golden, waveform, tmp_path):
    from minis2t.app.onnx_export import export

    pytest.importorskip("onnxruntime")  # the test extra installs it: a skip here is a broken set-up
    out = export("bundled-asr", tmp_path / "onnx")
    done = command("golden", "write", out, LIBRISPEECH, tmp_path / "g.safetensors")
    assert done.returncode == 2 and "exported ONNX directory" in done.stderr  # graphs, no weights
    onnx_port(out, waveform).save(tmp_path / "ort.safetensors")
    result = check(golden, tmp_path / "ort.safetensors")
    report = format_report(result, golden, "ort")
    assert result.passed, report
    compared = {r.name for r in result.compared}
    assert {"frontend.features", "encoder.output", "decoder.layer.2.cross_value",
            "search.transformers.step.3.logits", "search.fairseq.step.3.token"} <= compared  # fmt: skip
    assert "encoder.layer.0" not in compared and "absent from the port (a subset" in report


# --- planted defects are found at their stage -------------------------------------------------


@pytest.mark.parametrize("port, stage, rules", DEFECTS, ids=[d[0].__name__ for d in DEFECTS])
def test_a_planted_defect_is_found_at_its_stage(golden, waveform, tmp_path, port, stage, rules):
    port("bundled-asr").run(waveform, rules=rules).save(tmp_path / "port.safetensors")
    result = check(golden, tmp_path / "port.safetensors")
    first = result.first_failure
    assert not result.passed and first is not None
    if "*" in stage:
        prefix, suffix = stage.split("*")
        assert first.name.startswith(prefix) and first.name.endswith(suffix), first.name
        # the same step's tokens and running scores agree: only the ranking rule differs
        step = first.name.rsplit(".", 1)[0]
        assert {r.status for r in result.rows if r.name.startswith(step + ".") and r.name != first.name} == {PASS}
    else:
        assert first.name == stage
        index = [r.name for r in result.rows].index(stage)
        assert {r.status for r in result.rows[:index]} <= {PASS, "absent"}
    assert f"the first is {first.name}" in format_report(result, golden, "port")


def test_the_unbiased_variance_is_caught_by_a_margin(golden, waveform, twin_dump, tmp_path):
    """The unbiased variance changes every feature by 1/(2T) of itself (8.6e-4 for the
    sample's 584 frames), the float32 twin's features are off by far less: the measure
    separates them by more than 5x on each side of the tolerance."""
    UnbiasedCMVN("bundled-asr").run(waveform, rules=()).save(tmp_path / "bad.safetensors")
    twin_dump.save(tmp_path / "good.safetensors")
    bad = next(r for r in check(golden, tmp_path / "bad.safetensors").rows if r.name == "frontend.features")
    good = next(r for r in check(golden, tmp_path / "good.safetensors").rows if r.name == "frontend.features")
    assert bad.rel > 5 * stages.FRONT_END_FLOAT32 > 25 * good.rel


# --- what the check says about a port's file --------------------------------------------------


def port_file(tmp_path, tensors: dict, name="port.safetensors") -> Path:
    dump = PortDump()
    for k, v in tensors.items():
        dump.put(k, v)
    dump.save(tmp_path / name)
    return tmp_path / name


def test_a_subset_is_compared_and_said(golden, tmp_path):
    g = golden_tensors(golden)
    path = port_file(tmp_path, {"encoder.output": g["encoder.output"].astype(np.float32)})
    result = check(golden, path)
    assert result.passed and [r.name for r in result.compared] == ["encoder.output"]
    assert f"compared 1 of {len(g)} golden tensors" in format_report(result, golden, path)


def score_gaps(golden: Path, rules: str) -> dict[int, tuple[float, float]]:
    """Per step: the smallest gap between the golden's candidate scores, and the scores' tolerance."""
    g, doc = golden_tensors(golden), read_manifest(TensorFile(golden))
    tol = {t["name"]: t["tolerance"] for t in doc["tensors"]}
    return {t: (float((-np.diff(g[f"search.{rules}.step.{t}.score"][0])).min()), tol[f"search.{rules}.step.{t}.score"])
            for t in range(1000) if f"search.{rules}.step.{t}.score" in g}  # fmt: skip


def test_a_divergent_search_is_reported_at_its_step(golden, twin_dump, tmp_path):
    step = next(t for t, (gap, tol) in score_gaps(golden, "transformers").items() if t >= 2 and gap > 2 * tol)
    tensors = dict(twin_dump.tensors)
    token = tensors[f"search.transformers.step.{step}.token"].copy()
    token[0, 0] = (token[0, 0] + 1) % 256
    tensors[f"search.transformers.step.{step}.token"] = token
    result = check(golden, port_file(tmp_path, tensors))
    assert result.divergence["transformers"][0] == step and not result.passed
    assert result.first_failure.name == f"search.transformers.step.{step}.token"
    later = [r for r in result.rows if r.name.startswith(f"search.transformers.step.{step + 1}.")]
    assert later and {r.status for r in later} == {SKIPPED}
    assert "fairseq" not in result.divergence  # the other search is compared on its own
    assert f"search transformers: diverged at step {step}" in format_report(result, golden, "port")


def test_a_search_that_stops_early_or_goes_on_is_a_divergence(golden, twin_dump, tmp_path):
    last = max(int(n.split(".")[3]) for n in twin_dump.tensors if n.startswith("search.fairseq.step."))
    early = {n: v for n, v in twin_dump.tensors.items()
             if not (n.startswith("search.fairseq.step.") and int(n.split(".")[3]) >= 4)}  # fmt: skip
    result = check(golden, port_file(tmp_path, early))
    assert result.divergence["fairseq"][0] == 4 and "stopped after step 3" in result.divergence["fairseq"][1]
    longer = dict(twin_dump.tensors)
    longer[f"search.fairseq.step.{last + 1}.token"] = np.zeros((1, 10), np.int64)
    result = check(golden, port_file(tmp_path, longer, "longer.safetensors"))
    assert result.divergence["fairseq"][0] == last + 1 and not result.passed


def test_a_near_tie_is_not_a_failure(golden, twin_dump, tmp_path):
    """Where the golden's candidates are closer than twice the score tolerance, a float32
    port may order them either way: a different choice there is a tie, not a failure. A
    golden with the two best candidates of step 2 brought within the tolerance, and a port
    that takes them in the other order."""
    from minis2t.app.golden.tensorfile import write

    f = TensorFile(golden)
    tensors = {name: f.read(name) for name in f.names}
    name = "search.transformers.step.2.score"
    tol = next(t["tolerance"] for t in read_manifest(f)["tensors"] if t["name"] == name)
    scores = tensors[name].copy()
    scores[0, 1] = max(scores[0, 1], scores[0, 0] - tol / 2)  # a near-tie, still in order
    tensors[name] = scores
    write(tmp_path / "tied.safetensors", tensors, f.metadata)
    port = dict(twin_dump.tensors)
    for field in ("token", "beam", "score"):
        swapped = port[f"search.transformers.step.2.{field}"].copy()
        swapped[:, [0, 1]] = swapped[:, [1, 0]]
        port[f"search.transformers.step.2.{field}"] = swapped
    result = check(tmp_path / "tied.safetensors", port_file(tmp_path, port))
    assert result.divergence["transformers"][0] == 2 and "near-tie" in result.divergence["transformers"][1]
    assert next(r for r in result.rows if r.status == TIE).name.startswith("search.transformers.step.2.")
    assert result.passed
    tensors[name] = scores[0, 0] - 3 * tol * np.arange(scores.shape[1])[None, :]  # no near-tie anywhere
    write(tmp_path / "apart.safetensors", tensors, f.metadata)
    result = check(tmp_path / "apart.safetensors", port_file(tmp_path, port))
    assert not result.passed and result.divergence["transformers"][1].startswith("diverged at step 2:")


def test_a_port_with_wrong_shapes_dtypes_or_values_fails_those_stages(golden, tmp_path):
    g = golden_tensors(golden)
    bad_values = g["encoder.layer.0"].copy()
    bad_values[0, 0, 0] = np.nan
    path = port_file(tmp_path, {
        "encoder.output": g["encoder.output"][:, :-1],  # one frame short
        "search.transformers.step.0.token": g["search.transformers.step.0.token"].astype(np.float32),
        "encoder.layer.0": bad_values,
        "encoder.layer.1": g["encoder.layer.1"].astype(np.float16),  # too coarse: 1e-3 relative
    })  # fmt: skip
    rows = {r.name: r for r in check(golden, path).rows}
    assert rows["encoder.output"].status == FAIL and "shape [1, 145, 128]" in rows["encoder.output"].note
    assert "dtype F32" in rows["search.transformers.step.0.token"].note
    assert "NaN" in rows["encoder.layer.0"].note
    assert rows["encoder.layer.1"].status == FAIL and rows["encoder.layer.1"].rel > stages.MODEL_FLOAT32


def test_unknown_names_are_listed_and_the_helper_refuses_them(golden, tmp_path):
    g = golden_tensors(golden)
    header = {"encoder.output": g["encoder.output"], "encoder.outputs": g["encoder.output"]}
    from minis2t.app.golden.tensorfile import write

    write(tmp_path / "p.safetensors", header, {})
    result = check(golden, tmp_path / "p.safetensors")
    assert result.unknown == ["encoder.outputs"]
    assert "1 port tensors have no golden counterpart" in format_report(result, golden, "p")
    with pytest.raises(ValueError, match="not a golden name"):
        PortDump().put("encoder.outputs", g["encoder.output"])


# --- the command ---------------------------------------------------------------------------------


def test_the_command_checks_without_torch_and_exits_by_the_verdict(golden, twin_dump, tmp_path):
    good = port_file(tmp_path, twin_dump.tensors, "good.safetensors")
    done = command("golden", "check", golden, good)
    assert done.returncode == 0, done.stderr
    assert "PASS" in done.stdout.splitlines()[-1] and "frontend.features" in done.stdout
    tensors = dict(twin_dump.tensors)
    tensors["encoder.layer.2"] = tensors["encoder.layer.2"] * 1.01
    done = command("golden", "check", golden, port_file(tmp_path, tensors, "bad.safetensors"))
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].startswith("FAIL: ") and "the first is encoder.layer.2" in done.stdout
    done = command("golden", "check", golden, tmp_path / "missing.safetensors")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "cannot read" in done.stderr
    done = command("golden", "check", good, good)  # a port's file is not a golden
    assert done.returncode == 2 and "not a golden file" in done.stderr
    done = command("golden", "write", "bundled-asr", LIBRISPEECH, tmp_path / "no" / "such.safetensors")
    assert done.returncode == 2 and "no directory" in done.stderr


def header_file(tmp_path, header, data: bytes = b"", length: int | None = None) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


ENTRY = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}


@pytest.mark.parametrize("header, data, length, message", [
    (b"", b"", 0, "header claims 0 bytes"),
    (b"{}", b"", 2**62, "header claims"),  # a length far beyond the file
    (b"{}", b"", MAX_HEADER + 1, "header claims"),
    (b"{not json", b"", None, "not valid JSON"),
    (b"[1, 2]", b"", None, "not a JSON object"),
    (b"\xff\xfe{}", b"", None, "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, b"", None, "not valid JSON"),  # nesting deeper than the parser goes
    ({"x": {**ENTRY, "dtype": "F8_E4M3"}}, bytes(16), None, "dtype"),
    ({"x": {**ENTRY, "dtype": 7}}, bytes(16), None, "dtype"),
    ({"x": {**ENTRY, "shape": [2**40, 2**40]}}, bytes(16), None, "needs"),  # huge declared shape
    ({"x": {**ENTRY, "shape": [-2, -2]}}, bytes(16), None, "non-negative"),
    ({"x": {**ENTRY, "shape": [1.5, 2]}}, bytes(16), None, "non-negative"),
    ({"x": {**ENTRY, "data_offsets": [0, 2**62]}}, bytes(16), None, "outside"),
    ({"x": ENTRY}, bytes(8), None, "outside"),  # truncated data
    ({"x": {**ENTRY, "extra": 1}}, bytes(16), None, "exactly"),
    ({"x": ENTRY, "__metadata__": {"k": 5}}, bytes(16), None, "__metadata__"),
    ({"x" * 1000: ENTRY}, bytes(16), None, "longer than"),
])  # fmt: skip
def test_a_hostile_file_is_refused_with_a_typed_error(tmp_path, header, data, length, message):
    path = header_file(tmp_path, header, data, length)
    with pytest.raises(TensorFileError, match=message):
        TensorFile(path)


def test_a_hostile_port_file_fails_the_command_in_one_line(golden, tmp_path):
    path = header_file(tmp_path, {"encoder.output": {**ENTRY, "shape": [2**31, 2**31, 2**31]}}, bytes(16))
    done = command("golden", "check", golden, path)
    assert done.returncode == 2 and done.stderr.startswith("minis2t: error: ") and done.stderr.count("\n") == 1


def test_a_truncated_golden_is_refused(golden, tmp_path):
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(golden.read_bytes()[: golden.stat().st_size // 2])
    with pytest.raises(TensorFileError, match="outside"):
        check(cut, cut)


# --- other model directories ---------------------------------------------------------------------


def test_goldens_of_a_translation_model_with_its_language(tmp_path, waveform):
    """bundled-st with --language de: transformers' rules with the forced language token;
    fairseq's rules take no forced token and are left out, and the manifest says why."""
    out = tmp_path / "st.safetensors"
    done = command("golden", "write", "bundled-st", LIBRISPEECH, out, "--language", "de", "--beams", "2")
    assert done.returncode == 0, done.stderr
    assert "fairseq rules left out" in done.stdout
    doc = read_manifest(TensorFile(out))
    assert doc["rules"] == ["transformers"] and "forced first token" in doc["rules_left_out"]["fairseq"]
    model = minis2t.Speech2Text.from_pretrained("bundled-st")
    options = generation_options(model, "de", num_beams=2)
    TwinPort("bundled-st").run(waveform, options).save(tmp_path / "twin.safetensors")
    result = check(out, tmp_path / "twin.safetensors")
    assert result.passed, format_report(result, out, "twin")
    done = command("golden", "write", "bundled-st", LIBRISPEECH, tmp_path / "x.safetensors")
    assert done.returncode == 2 and "choose the target language" in done.stderr


@pytest.fixture(scope="module")
def fairseq_dir(tmp_path_factory):
    """A tiny random model in a fairseq S2T directory, with global CMVN statistics."""
    from parity import fairseq_oracle as fo
    from tests.builders import hf_model, spm_vocab_size, train_sentencepiece

    pytest.importorskip("fairseq")  # the test extra installs it: a skip here is a broken set-up
    hf = hf_model(seed=5, vocab_size=spm_vocab_size(120))
    weights = {k: v.numpy() for k, v in hf.state_dict().items() if "embed_positions" not in k}
    rng = np.random.default_rng(0)
    stats = {"mean": rng.normal(10, 2, 80), "std": rng.uniform(1, 3, 80)}
    return fo.write_fairseq_dir(tmp_path_factory.mktemp("fairseq"), minis2t.ModelConfig.from_dict(hf.config.to_dict()),
                                weights, train_sentencepiece(120), global_cmvn=stats)  # fmt: skip


@pytest.mark.parametrize("kind", ["huggingface", "fairseq"])
def test_goldens_of_model_directories_and_the_twin_passes(request, kind, tmp_path, waveform):
    directory = request.getfixturevalue("v5_dir" if kind == "huggingface" else "fairseq_dir")
    out = tmp_path / "golden.safetensors"
    done = command("golden", "write", directory, LIBRISPEECH, out, "--beams", "2", "--max-length", "8", "--attention")
    assert done.returncode == 0, done.stderr
    doc = read_manifest(TensorFile(out))
    assert doc["front_end"]["global_cmvn"] is (kind == "fairseq")
    assert TensorFile(out).shape("encoder.layer.1.attention") == (1, 2, 146, 146)  # [1, H, S, S], on request
    port = TwinPort(directory, attention=True)
    port.run(waveform, port.model.generation_options(num_beams=2, max_length=8)).save(tmp_path / "twin.safetensors")
    result = check(out, tmp_path / "twin.safetensors")
    assert result.passed, format_report(result, out, "twin")
    assert {r.status for r in result.rows} <= {PASS, TIE, SKIPPED}
    assert math.isfinite(result.compared[-1].max_abs or 0.0)


def test_a_golden_whose_manifest_lies_is_refused(golden, tmp_path):
    f = TensorFile(golden)
    doc = json.loads(f.metadata["minis2t.golden"])
    tensors = {name: f.read(name) for name in f.names[:3]}
    from minis2t.app.golden.tensorfile import write

    for lie in ({"tolerance": "abc"}, {"shape": [1, 2]}, {"name": "not.a.stage"}, {"tolerance": None}):
        bad = dict(doc, tensors=[{**doc["tensors"][0], **lie}])
        write(tmp_path / "lie.safetensors", tensors, {"minis2t.golden": json.dumps(bad)})
        with pytest.raises(TensorFileError, match="not a golden file"):
            check(tmp_path / "lie.safetensors", tmp_path / "lie.safetensors")


@pytest.mark.parametrize("change", [{}, {"no_repeat_ngram_size": 2}, {"forced_bos_token_id": 5},
                                    {"eos_token_id": [2, 7]}])  # fmt: skip
def test_the_rule_sets_refused_are_those_generate_refuses(change):
    """``refused`` and ``Speech2Text.generate(search="fairseq")`` give the same answer."""
    model = minis2t.Speech2Text.from_pretrained("bundled-asr")
    options = model.generation_options(**change)
    features = np.zeros((1, 20, 80), np.float32)
    try:
        model.generate(features, search="fairseq", max_length=3, **change)
        runs = True
    except minis2t.errors.ConfigError:
        runs = False
    assert runs == (refused("fairseq", options) == "") and refused("transformers", options) == ""

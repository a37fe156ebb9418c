"""ONNX, the fifth runtime (#34): ``minis2t export-onnx`` and onnxruntime against NumPy,
fairseq and the checks a damaged directory must meet.

The oracles are onnxruntime itself (running graphs traced from transformers' modules),
``onnx.checker`` and fairseq's ``SequenceGenerator``; the NumPy model is what the graphs
must agree with, within ``parity.bars.ONNX`` (its derivation is there).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minis2t
from minis2t import errors
from minis2t.reference import generate as g
from minis2t.io.checkpoint import BUNDLED_MODELS
from minis2t.app.onnx_export import GRAPHS, MANIFEST, export
from minis2t.engine.onnx_format import is_onnx_dir
from minis2t.engine.onnx_runtime import OnnxRuntime
from parity import bars
from tests.builders import blocked_check, hf_model, import_blocker, save_model_dir

onnx = pytest.importorskip("onnx")  # the test extra installs it: a skip here is a broken set-up
ort = pytest.importorskip("onnxruntime")

SAMPLES = sorted((BUNDLED_MODELS["bundled-asr"].parent / "samples").glob("*.wav"))
SAMPLES_ST = sorted((BUNDLED_MODELS["bundled-st"].parent / "samples_st").glob("*.wav"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Export a model once per module: ``exported(name_or_dir) -> OUT_DIR``."""
    done = {}

    def get(source):
        key = str(source)
        if key not in done:
            done[key] = export(source, tmp_path_factory.mktemp("onnx") / "out")
        return done[key]

    return get


def log_softmax(x):
    x = np.asarray(x, np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


# --- the export ------------------------------------------------------------------------------


def test_export_writes_checked_graphs_and_a_self_contained_directory(exported):
    out = exported("bundled-asr")
    assert is_onnx_dir(out)
    for name in GRAPHS.values():
        graph = onnx.load(str(out / name))
        onnx.checker.check_model(graph, full_check=True)  # onnx's own validation, shapes inferred
        assert graph.opset_import[0].version == json.loads((out / MANIFEST).read_text())["opset"]
    for name in ("config.json", "generation_config.json", "preprocessor_config.json", "vocab.json",
                 "sentencepiece.bpe.model"):  # fmt: skip
        assert (out / name).is_file(), name
    assert not any(p.name.startswith(".out.") for p in out.parent.iterdir())  # no staging left
    decoder = ort.InferenceSession(str(out / "decoder.onnx"), providers=["CPUExecutionProvider"])
    names = [x.name for x in decoder.get_outputs()]
    assert names[0] == "logits" and "present_key.2" in names and "cross_attention.0" in names


def test_the_command_exports_and_refuses_a_used_directory(tmp_path):
    out = tmp_path / "st"
    done = subprocess.run([sys.executable, "-m", "minis2t", "export-onnx", "bundled-st", str(out)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and is_onnx_dir(out)
    again = subprocess.run([sys.executable, "-m", "minis2t", "export-onnx", "bundled-st", str(out)],
                           capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 2 and "not an empty directory" in again.stderr and "Traceback" not in again.stderr


# --- tokens identical on the bundled models' test sentences -------------------------------


@pytest.mark.parametrize("search, beams", [("transformers", 1), ("transformers", 5), ("fairseq", 5)])
def test_bundled_asr_transcribes_as_numpy(exported, search, beams):
    ours = minis2t.Speech2Text.from_pretrained("bundled-asr")
    graphs = minis2t.Speech2Text.from_pretrained(exported("bundled-asr"))
    assert graphs.runtime.name == "onnxruntime"
    assert graphs.num_parameters == ours.num_parameters  # counted from the config, head tied
    for path in SAMPLES:
        features = ours.feature_extractor(minis2t.load_audio(path))["input_features"]
        a = ours.generate(features, search=search, num_beams=beams, return_dict=True)
        b = graphs.generate(features, search=search, num_beams=beams, return_dict=True)
        assert a.sequences.tolist() == b.sequences.tolist(), path.name
    texts = [str(p) for p in SAMPLES]
    assert graphs.transcribe(texts, search=search, num_beams=beams) == ours.transcribe(texts, search=search,
                                                                                       num_beams=beams)


@pytest.mark.parametrize("language", ["fr", "de", "es"])
def test_bundled_st_translates_as_numpy_with_a_forced_language(exported, language):
    ours = minis2t.Speech2Text.from_pretrained("bundled-st")
    graphs = minis2t.Speech2Text.from_pretrained(exported("bundled-st"))
    files = [str(p) for p in SAMPLES_ST]
    for beams in (1, 4):
        assert graphs.transcribe(files, language=language, num_beams=beams) == \
            ours.transcribe(files, language=language, num_beams=beams)  # fmt: skip


def test_long_form_and_word_timestamps_use_the_graphs(exported):
    """Segments and word times of a long recording: the same words, and times equal (the
    cross-attention weights the decoder graph returns differ from NumPy's by rounding,
    far less than the 40 ms of an encoder frame)."""
    ours = minis2t.Speech2Text.from_pretrained("bundled-asr")
    graphs = minis2t.Speech2Text.from_pretrained(exported("bundled-asr"))
    wave = np.concatenate([minis2t.load_audio(p) for p in SAMPLES[:3]])
    a, b = ours.transcribe_long(wave), graphs.transcribe_long(wave)
    assert a["text"] == b["text"] and len(a["segments"]) == len(b["segments"])
    for x, y in zip(a["segments"], b["segments"]):
        assert [w["word"] for w in x["words"]] == [w["word"] for w in y["words"]]
        assert [(w["start"], w["end"]) for w in x["words"]] == [(w["start"], w["end"]) for w in y["words"]]
        # a mean of the chosen tokens' log-probs: measured within 7e-6 of NumPy's on these
        # recordings (every log-prob, docs/onnx.md's table); 1e-4 leaves a 15x margin
        assert abs(x["avg_logprob"] - y["avg_logprob"]) <= 1e-4 * max(1.0, abs(x["avg_logprob"]))


# --- without torch ---------------------------------------------------------------------------

BLOCKED = ("torch", "transformers", "fairseq", "onnx")
POISON = import_blocker(*BLOCKED)
CHECK_BLOCKED = blocked_check(*BLOCKED)


def test_an_exported_directory_transcribes_without_torch(exported):
    """``minis2t transcribe --model OUT_DIR`` and ``Speech2Text.from_pretrained`` in a
    process where torch, transformers, fairseq and onnx cannot be imported."""
    out = exported("bundled-asr")
    files = [str(p) for p in SAMPLES[:3]]
    code = POISON + (
        "import minis2t.app.cli\n"
        "status = minis2t.app.cli.main(['transcribe', '--model', sys.argv[1], '--output-format', 'json', *sys.argv[2:]])\n"
        "assert minis2t.Speech2Text.from_pretrained(sys.argv[1]).runtime.name == 'onnxruntime'\n"
        + CHECK_BLOCKED + "sys.exit(status)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(out), *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    ours = minis2t.Speech2Text.from_pretrained("bundled-asr")
    for row, path in zip(rows, files):
        expected = ours.transcribe_long(path)
        assert row["text"] == expected["text"] and row["text"]
        assert [w["word"] for s in row["segments"] for w in s["words"]] == \
            [w["word"] for s in expected["segments"] for w in s["words"]]  # fmt: skip


def test_export_without_torch_names_the_extra(tmp_path):
    # every ONNX module imports without torch (they import it inside the traced export only);
    # the export needs onnx (minis2t[onnx]), the traced one torch and transformers too
    code = POISON + ("import minis2t.app.cli, minis2t.app.onnx_export, minis2t.app.onnx_graphs, minis2t.engine.onnx_runtime\n"
                     "sys.exit(minis2t.app.cli.main(['export-onnx', 'bundled-asr', *sys.argv[1:]]))\n")
    for extra, flags in (("minis2t[onnx]", []), ("minis2t[export]", ["--traced"])):
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out"), *flags], capture_output=True, text=True)
        assert done.returncode == 2 and extra in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "out").exists()


def test_running_without_onnxruntime_names_the_extra(exported):
    code = ("import sys\nsys.modules['onnxruntime'] = None\nimport minis2t.app.cli\n"
            "sys.exit(minis2t.app.cli.main(['transcribe', '--model', sys.argv[1], 'no-such-file.wav']))\n")
    done = subprocess.run([sys.executable, "-c", code, str(exported("bundled-asr"))], capture_output=True, text=True)
    # refused as a usage error (2) before the (missing) audio file is looked at
    assert done.returncode == 2 and "minis2t[onnx]" in done.stderr and "no-such-file" not in done.stderr
    assert "Traceback" not in done.stderr


# --- damaged and mismatched directories --------------------------------------------------------


def _copy(exported, tmp_path, name="bundled-asr") -> Path:
    target = tmp_path / "copy"
    shutil.copytree(exported(name), target)
    return target


def _refused(directory: Path, match: str) -> None:
    """The API raises OnnxModelError (or a ConfigError) naming the problem, and the command
    says the same with exit code 2, before it looks at the audio file."""
    with pytest.raises(errors.MiniS2TError, match=match):
        minis2t.Speech2Text.from_pretrained(directory)
    done = subprocess.run([sys.executable, "-m", "minis2t", "transcribe", "--model", str(directory),
                           "no-such-file.wav"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "no-such-file" not in done.stderr


def test_a_missing_graph_is_named(exported, tmp_path):
    d = _copy(exported, tmp_path)
    (d / "cross_kv.onnx").unlink()
    _refused(d, "cross_kv.onnx is missing")


def without_checksums(d: Path) -> Path:
    """``d`` as an export made before the manifest carried each graph's SHA-256: the
    structural checks below are then what finds a changed graph."""
    manifest = json.loads((d / MANIFEST).read_text())
    del manifest["sha256"]
    (d / MANIFEST).write_text(json.dumps(manifest))
    return d


def test_a_damaged_graph_is_named(exported, tmp_path):
    d = _copy(exported, tmp_path)
    data = (d / "decoder.onnx").read_bytes()
    (d / "decoder.onnx").write_bytes(data[: len(data) // 2])
    _refused(d, "decoder.onnx is damaged: its SHA-256 is not the one onnx_config.json recorded")
    _refused(without_checksums(d), "onnxruntime cannot load .*decoder.onnx")


def test_a_flipped_bit_in_a_weight_is_found_by_the_checksum(exported, tmp_path):
    """One flipped bit in a weight: onnxruntime loads and runs the graph, and the words may
    change in silence. The manifest's SHA-256 of each graph finds it."""
    d = _copy(exported, tmp_path)
    data = bytearray((d / "encoder.onnx").read_bytes())
    data[len(data) // 2] ^= 0x10  # inside the initializers, the bulk of the file
    (d / "encoder.onnx").write_bytes(bytes(data))
    _refused(d, "encoder.onnx is damaged: its SHA-256")


def test_a_graph_of_an_unsupported_opset_is_named(exported, tmp_path):
    d = _copy(exported, tmp_path)
    graph = onnx.load(str(d / "encoder.onnx"))
    graph.opset_import[0].version = 999  # no onnxruntime implements it
    onnx.save(graph, str(d / "encoder.onnx"))
    _refused(without_checksums(d), "encoder.onnx")


def test_a_manifest_opset_other_than_the_graphs_is_named(exported, tmp_path):
    d = _copy(exported, tmp_path)
    manifest = json.loads((d / MANIFEST).read_text())
    manifest["opset"] += 1
    (d / MANIFEST).write_text(json.dumps(manifest))
    _refused(d, "opset")


def test_a_missing_cache_output_is_named(exported, tmp_path):
    d = _copy(exported, tmp_path)
    graph = onnx.load(str(d / "decoder.onnx"))
    kept = [o for o in graph.graph.output if o.name != "present_value.1"]
    del graph.graph.output[:]
    graph.graph.output.extend(kept)
    onnx.save(graph, str(d / "decoder.onnx"))
    _refused(without_checksums(d), "lacks the output 'present_value.1' \\(the self-attention cache\\)")


def test_a_graph_from_another_model_is_named(exported, tmp_path):
    d = _copy(exported, tmp_path)
    shutil.copy(exported("bundled-st") / "decoder.onnx", d / "decoder.onnx")
    _refused(without_checksums(d), "decoder.onnx was exported from another model")


def test_a_damaged_manifest_is_named(exported, tmp_path):
    d = _copy(exported, tmp_path)
    (d / MANIFEST).write_text("{not json")
    _refused(d, "onnx_config.json is not valid JSON")  # the words of every model file's JSON reader


def test_unexportable_requests_are_refused_and_nothing_is_left(tmp_path, monkeypatch):
    with pytest.raises(errors.ExportError, match="opset"):
        export("bundled-asr", tmp_path / "a", opset=16)
    with pytest.raises(errors.ExportError, match="float32"):
        export("bundled-asr", tmp_path / "a", dtype="float16")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    with pytest.raises(errors.ExportError, match="not an empty directory"):
        export("bundled-asr", tmp_path / "used")
    assert [p.name for p in (tmp_path / "used").iterdir()] == ["keep.txt"]
    with pytest.raises(errors.ModelNotFoundError):
        export(tmp_path / "nothing-here", tmp_path / "b")
    # a failure half-way through (here: the decoder's trace) leaves neither OUT_DIR nor
    # the staging directory behind
    from minis2t.app import onnx_graphs

    real = onnx_graphs.graphs

    def failing(hf, config):
        built = real(hf, config)
        module, args, *rest = built["decoder"]
        built["decoder"] = (module, args[:1], *rest)  # too few inputs: the trace fails
        return built

    monkeypatch.setattr(onnx_graphs, "graphs", failing)
    with pytest.raises(errors.ExportError, match="nothing was written"):
        export("bundled-asr", tmp_path / "c", graphs="traced")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["used"]


def test_an_exported_directory_is_not_exported_again(exported, tmp_path):
    with pytest.raises(errors.ExportError, match="already an exported ONNX directory"):
        export(exported("bundled-asr"), tmp_path / "again")


# --- float32 ONNX vs float32 NumPy on random configurations -------------------------------------


class PairCache:
    """NumPy's and onnxruntime's caches side by side, reordered together."""

    def __init__(self, ours, theirs):
        self.ours, self.theirs = ours, theirs

    @property
    def length(self):
        return self.ours.length

    def reorder(self, rows):
        return PairCache(self.ours.reorder(rows), self.theirs.reorder(rows))


@st.composite
def configs(draw):
    heads = draw(st.sampled_from([1, 2, 4]))
    n_conv = draw(st.integers(1, 3))
    return dict(
        d_model=max(4, heads * 2 * draw(st.integers(1, 6))), encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_layers=draw(st.integers(1, 3)), decoder_layers=draw(st.integers(1, 3)),
        encoder_ffn_dim=draw(st.integers(4, 40)), decoder_ffn_dim=draw(st.integers(4, 40)),
        num_conv_layers=n_conv, conv_kernel_sizes=[draw(st.sampled_from([3, 5, 7])) for _ in range(n_conv)],
        conv_channels=2 * draw(st.integers(2, 12)), scale_embedding=draw(st.booleans()),
        tie_word_embeddings=draw(st.booleans()), activation_function=draw(st.sampled_from(["relu", "gelu"])),
        vocab_size=draw(st.integers(8, 64)),
    )  # fmt: skip


def lockstep(ours, runtime, features, mask, beams: int, max_length: int):
    """Beam search (greedy for one beam) driven by NumPy's scores, with onnxruntime run on
    the same tokens and cache reorders every step. Returns the encoder states of both and
    the per-step log-probabilities of both, ``[steps, N, V]`` each."""
    enc = ours.runtime.encode(features, mask)  # the NumPy engine, what Speech2Text runs
    theirs_enc = runtime.encode(features, mask)
    rows = np.repeat(enc["mask"], beams, axis=0)
    cache = PairCache(ours.runtime.init_cache(enc["last_hidden_state"]),
                      runtime.init_cache(theirs_enc["last_hidden_state"]))  # fmt: skip
    a_steps, b_steps = [], []

    def step(tokens, cache):
        a = ours.runtime.decode(tokens, cache.ours, rows)
        b = runtime.decode(tokens, cache.theirs, rows)
        a_steps.append(log_softmax(a["logits"][:, -1]))
        b_steps.append(log_softmax(b["logits"][:, -1]))
        return a["logits"][:, -1], PairCache(a["cache"], b["cache"])

    opts = minis2t.GenerationConfig(num_beams=beams, max_length=max_length, early_stopping=True)
    search = g.greedy_search if beams == 1 else g.beam_search
    search(step, cache, features.shape[0], opts)
    return enc, theirs_enc, np.stack(a_steps), np.stack(b_steps)


@settings(max_examples=10, deadline=None)
@given(config=configs(), seed=st.integers(0, 2**31 - 1), beams=st.integers(1, 5),
       lengths=st.lists(st.integers(12, 60), min_size=1, max_size=3))  # fmt: skip
def test_random_models_agree_with_numpy_within_the_bar(tmp_path_factory, config, seed, beams, lengths):
    """Encoder states and every step's log-probabilities, float32 graphs vs float32 NumPy,
    on random architectures, batches padded to their longest item, one to five beams
    (the cross keys repeated per beam, the self cache reordered by the search)."""
    directory = tmp_path_factory.mktemp("rand")
    hf_model(seed=seed % 1000, **config).save_pretrained(directory)  # config and weights: no tokenizer needed
    out = export(directory, tmp_path_factory.mktemp("onnx") / "out")
    ours = minis2t.Speech2Text.from_pretrained(directory)
    runtime = OnnxRuntime(out, ours.config)
    rng = np.random.default_rng(seed)
    t = max(lengths)
    mask = (np.arange(t)[None] < np.array(lengths)[:, None]).astype(np.int64)
    features = (rng.standard_normal((len(lengths), t, 80)) * mask[..., None]).astype(np.float32)
    enc, theirs, a, b = lockstep(ours, runtime, features, mask, beams, max_length=12)
    assert (enc["mask"] == theirs["mask"]).all()
    states = enc["last_hidden_state"]
    assert np.abs(states - theirs["last_hidden_state"]).max() <= bars.ONNX["float32"] * np.abs(states).max()
    finite = np.isfinite(a)
    assert (finite == np.isfinite(b)).all()
    scale = max(1.0, float(np.abs(a[finite]).max()))
    assert np.abs(a[finite] - b[finite]).max() <= 2 * bars.ONNX["float32"] * scale


def test_s2t_small_sized_random_weights_give_identical_tokens(tmp_path):
    """s2t-small's architecture with transformers' own random initialisation: the bundled
    recordings' tokens, greedy and beam 5, graphs vs NumPy."""
    from minis2t.io.config import S2T_SMALL

    model = hf_model(seed=7, **{**S2T_SMALL, "vocab_size": 120, "max_target_positions": 64})
    directory = save_model_dir(tmp_path / "small", model)
    out = export(directory, tmp_path / "small_onnx")
    ours = minis2t.Speech2Text.from_pretrained(directory)
    graphs = minis2t.Speech2Text.from_pretrained(out)
    waves = [minis2t.load_audio(p) for p in SAMPLES[:4]]
    batch = ours.feature_extractor(waves)
    for beams in (1, 5):
        a = ours.generate(batch["input_features"], batch["attention_mask"], num_beams=beams, max_length=24)
        b = graphs.generate(batch["input_features"], batch["attention_mask"], num_beams=beams, max_length=24)
        assert a.tolist() == b.tolist(), beams


# --- a fairseq directory, exported, against fairseq itself ----------------------------------------


def test_an_exported_fairseq_directory_agrees_with_fairseq(tmp_path):
    """The bundled model written as a fairseq directory by fairseq's trainer, exported, and
    decoded by the graphs with ``search="fairseq"``: fairseq's SequenceGenerator gives
    the same tokens on every bundled recording."""
    pytest.importorskip("fairseq")
    from parity import fairseq_oracle as fo

    bundled = minis2t.Speech2Text.from_pretrained()
    fo.write_fairseq_dir(tmp_path / "fs", bundled.config, bundled.weights, bundled.tokenizer.sp_model_proto)
    out = export(tmp_path / "fs", tmp_path / "fs_onnx")
    graphs = minis2t.Speech2Text.from_pretrained(out)
    model, task = fo.load(tmp_path / "fs", dtype=fo.torch.float32)
    for path in SAMPLES:
        features = graphs.feature_extractor(minis2t.load_audio(path))["input_features"]
        theirs, _ = fo.generate(model, task, features, np.array([features.shape[1]]), beam=5)
        mine = graphs.generate(features, search="fairseq", num_beams=5)[0, 1:].tolist()
        assert mine[: len(theirs[0])] == theirs[0], path.name


# --- what the docs page says about the graphs -------------------------------------------------------


def test_the_docs_page_describes_the_graphs_as_they_are(exported, tmp_path):
    """docs/onnx.md: attention is Mul (q scaled) -> MatMul -> Add -> Softmax -> MatMul in the
    exported graphs, written from the reference, layer norm is LayerNormalization (opset 17
    on: the export's minimum), and
    onnxruntime's optimised graph merges each score product with its scaling (FusedMatMul,
    one per attention: 1 per encoder layer, 2 per decoder layer)."""
    from minis2t.app.onnx_export import MIN_OPSET

    page = (Path(__file__).parent.parent / "docs" / "onnx.md").read_text()
    assert MIN_OPSET == 17 and "opset 17 and later" in page and "FusedMatMul" in page
    out = exported("bundled-asr")
    config = minis2t.ModelConfig.from_pretrained(out)
    for name, attentions in (("encoder.onnx", config.encoder_layers), ("decoder.onnx", 2 * config.decoder_layers)):
        graph = onnx.load(str(out / name)).graph
        producer = {o: n for n in graph.node for o in n.output}
        softmaxes = [n for n in graph.node if n.op_type == "Softmax"]
        assert len(softmaxes) == attentions
        for node in softmaxes:
            add = producer[node.input[0]]  # Add (mask) <- MatMul (scores) <- Mul (q scaled)
            matmul = next(producer[i] for i in add.input if i in producer and producer[i].op_type == "MatMul")
            mul = producer[matmul.input[0]]
            assert (add.op_type, matmul.op_type, mul.op_type) == ("Add", "MatMul", "Mul")
            assert [n.op_type for n in graph.node if node.output[0] in n.input].count("MatMul") == 1
        layer_norms = sum(n.op_type == "LayerNormalization" for n in graph.node)
        assert layer_norms == (2 * config.encoder_layers + 1 if name == "encoder.onnx" else 3 * config.decoder_layers + 1)
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(tmp_path / name)
        options.log_severity_level = 3
        ort.InferenceSession(str(out / name), options, providers=["CPUExecutionProvider"])
        optimised = onnx.load(options.optimized_model_filepath).graph
        assert sum(n.op_type == "FusedMatMul" for n in optimised.node) == attentions


def test_the_runtime_refuses_bad_inputs_as_numpy_does(exported):
    """Wrong feature bins, too many encoder or decoder positions, token ids outside the
    vocabulary, decoder rows that are not whole beams: the NumPy model's error types."""
    graphs = minis2t.Speech2Text.from_pretrained(exported("bundled-asr"))
    runtime, c = graphs.runtime, graphs.config
    with pytest.raises(errors.ModelInputError, match="bins"):
        graphs.encode(np.zeros((1, 50, 40), np.float32))
    with pytest.raises(errors.InputTooLongError, match="max_source_positions"):
        runtime.encode(np.zeros((1, 4 * c.max_source_positions + 8, 80), np.float32))
    states, mask = graphs.encode(np.random.default_rng(0).standard_normal((2, 60, 80)).astype(np.float32))
    cache = runtime.init_cache(states)
    with pytest.raises(errors.ModelInputError, match="token ids"):
        runtime.decode(np.full((2, 1), c.vocab_size), cache, mask)
    with pytest.raises(errors.ModelInputError, match="beams"):
        runtime.decode(np.full((3, 1), 2), cache, np.repeat(mask, 2, axis=0)[:3])
    with pytest.raises(errors.InputTooLongError, match="max_target_positions"):
        runtime.decode(np.full((2, c.max_target_positions + 1), 5), cache, mask)
    with pytest.raises(errors.ModelInputError, match="hidden states"):
        graphs.forward(np.zeros((1, 50, 80), np.float32), decoder_input_ids=np.full((1, 2), 2),
                       output_hidden_states=True)  # fmt: skip


def test_an_exported_directory_keeps_the_confidence_model(exported):
    """The bundled recogniser's calibration is copied by the export and read back: the
    exported model says what it did not understand as the NumPy one does."""
    graphs = minis2t.Speech2Text.from_pretrained(exported("bundled-asr"))
    ours = minis2t.Speech2Text.from_pretrained()
    assert graphs.calibration is not None and graphs.calibration.to_dict() == ours.calibration.to_dict()

"""The engine equals the reference: every fast device against the function it replaces.

(Softmax along an axis other than the last sums in another order: see its test.)

Bit for bit where the arithmetic is the same — the row-block pool (each row goes through
the same operations), the memory layouts (the same values in another order), ``top_k``
(the same choice as a stable sort), fbank in blocks (the same steps per frame) — and
within a derived rounding bound where the association of a sum changes:

* ``linear`` as one 2-D product instead of a stacked one: each output is a dot product of
  ``n`` terms; any summation order is within ``gamma_n |x| . |w|`` of the exact value
  (``gamma_n = n u / (1 - n u)``, Higham, *Accuracy and Stability*, 3.1), so two orders
  are within twice that, plus half an ulp for adding the bias in each;
* attention item by item, an item's padded keys left out: those keys' weights are exact
  zeros either way, so only the real keys' sums are re-associated — the softmax's sum of
  ``Lk`` positive terms and the weighted sum of ``Lk`` values, each within
  ``gamma_Lk`` (relative, for the positive sum; against ``|w| . |v|`` for the other):
  ``|delta out| <= 3 gamma_Lk |w| . |v|`` (one for the normaliser, two for the orders);
* whole layers and the model: the twin's bar (``parity/bars.ENGINE``, reasons there).
"""

import os
import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minis2t
from minis2t.engine import features as ef
from minis2t.engine import model as em
from minis2t.engine import nn as enn
from minis2t.io.checkpoint import prepare_weights
from minis2t.reference import features as rf
from minis2t.reference import generate as rg
from minis2t.reference import model as rm
from minis2t.reference import nn as rn
from parity import bars
from tests.test_model import build, cases, rel_diff

DTYPES = [np.float32, np.float64]
# The monkeypatched settings below are the same for every drawn example: no reset needed.
FIXED_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def gamma(n: int, dtype) -> float:
    u = np.finfo(dtype).eps / 2
    return n * u / (1 - n * u)


def arrays(draw, shape, dtype, scale=3.0):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (rng.standard_normal(shape) * scale).astype(dtype)


@pytest.fixture
def pooled(monkeypatch):
    """The row-block pool on for every array, with ``threads`` workers."""

    def turn_on(threads: int):
        monkeypatch.setattr(enn, "_threads", lambda: threads)
        monkeypatch.setattr(enn, "PARALLEL_MIN_SIZE", 1)

    return turn_on


# --- primitives ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_linear_within_the_dot_product_bound(dtype, data):
    lead = data.draw(st.lists(st.integers(1, 7), min_size=1, max_size=3))
    n_in, n_out = data.draw(st.integers(1, 300)), data.draw(st.integers(1, 40))
    x = arrays(data.draw, (*lead, n_in), dtype)
    w = arrays(data.draw, (n_out, n_in), dtype)
    b = arrays(data.draw, (n_out,), dtype) if data.draw(st.booleans()) else None
    fortran = enn.matmul_layout(w)  # the layout the engine loads weights in
    assert np.array_equal(fortran, w) and fortran.flags.f_contiguous
    ref = rn.linear(x, w, b)
    bound = 2 * gamma(n_in, dtype) * (np.abs(x) @ np.abs(w).T) + np.finfo(dtype).eps * np.abs(ref)
    if b is not None:
        bound = bound + np.finfo(dtype).eps * np.abs(b)
    for fast in (enn.linear(x, w, b), enn.linear(x, fortran, b)):
        assert fast.shape == ref.shape and fast.dtype == ref.dtype
        assert np.all(np.abs(fast - ref) <= bound)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2, 3])
@FIXED_FIXTURES
@given(data=st.data())
def test_layer_norm_and_softmax_are_the_reference_bit_for_bit(pooled, dtype, threads, data):
    """Blocks of rows in a thread pool, softmax in place: each row meets the same
    operations in the same order as in the reference (3 threads: blocks of unequal size)."""
    pooled(threads)
    shape = tuple(data.draw(st.lists(st.integers(1, 9), min_size=1, max_size=4)))
    x = arrays(data.draw, shape, dtype, scale=20.0)
    w, b = arrays(data.draw, shape[-1:], dtype), arrays(data.draw, shape[-1:], dtype)
    assert np.array_equal(enn.layer_norm(x, w, b), rn.layer_norm(x, w, b))
    assert np.array_equal(enn.softmax(x), rn.softmax(x))
    # Along another axis the engine sums a contiguous copy (pairwise), the reference
    # strided rows (in order): a sum of n positive terms, each order within gamma_n
    # relative, and one division each (an ulp).
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    ref = rn.softmax(x, axis=axis)
    bound = (2 * gamma(shape[axis], dtype) + np.finfo(dtype).eps) * ref
    assert np.all(np.abs(enn.softmax(x, axis=axis) - ref) <= bound)
    y = x.copy()
    out = enn.softmax(y, overwrite=True)
    assert np.array_equal(out, rn.softmax(x)) and np.array_equal(y, out)


@given(data=st.data())
def test_keys_layout_keeps_the_values(data):
    k = arrays(data.draw, tuple(data.draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))), np.float32)
    fast = enn.keys_layout(k)
    assert np.array_equal(fast, k) and fast.swapaxes(-1, -2).flags.c_contiguous


def _bias(kind: str, lengths, lk: int, dtype):
    padding = np.arange(lk)[None, :] < np.asarray(lengths)[:, None]  # [B, Lk], 1 = real
    holes = padding & (np.arange(lk) != 0)[None, :] | (np.asarray(lengths)[:, None] == 1)
    return {"none": None, "padding": rm.key_padding_bias(padding, dtype),
            "causal": rm.causal_bias(0, lk, None, dtype), "holes": rm.key_padding_bias(holes, dtype),
            "all masked": rm.key_padding_bias(np.zeros((len(lengths), lk), bool), dtype)}[kind]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["none", "padding", "causal", "holes", "all masked"])
@FIXED_FIXTURES
@given(data=st.data())
def test_attention_with_and_without_weights(monkeypatch, dtype, kind, data):
    """With weights the engine's attention is the reference's bit for bit (the same
    operations, the softmax in the scores' memory). Without, a large batch goes item by
    item: bit for bit unless an item's padding is left out, then within the bound of the
    module docstring."""
    b, h, dh = data.draw(st.integers(2, 4)), data.draw(st.integers(1, 3)), data.draw(st.integers(1, 8))
    lk = data.draw(st.integers(1, 30))
    lq = lk if kind == "causal" else data.draw(st.integers(1, 12))
    q, k, v = (arrays(data.draw, (b, h, n, dh), dtype) for n in (lq, lk, lk))
    lengths = [lk] + [data.draw(st.integers(1, lk)) for _ in range(b - 1)]
    bias = _bias(kind, lengths, lk, dtype)
    ref_out, ref_w = rn.attention(q, k, v, bias)
    out, w = enn.attention(q, k, v, bias)
    assert np.array_equal(out, ref_out) and np.array_equal(w, ref_w)
    monkeypatch.setattr(enn, "ITEMWISE_MIN_SCORES", 1)
    itemwise, none = enn.attention(q, k, v, bias, need_weights=False)
    assert none is None and itemwise.dtype == ref_out.dtype
    bound = 3 * gamma(lk, dtype) * (np.abs(ref_w) @ np.abs(v)) + np.finfo(dtype).tiny
    assert np.all(np.abs(itemwise - ref_out) <= bound)
    if kind != "padding":
        assert np.array_equal(itemwise, ref_out)


@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(2, 300), st.booleans(), st.booleans())
def test_top_k_is_the_stable_sort(seed, rows, width, ties, mostly_banned):
    """The engine's top_k scans (up to 64) or partitions; its result must be the
    reference's stable sort, ties to the lower index, -inf and NaN rows included."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, width)).astype(np.float32)
    if ties:
        x = np.round(x * 2) / 2  # many equal values
    if mostly_banned:
        x[rng.random(x.shape) < 0.9] = -np.inf
    if seed % 7 == 0:
        x[0, seed % width] = np.nan
    for k in sorted({1, 2, min(10, width), min(64, width), min(65, width), width}):
        values, idx = enn.top_k(x, k)
        ref_values, ref_idx = rg.top_k(x, k)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(values, ref_values)


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(400, 40_000), seed=st.integers(0, 2**32 - 1), mel=st.sampled_from([23, 80, 128]),
       dither=st.sampled_from([0.0, 1.0]))  # fmt: skip
def test_fbank_in_blocks_is_the_reference_bit_for_bit(dtype, n, seed, mel, dither):
    wave = (np.random.default_rng(seed).standard_normal(n) * 0.1).astype(dtype)
    fast = ef.fbank(wave, mel, dither, seed)
    assert np.array_equal(fast, rf.fbank(wave, mel, dither, seed)) and fast.dtype == dtype


# --- the model ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@FIXED_FIXTURES
@given(case=cases(), itemwise=st.booleans(), beams=st.integers(1, 4))
def test_engine_model_equals_the_reference(monkeypatch, dtype, case, itemwise, beams):
    """Encoder (every hidden state, attention weights) and decoder (logits, cache,
    attention weights) of the engine against the reference, the engine's beams sharing
    their utterance's cross-attention keys against the reference's private copies."""
    if itemwise:
        monkeypatch.setattr(enn, "ITEMWISE_MIN_SCORES", 1)
    config, features, mask, ids, _ = case
    _, cfg, weights = build(config)
    bar = bars.ENGINE["float32" if dtype == np.float32 else "float64"]
    params = rm.nest(prepare_weights(cfg, weights, dtype))
    x = features.astype(dtype)
    ref = rm.encode(params, cfg, x, mask)
    fast = em.encode(params, cfg, x, mask, output_hidden_states=True, output_attentions=True)
    lean = em.encode(params, cfg, x, mask)  # without the weights: item by item when large
    assert set(lean) == {"last_hidden_state", "mask"}
    for a, b_ in zip(fast["hidden_states"] + fast["conv_outputs"] + fast["attentions"],
                     ref["hidden_states"] + ref["conv_outputs"] + ref["attentions"]):  # fmt: skip
        assert rel_diff(a, b_) <= bar
    assert rel_diff(lean["last_hidden_state"], ref["last_hidden_state"]) <= bar
    np.testing.assert_array_equal(fast["mask"], ref["mask"])

    rows = np.repeat(np.arange(x.shape[0]), beams)  # K beams per utterance, item-major
    ids = np.where(ids == cfg.pad_token_id, 0, ids)[rows]
    ref_cache = rm.init_cache(params, cfg, ref["last_hidden_state"][rows])
    fast_cache = em.init_cache(params, cfg, ref["last_hidden_state"])  # once per utterance
    for start in range(ids.shape[1]):  # step by step, as a search runs it
        r = rm.decode(params, cfg, ids[:, start:start + 1], ref_cache, ref["mask"][rows])
        f = em.decode(params, cfg, ids[:, start:start + 1], fast_cache, ref["mask"][rows],
                      output_hidden_states=True, output_attentions=True)  # fmt: skip
        assert rel_diff(f["logits"], r["logits"]) <= bar
        for a, b_ in zip(f["hidden_states"] + f["self_attentions"] + f["cross_attentions"],
                         r["hidden_states"] + r["self_attentions"] + r["cross_attentions"]):  # fmt: skip
            assert a.shape == b_.shape and rel_diff(a, b_) <= bar
        for (fk, fv), (rk, rv) in zip(f["cache"].self_kv, r["cache"].self_kv):
            assert rel_diff(fk, rk) <= bar and rel_diff(fv, rv) <= bar
        ref_cache, fast_cache = r["cache"], f["cache"]


@given(case=cases(), beams=st.integers(1, 4), search=st.sampled_from(["transformers", "fairseq"]))
def test_speech2text_generates_the_reference_tokens(case, beams, search):
    """The application's generate (engine, shared keys, fast top_k) chooses the tokens the
    reference alone chooses (float64: rounding cannot flip a choice here)."""
    config, features, mask, _, _ = case
    _, cfg, weights = build(config)
    model = minis2t.Speech2Text(cfg, prepare_weights(cfg, weights, np.float64))
    opts = model.generation_options(num_beams=beams, max_length=8)
    from minis2t.reference import run

    ours = model.generate(features.astype(np.float64), mask, search=search, num_beams=beams, max_length=8)
    ref = run.generate(model.params, cfg, features.astype(np.float64), mask, opts, rules=search).sequences
    np.testing.assert_array_equal(ours, ref)


# --- the row-block pool's mechanics ---------------------------------------------------------


def test_row_blocks_raise_a_block_error(pooled):
    pooled(2)

    def fails(rows, out):
        raise ValueError("block failed")

    with pytest.raises(ValueError, match="block failed"):
        enn.by_row_blocks(fails, np.zeros((4, 3)), np.zeros((4, 3)))


def test_threads_follow_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert enn._threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "junk")
    assert enn._threads() >= 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_row_blocks_work_in_a_forked_child(monkeypatch):
    """multiprocessing forks by default on Linux: a child inherits the pool object but not
    its threads, and work handed to it would wait forever. The child must start its own
    (a hang here fails after 30 s instead of stalling the suite; checked to fail without
    the fix)."""
    monkeypatch.setattr(enn, "_threads", lambda: 2)
    x = np.random.default_rng(0).standard_normal((4, 1000, 1000)).astype(np.float32)  # above PARALLEL_MIN_SIZE
    expected = enn.softmax(x)  # the parent's pool now exists, its threads idle
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the pooled softmax returns the same numbers
        signal.alarm(30)
        os._exit(0 if np.array_equal(enn.softmax(x), expected) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# --- the reference is for reading -----------------------------------------------------------


def test_reference_holds_no_speed_devices_and_imports_nothing_above_it():
    """What the docs include is the math: no thread pools, memory-order devices, size
    thresholds or input checks in ``minis2t/reference``, and it imports only NumPy, SciPy
    and itself."""
    import ast
    import pathlib

    root = pathlib.Path(minis2t.__file__).parent / "reference"
    banned = ("ThreadPool", "concurrent", "order=", "ascontiguousarray", "asfortranarray", "MIN_SIZE",
              "MIN_SCORES", "raise ", "sched_getaffinity", "_POOL", "overwrite")  # fmt: skip
    for path in root.glob("*.py"):
        text = path.read_text()
        for word in banned:
            assert word not in text, f"{path.name} holds {word!r}"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 1 or node.module in ("__future__", "typing", "dataclasses"), (path, node.module)
            elif isinstance(node, ast.Import):
                # the one exception: the tokenizer's load_unigram reads a vocabulary file
                # through the sentencepiece library (reading the file is not the lesson)
                allowed = ("numpy", "scipy", "math") + (("sentencepiece",) if path.name == "tokenizer.py" else ())
                assert all(a.name.split(".")[0] in allowed for a in node.names), path


def test_the_twin_mirrors_the_reference_function_for_function():
    """parity/ is the reference translated to torch: the same functions in the same order."""
    import inspect

    import parity.model as tm
    import parity.nn as tn

    def names(module, skip=()):
        return [n for n, f in vars(module).items()
                if (inspect.isfunction(inspect.unwrap(f)) or inspect.isclass(f))
                and getattr(f, "__module__", None) == module.__name__
                and not n.startswith("_") and n not in skip]  # fmt: skip

    assert names(tm, skip={"to_torch"}) == names(rm, skip={"nest"})
    assert names(tn) == names(rn)


def test_layers_only_import_downwards():
    """ARCHITECTURE.md's rule, checked on the code by the script that draws the graph."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(root / "scripts" / "import_graph.py")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "minis2t.engine.model -> minis2t.reference.model" in run.stdout  # it does see edges


def test_readme_states_the_reference_size():
    """The README's count of the reference's lines from waveform to tokens is the files'."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = ["features", "nn", "model", "generate", "run"]
    lines = sum(len((root / "minis2t" / "reference" / f"{f}.py").read_text().splitlines()) for f in files)
    stated = int(re.search(r"<!-- reference-lines -->(\d+)<!-- /reference-lines -->",
                           (root / "README.md").read_text()).group(1))  # fmt: skip
    assert stated == lines


@pytest.mark.parametrize("beams", [1, 5])
def test_the_reference_alone_transcribes_the_bundled_recordings(beams):
    """Waveform to tokens with nothing but minis2t.reference (fbank, CMVN, encoder,
    decoder, search): the application's tokens, and the references' words."""
    import json

    from minis2t.app.pipeline import BUNDLED_MODEL
    from minis2t.reference import run

    model = minis2t.Speech2Text.from_pretrained()
    samples = BUNDLED_MODEL.parent / "samples"
    refs = json.loads((samples / "references.json").read_text())[:3]
    opts = model.generation_options(num_beams=beams)
    for ref in refs:
        wave = minis2t.load_audio(samples / ref["file"])
        tokens = run.waveform_to_tokens(model.params, model.config, wave, opts)
        batch = model.feature_extractor([wave])
        np.testing.assert_array_equal(tokens, model.generate(batch["input_features"], num_beams=beams)[0])
        assert model.tokenizer.decode(tokens, skip_special_tokens=True) == ref["text"]

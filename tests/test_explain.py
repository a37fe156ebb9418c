"""``minis2t explain``: the trace by the reference, the page, and the page as a browser shows it.

Oracles: the application itself for the numbers (the engine, ``transcribe_long``: what the
reference must agree with), the ``minis2t transcribe`` command for the errors (the same
typed error for the same bad input), transformers and the twin through the parity strip
(held to ``parity/bars.py``), headless Chromium for the page, and the site's own
legibility check (``docs/hooks/figures.py``) for the figures.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
import wave as wavefile
from pathlib import Path

import numpy as np
import pytest
import soundfile

import minis2t
from minis2t.app import cli, longform
from minis2t.app.explain import explain
from minis2t.app.explain_page import ORDER, best_path, figures
from minis2t.io.checkpoint import BUNDLED_MODELS
from minis2t.reference import features as F
from minis2t.reference import model as M
from parity import bars
from tests import chromium

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = BUNDLED_MODELS["bundled-asr"].parent / "samples"
SAMPLE = SAMPLES / "test_00.wav"
HOSTILE = "<img src=x onerror=alert(1)>.wav"
HOSTILE_MODEL = "<svg onload=alert(2)>"  # a model directory's name


@pytest.fixture(scope="module")
def explained():
    return explain(str(SAMPLE), oracles=False)


def resolve(name: str):
    """``package.module.function`` (or ``...Class``) -> the object."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise AssertionError(name)


def relative(difference: float, scale: float) -> float:
    return difference / max(1.0, scale)


def test_every_stage_is_computed_and_named(explained):
    """Each stage names functions that exist, and its shapes follow the data path's rules."""
    e = explained
    assert list(e.stages) == ORDER
    for stage in e.stages.values():
        for name in stage.functions:
            assert callable(resolve(name)), name
    n = e.stages["recording"].arrays["waveform"].shape[0]
    t = F.num_frames(n)
    c = minis2t.Speech2Text.from_pretrained().config
    assert e.stages["mel"].arrays["log-mel"].shape == (t, c.input_feat_per_channel)
    s = int(M.subsampled_lengths(t, c.num_conv_layers))
    assert e.stages["positions"].arrays["encoder input"].shape == (s, c.d_model)
    assert e.stages["attention"].arrays["weights"].shape == (c.encoder_attention_heads, s, s)
    assert np.allclose(e.stages["attention"].arrays["weights"].sum(-1), 1.0, atol=1e-5)
    features = e.stages["cmvn"].arrays["features"]
    assert abs(features.mean()) < 1e-5 and abs(features.std() - 1) < 1e-3


def test_the_encoder_step_by_step_is_the_reference_encoder(explained):
    """explain runs the encoder layer by layer to keep one layer's attention: the same
    arithmetic as reference.model.encode, so the same bits."""
    from minis2t.app.explain import encode_keeping

    model = minis2t.Speech2Text.from_pretrained()
    x = explained.stages["cmvn"].arrays["features"][None].astype(np.float32)
    ours, theirs = encode_keeping(model.params, model.config, x, 2), M.encode(model.params, model.config, x)
    assert np.array_equal(ours["last_hidden_state"], theirs["last_hidden_state"])
    assert np.array_equal(ours["attention"], theirs["attentions"][2])
    assert np.array_equal(ours["input"], theirs["hidden_states"][0])
    assert np.array_equal(ours["mask"], theirs["mask"])


def test_the_reference_agrees_with_the_application(explained):
    """The parity strip: every stage within the engine's bar, the same tokens, and the
    same text as ``transcribe_long`` gives for the recording (one segment)."""
    for row in explained.parity:
        if row["scale"] is None:
            assert row["tokens"] == "same tokens", row
        else:
            assert relative(row["engine"], row["scale"]) <= bars.ENGINE["float32"], row
    model = minis2t.Speech2Text.from_pretrained()
    long = model.transcribe_long(str(SAMPLE), word_timestamps=False)
    assert len(explained.segments) == len(long["segments"]) == 1
    assert explained.text == long["segments"][0]["text"]
    assert explained.stages["confidence"].numbers["calibrated confidence"] == pytest.approx(
        long["segments"][0]["confidence"], abs=1e-3)  # its own rounding to 4 places, on ~1e-6 apart logits


def test_the_search_tree_leads_to_the_result(explained):
    """The drawn path is the returned sequence; each step keeps K beams of 2K candidates."""
    search = explained.stages["search"]
    k = search.numbers["beams K"]
    sequence = search.arrays["sequence"]
    path = best_path(search.details["steps"], sequence)
    assert len(path) == sequence.shape[0] - 1  # every token after the start token
    last = search.details["steps"][path[-1][0] - 1]
    assert last["ends"][0, path[-1][1]] and path[-1][1] < k  # it finished among the best K
    assert all(s["token"].shape == (1, 2 * k) and s["live"].shape == (1, k) for s in search.details["steps"])


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="the test extra installs transformers")
def test_the_twin_and_transformers_join_the_strip():
    """Each stage of the strip within the bar the parity tests hold that pair to: the
    features (each from its own front end) absolutely, after CMVN; the network (on the
    reference's features) relative to the values' scale."""
    e = explain(str(SAMPLE))
    rows = [r for r in e.parity if r["scale"] is not None]
    assert all("twin" in r and "transformers" in r for r in rows), e.oracles
    features, network = rows[0], rows[1:]
    assert features["stage"].startswith("features") and len(network) == 4
    assert features["transformers"] <= bars.HF_FEATURES_MAX and features["twin"] <= bars.FRONT_END_TWIN["float32"]
    for r in network:
        assert relative(r["transformers"], r["scale"]) <= bars.MODEL_TRANSFORMERS["float32"], r
        assert relative(r["twin"], r["scale"]) <= bars.MODEL_TWIN["float32"], r


def test_greedy_search_and_a_stretch_by_its_times():
    """--beams 1 (greedy: each step's two best tokens drawn) and --start/--duration."""
    e = explain(str(SAMPLE), beams=1, start=0.5, duration=2.0, heads=[1, 3], oracles=False)
    assert (e.segment, e.start, e.end) == (None, 0.5, 2.5)
    assert e.stages["recording"].arrays["waveform"].shape == (32000,)
    assert e.stages["attention"].arrays["weights"].shape[0] == 2
    search = e.stages["search"]
    path = best_path(search.details["steps"], search.arrays["sequence"])
    assert len(path) == search.arrays["sequence"].shape[0] - 1 and all(y == 0 for _, y in path)
    assert next(r for r in e.parity if r["stage"] == "search: output tokens")["tokens"] == "same tokens"


def test_figures_follow_the_site_rules(explained):
    """The site's own check (docs/hooks/figures.py) accepts every figure of the page."""
    spec = importlib.util.spec_from_file_location("site_figures", ROOT / "docs" / "hooks" / "figures.py")
    site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site)
    made = figures(explained)
    assert set(made) == set(ORDER)
    for name, fig in made.items():
        site.check_legible(fig, name)


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory):
    """The command on a recording named like markup."""
    directory = tmp_path_factory.mktemp("hostile")
    audio = directory / HOSTILE
    shutil.copy(SAMPLE, audio)
    model = shutil.copytree(BUNDLED_MODELS["bundled-asr"], directory / HOSTILE_MODEL)
    assert cli.main(["explain", str(audio), "--model", str(model), "--no-oracles"]) == 0
    return directory / (HOSTILE + ".explain.html")


def test_what_the_user_named_is_escaped(hostile_page):
    page = hostile_page.read_text(encoding="utf-8")
    assert "<img src=x" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    assert "&lt;img src=x onerror=alert(1)&gt;.wav" in page
    assert "<svg" not in page and "&lt;svg onload=alert(2)&gt;" in page
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    assert hostile_page.stat().st_size <= 5_000_000  # the page budget


@pytest.mark.skipif(not chromium.available(), reason="needs /usr/bin/chromium (Debian's chromium package)")
def test_a_browser_opens_the_page_from_disk(hostile_page):
    """Offline Chromium: nothing fetched but the file and its data: figures, nothing
    failed, no console message, no dialog (the file's name ran nothing), every section
    there, every figure decoded. The screenshot is kept in build/."""
    shown = chromium.open_page(hostile_page, {
        "sections": "[...document.querySelectorAll('section')].map(s => s.id)",
        "images": "[...document.images].map(i => i.complete && i.naturalWidth > 0)",
        "title": "document.title",
    })  # fmt: skip
    assert shown["failed"] == [] and shown["console"] == [] and shown["exceptions"] == [] and shown["dialogs"] == []
    assert shown["requests"][0] == hostile_page.resolve().as_uri()
    assert all(url.startswith("data:image/svg+xml;base64,") for url in shown["requests"][1:])
    assert shown["values"]["sections"] == ORDER + ["parity", "segments"]
    assert len(shown["values"]["images"]) == len(ORDER) and all(shown["values"]["images"])
    assert HOSTILE in shown["values"]["title"]
    kept = ROOT / "build" / "explain"
    kept.mkdir(parents=True, exist_ok=True)
    (kept / "screenshot.png").write_bytes(shown["screenshot"])
    assert shown["screenshot"][:8] == b"\x89PNG\r\n\x1a\n"


def _silent(path: Path, seconds: float = 1.0) -> Path:
    with wavefile.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"\0\0" * int(seconds * 16000))
    return path


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all" * 10)
    short = tmp_path / "short.wav"
    with wavefile.open(str(short), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(np.int16(np.arange(100) * 50).tobytes())
    return {"missing": tmp_path / "missing.wav", "empty": empty, "garbage": garbage, "short": short,
            "silent": _silent(tmp_path / "silent.wav")}  # fmt: skip


def test_bad_recordings_get_the_errors_transcribe_gives(tmp_path, capsys):
    for kind, path in _bad_inputs(tmp_path).items():
        code = cli.main(["transcribe", str(path)])
        theirs = capsys.readouterr().err.strip().splitlines()[-1]
        ours_code = cli.main(["explain", str(path), "--no-oracles", "-o", str(tmp_path / "out.html")])
        ours = capsys.readouterr().err.strip().splitlines()[-1]
        assert (ours_code, ours) == (code, theirs) and code == 1, kind
        assert not (tmp_path / "out.html").exists()


def test_usage_errors_exit_2_in_one_line(tmp_path, capsys):
    for argv in (["--segment", "3"], ["--segment", "0", "--start", "1"], ["--start", "9"], ["--layer", "99"],
                 ["--model", str(tmp_path / "nowhere")], ["--beams", "0"], ["--duration", "2"], ["--heads", "0,0"],
                 ["-o", str(tmp_path)], ["-o", str(tmp_path / "no" / "page.html")], ["--model", "bundled-st"]):  # fmt: skip
        assert cli.main(["explain", str(SAMPLE), "--no-oracles", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("minis2t") and ": error: " in err and err.count("\n") == 1 and "Traceback" not in err, argv


def test_the_api_raises_the_typed_errors(tmp_path):
    bad = _bad_inputs(tmp_path)
    model = minis2t.Speech2Text.from_pretrained()
    for kind, path in bad.items():
        with pytest.raises(minis2t.MiniS2TError) as ours:
            explain(str(path), model, oracles=False)
        with pytest.raises(minis2t.MiniS2TError) as theirs:
            model.transcribe_long(str(path))
        assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value), kind


def _long_recording(path: Path, minutes: float) -> Path:
    """The sample, then 1.5 s of silence, repeated for ``minutes`` (streamed to disk)."""
    speech = np.int16(np.clip(minis2t.load_audio(SAMPLE), -1, 1) * 32767)
    gap = np.zeros(24000, np.int16)
    unit = np.concatenate([speech, gap]).tobytes()
    with wavefile.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        for _ in range(int(minutes * 60 * 16000 // (len(unit) // 2)) + 1):
            w.writeframes(unit)
    return path


LONG_MINUTES = (2, 6)


def test_the_docs_state_what_the_tests_check():
    text = (ROOT / "docs" / "explain.md").read_text(encoding="utf-8")
    assert f"tested on files of {LONG_MINUTES[0]} and {LONG_MINUTES[1]} minutes" in text
    assert HOSTILE in text


def test_a_long_recording_explains_one_segment_in_bounded_memory(tmp_path):
    """Segments of a long file are listed; explaining the first or a later one needs no
    more memory for a recording three times as long (the audio is streamed)."""
    from tests.bounded import run_bounded

    peaks = {}
    for minutes in LONG_MINUTES:
        path = _long_recording(tmp_path / f"long{minutes}.wav", minutes)
        result = run_bounded(f"""
import tracemalloc
from minis2t.app.explain import explain
model = minis2t.Speech2Text.from_pretrained()
tracemalloc.start()
e = explain({str(path)!r}, model, segment=3, oracles=False)
result["value"] = [tracemalloc.get_traced_memory()[1], len(e.segments), e.segments[-1][1], e.start, e.text]
""", budget_mb=1024)  # fmt: skip
        assert result["error"] is None, result
        peak, count, last_end, start, text = result["value"]
        seconds = soundfile.info(str(path)).duration
        assert last_end > seconds - 2.0 and count >= minutes * 60 / 8  # the whole file was cut
        assert start > 0 and text
        peaks[minutes] = peak
    # Kept whole, the longer file would raise the peak by its extra audio (4 minutes of
    # float32 at 16 kHz: 15 MB); streamed, the two peaks differ by less than one block.
    block = longform.BLOCK_SECONDS * 16000 * 4
    extra = (LONG_MINUTES[1] - LONG_MINUTES[0]) * 60 * 16000 * 4
    assert abs(peaks[LONG_MINUTES[1]] - peaks[LONG_MINUTES[0]]) < block < extra, peaks


@pytest.fixture(scope="module")
def fairseq_dir(tmp_path_factory):
    """The bundled model written as a fairseq S2T directory (checkpoint, config.yaml,
    SentencePiece model, dictionary)."""
    pytest.importorskip("fairseq")
    from parity import fairseq_oracle as fo

    model = minis2t.Speech2Text.from_pretrained()
    proto = (BUNDLED_MODELS["bundled-asr"] / "sentencepiece.bpe.model").read_bytes()
    weights = {k: v for k, v in model.weights.items() if "embed_positions" not in k}
    return fo.write_fairseq_dir(tmp_path_factory.mktemp("fairseq"), model.config, weights, proto)


@pytest.mark.parametrize("kind", ["bundled-st", "huggingface", "fairseq", "onnx"])
def test_every_model_kind_is_explained(kind, request, tmp_path, explained):
    """Translation (a forced language), a Hugging Face directory, a fairseq directory and
    an ONNX directory (its network by onnxruntime: the encoder's inside is marked as not
    shown): the page is written, and the search agrees with the application's."""
    language = None
    if kind == "bundled-st":
        model, language = "bundled-st", "de"
    elif kind == "huggingface":  # facebook/s2t-*'s layout (pytorch_model.bin), a tiny random model
        model = str(request.getfixturevalue("released_dir"))
    elif kind == "fairseq":
        model = str(request.getfixturevalue("fairseq_dir"))
    else:
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
        from minis2t.app.onnx_export import export

        model = str(export("bundled-asr", tmp_path / "onnx"))
    e = explain(str(SAMPLE), model, language=language, oracles=False)
    assert next(r for r in e.parity if r["stage"] == "search: output tokens")["tokens"] == "same tokens"
    for row in e.parity:
        if row["scale"] is not None:
            assert relative(row["engine"], row["scale"]) <= bars.ENGINE["float32"], row
    if kind == "onnx":
        assert not e.stages["attention"].available and "ONNX" in e.stages["attention"].note
        assert e.text == explained.text  # the same model, its network in onnxruntime
    if kind == "fairseq":
        assert e.text == explained.text and "fairseq" in e.model_kind  # the bundled model, in fairseq's files
    if kind == "huggingface":
        assert e.model_kind == "Hugging Face directory"
    page = e.to_html()
    assert all(f'<section id="{sid}">' in page for sid in ORDER)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-x", "-q"]))

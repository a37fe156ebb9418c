"""The parity harness, `python -m parity compare`, as a user runs it."""

import subprocess
import sys

from parity import bars
from parity.compare import compare, format_table
from tests.conftest import SPEECH_DIR

AUDIO = [SPEECH_DIR / "en_voices_Lab41-SRI-VOiCES-src-sp0307-ch127535-sg0042.wav",
         SPEECH_DIR / "en_librispeech_dev-clean_1272-128104-0000.flac"]  # fmt: skip


def test_compare_reports_every_stage_within_the_bars(multilingual_dir):
    rows = compare(multilingual_dir, AUDIO, steps=4)
    stages = {(r["dtype"], r["stage"]) for r in rows}
    for dtype in ("float32", "float64"):
        for stage in ("conv layer 0", "conv layer 2", "encoder input", "encoder layer 0",
                      "encoder output", "decoder input", "decoder layer 0", "logits"):  # fmt: skip
            assert (dtype, stage) in stages
    for r in rows:
        if r["stage"].startswith("position table"):
            continue  # each library's own float32 table: ulps apart, reported, not a bar
        scale_bar = {"-": 5e-4, "float32": 1e-3, "float64": 1e-10}[r["dtype"]]
        for pair, (worst, mean) in r["pairs"].items():
            # fairseq: its float32 cross-attention softmax (bars.FAIRSEQ, relative to the
            # stage's scale as in the hypothesis tests)
            bar = (bars.FAIRSEQ[r["dtype"]] * max(1.0, r["scale"]) if "fairseq" in pair and r["dtype"] != "-"
                   else scale_bar)  # fmt: skip
            assert worst <= bar, (r["dtype"], r["stage"], pair, worst)
            assert mean <= worst
    logits64 = next(r for r in rows if r["dtype"] == "float64" and r["stage"] == "logits")
    assert set(logits64["pairs"]) == {"numpy-twin", "numpy-transformers", "twin-transformers",
                                      "numpy-fairseq", "twin-fairseq", "transformers-fairseq"}  # fmt: skip
    conv64 = next(r for r in rows if r["dtype"] == "float64" and r["stage"] == "conv layer 0")
    assert conv64["pairs"]["numpy-fairseq"][0] <= 1e-10  # before any attention: float64 throughout
    for stage in ("encoder output", "logits", "log-probs"):  # onnxruntime, the fifth runtime: float32
        row = next(r for r in rows if r["dtype"] == "float32" and r["stage"] == stage)
        bar = bars.ONNX["float32"] * max(1.0, row["scale"]) * (2 if stage == "log-probs" else 1)
        assert row["pairs"]["numpy-onnxruntime"][0] <= bar, (stage, row["pairs"])
    assert "numpy-onnxruntime max / mean" in format_table(rows)
    assert "numpy-transformers max / mean" in format_table(rows)
    assert "numpy-fairseq max / mean" in format_table(rows)


def test_compare_reads_a_fairseq_directory(tmp_path):
    """A fairseq directory is compared as is: fairseq loads it with its own code,
    transformers reads its conversion."""
    import minis2t
    from parity import fairseq_oracle as fo

    bundled = minis2t.Speech2Text.from_pretrained()
    fo.write_fairseq_dir(tmp_path, bundled.config, bundled.weights, bundled.tokenizer.sp_model_proto)
    rows = compare(tmp_path, AUDIO[:1], dtypes=("float32",), steps=3)
    logits = next(r for r in rows if r["stage"] == "logits")
    assert logits["pairs"]["numpy-fairseq"][0] <= 1e-3 and logits["pairs"]["numpy-transformers"][0] <= 1e-3


def test_command_line(v5_dir):
    result = subprocess.run(
        [sys.executable, "-m", "parity", "compare", str(v5_dir), str(AUDIO[0]), "--dtype", "float64",
         "--steps", "2"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "logits" in result.stdout and "float64" in result.stdout

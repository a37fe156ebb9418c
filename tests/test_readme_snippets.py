"""The README's Python snippets run as written, top to bottom, on real files.

The names a snippet takes for granted are bound to real things first: ``model_dir`` to
the bundled model, ``array`` to a 22.05 kHz recording, and the file names it mentions
(``a.wav``, ``speech.flac`` ...) to copies of shipped recordings in a scratch directory.
A name used before the snippet defines it, or a call the API no longer accepts, fails.
"""

import re
import shutil
from pathlib import Path

import numpy as np
import soundfile

from minis2t.app.cli import BUNDLED_MODEL

ROOT = Path(__file__).parent.parent
SPEECH = ROOT / "tests" / "data" / "speech"


def test_readme_python_snippets_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    code = "\n".join(blocks)
    for name in sorted(set(re.findall(r'"([\w.-]+\.(?:wav|flac))"', code))):
        source = sorted(SPEECH.glob("*.flac" if name.endswith(".flac") else "*_16k.wav"))[0]
        shutil.copy(source, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    array, rate = soundfile.read(SPEECH / "en_ljspeech_LJ050-0131_22k05.wav", dtype="float32")
    assert rate == 22050  # the README's snippet says so
    namespace = {"model_dir": BUNDLED_MODEL, "array": array}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    # The pieces snippet's shapes hold: a batch of two, logits over the vocabulary.
    assert namespace["batch"]["input_features"].shape[0] == 2
    logits, ids = namespace["logits"], namespace["ids"]
    assert logits.shape[:2] == ids.shape and logits.shape[2] == len(namespace["tok"])
    assert np.isfinite(logits).all()
    assert np.isfinite(namespace["loss"]) and set(namespace["grads"]) == set(namespace["model"].weights)

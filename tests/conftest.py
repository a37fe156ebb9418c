"""Shared fixtures: the bundled real recordings and hypothesis profiles."""

import csv
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

SPEECH_DIR = Path(__file__).parent / "data" / "speech"

# The suite holds the NumPy engine to its oracles: every model it loads runs in NumPy unless a
# test asks for onnxruntime (runtime="onnx"; tests/test_onnx_build.py checks the default itself).
os.environ.setdefault("MINIS2T_RUNTIME", "numpy")

# The suite (and CI) draws a fixed, modest set of examples: fast on 2 cores and the same
# on every run. `HYPOTHESIS_PROFILE=thorough pytest` explores 300 fresh random examples.
settings.register_profile(
    "default", max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def read_manifest() -> list[dict]:
    with open(SPEECH_DIR / "manifest.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


RECORDINGS = read_manifest()


@pytest.fixture(params=[r["file"] for r in RECORDINGS])
def recording(request) -> dict:
    """One manifest row, with ``path`` added."""
    row = next(r for r in RECORDINGS if r["file"] == request.param)
    return {**row, "path": SPEECH_DIR / row["file"]}


MUSTC = ["pt", "fr", "ru", "nl", "ro", "it", "es", "de"]


@pytest.fixture(scope="session")
def v5_dir(tmp_path_factory):
    """A tiny random model as transformers 5 saves it (model.safetensors, processor_config)."""
    from tests.builders import hf_model, save_model_dir

    return save_model_dir(tmp_path_factory.mktemp("v5"), hf_model(seed=1, vocab_size=120))


@pytest.fixture(scope="session")
def released_dir(tmp_path_factory):
    """A tiny random model in the facebook/s2t-* layout (pytorch_model.bin by torch.save)."""
    from tests.builders import hf_model, save_model_dir

    model = hf_model(seed=2, vocab_size=120)
    return save_model_dir(tmp_path_factory.mktemp("released"), model, layout="released",
                          do_lower_case=True)  # fmt: skip


@pytest.fixture(scope="session")
def multilingual_dir(tmp_path_factory):
    """Lang codes, an untied LM head, 3 conv layers with odd kernels, gelu."""
    from tests.builders import hf_model, save_model_dir

    model = hf_model(seed=3, vocab_size=120, tie_word_embeddings=False, num_conv_layers=3,
                     conv_kernel_sizes=[3, 7, 5], activation_function="gelu")  # fmt: skip
    return save_model_dir(tmp_path_factory.mktemp("multi"), model, lang_codes=MUSTC)


@pytest.fixture(scope="module")
def bundled():
    """The bundled recogniser, loaded once for every test that only reads it."""
    import minis2t

    return minis2t.Speech2Text.from_pretrained()

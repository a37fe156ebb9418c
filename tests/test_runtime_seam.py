"""The seams of issue 38: the runtime a Speech2Text is given, the one scoring pass that word
times and confidence share, and the command's table of sub-commands.

The runtime used here is the real NumPy runtime, wrapped to count the calls that reach it
(every number still comes from the engine)."""

from __future__ import annotations

import contextlib
import inspect
import io
import sys
from pathlib import Path

import numpy as np
import pytest

import minis2t
from minis2t.app import cli, longform
from minis2t.engine.onnx_runtime import OnnxRuntime
from minis2t.engine.runtime import NumpyRuntime, Runtime
from minis2t.errors import ConfigError
from minis2t.reference.nn import log_softmax

SAMPLES = sorted((Path(minis2t.__file__).parent / "assets" / "samples").glob("*.wav"))


class Counted:
    """A runtime that hands every call to ``inner`` and notes it: ``("encode", B)``,
    ``("decode", L, output_attentions)``."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []
        self.name, self.dtype, self.weights = inner.name, inner.dtype, inner.weights

    def encode(self, features, attention_mask=None, output_hidden_states=False, output_attentions=False):
        self.calls.append(("encode", features.shape[0]))
        return self.inner.encode(features, attention_mask, output_hidden_states, output_attentions)

    def init_cache(self, encoder_states):
        return self.inner.init_cache(encoder_states)

    def decode(self, input_ids, cache, encoder_mask=None, decoder_attention_mask=None,
               output_hidden_states=False, output_attentions=False):  # fmt: skip
        self.calls.append(("decode", input_ids.shape[1], output_attentions))
        return self.inner.decode(input_ids, cache, encoder_mask, decoder_attention_mask, output_hidden_states,
                                 output_attentions)  # fmt: skip


@pytest.fixture(scope="module")
def bundled():
    return minis2t.Speech2Text.from_pretrained()


def counted(bundled, calibration="bundled") -> minis2t.Speech2Text:
    runtime = Counted(NumpyRuntime(bundled.weights, bundled.config))
    return minis2t.Speech2Text(bundled.config, None, bundled.generation_config, bundled.feature_extractor,
                               bundled.tokenizer, runtime=runtime,
                               calibration=bundled.calibration if calibration == "bundled" else None)  # fmt: skip


def test_the_runtime_is_given_and_every_call_goes_through_it(bundled):
    model = counted(bundled)
    assert isinstance(model.runtime.inner, Runtime) and model.weights is bundled.weights
    assert model.transcribe(str(SAMPLES[0])) == bundled.transcribe(str(SAMPLES[0]))
    kinds = [c[0] for c in model.runtime.calls]
    assert kinds[0] == "encode" and kinds.count("encode") == 1 and kinds.count("decode") > 1


@pytest.mark.parametrize("args", [{}, {"weights": "w", "runtime": "r"}])
def test_weights_or_runtime_one_of_them(bundled, args):
    given = {"weights": bundled.weights, "runtime": bundled.runtime}
    with pytest.raises(ConfigError, match="weights or its runtime"):
        minis2t.Speech2Text(bundled.config, **{k: given[k] for k in args})


def test_both_runtimes_have_the_protocols_members_and_signatures(bundled):
    """What a backend must offer: the protocol's attributes, and its three methods with the
    same parameters in the same order (the ONNX runtime's checked on its class: making one
    needs an exported directory, which tests/test_onnx.py makes)."""
    assert isinstance(bundled.runtime, NumpyRuntime) and isinstance(bundled.runtime, Runtime)
    for name in ("name", "dtype", "weights", "encode", "init_cache", "decode"):
        assert hasattr(OnnxRuntime, name), name
    assert OnnxRuntime.weights is None and OnnxRuntime.dtype == np.float32
    for method in ("encode", "init_cache", "decode"):
        want = list(inspect.signature(getattr(Runtime, method)).parameters)
        for runtime in (NumpyRuntime, OnnxRuntime):
            assert list(inspect.signature(getattr(runtime, method)).parameters) == want, (runtime, method)


@pytest.mark.parametrize("word_timestamps, calibrated, passes", [
    (True, True, [True]),  # one teacher-forced pass with the attention weights, for both
    (False, True, [False]),  # confidence alone: the pass without attention weights
    (True, False, [True]),  # word times alone
    (False, False, []),  # neither: no pass
])  # fmt: skip
def test_word_times_and_confidence_share_one_scoring_pass(bundled, word_timestamps, calibrated, passes):
    """One encoder pass per batch serves the search and the scoring; one teacher-forced
    decoder pass (more than one token at a time) per batch serves word times and
    confidence alike."""
    model = counted(bundled, "bundled" if calibrated else None)
    result = longform.transcribe_long(model, str(SAMPLES[1]), word_timestamps=word_timestamps)
    assert len(result["segments"]) == 1
    calls = model.runtime.calls
    assert [c for c in calls if c[0] == "encode"] == [("encode", 1)]
    assert [c[2] for c in calls if c[0] == "decode" and c[1] > 1] == passes
    segment = result["segments"][0]
    assert ("words" in segment) == word_timestamps and (segment["confidence"] is not None) == calibrated


def test_score_is_teacher_forcing(bundled):
    """``score``'s log-probabilities are the log-softmax of ``forward``'s logits for the
    same tokens, position by position (the same arithmetic: equal)."""
    batch = bundled.feature_extractor([minis2t.load_audio(str(p)) for p in SAMPLES[:2]])
    encoded = bundled.encode(batch["input_features"], batch["attention_mask"])
    ids = bundled.generate(None, encoder_outputs=encoded, num_beams=2)
    scored = bundled.score(ids, encoded, output_attentions=True)
    logits = bundled.forward(batch["input_features"], batch["attention_mask"], decoder_input_ids=ids)
    assert np.array_equal(scored.log_probs, log_softmax(logits[:, :-1].astype(np.float64)))
    c = bundled.config
    assert len(scored.cross_attentions) == c.decoder_layers
    assert scored.cross_attentions[0].shape == (2, c.decoder_attention_heads, ids.shape[1], encoded[0].shape[1])


def test_a_sub_command_in_its_own_module_is_one_table_line(tmp_path, monkeypatch):
    """The agreed interface: ``minis2t/app/NAME.py`` with ``add_parser(subparsers)`` and
    ``run(args) -> int``, registered by ``"NAME": _from_module("NAME")``."""
    (tmp_path / "hello_seam.py").write_text(
        "def add_parser(subparsers):\n"
        "    p = subparsers.add_parser('hello-seam', help='say hello')\n"
        "    p.add_argument('--name', default='world')\n"
        "def run(args):\n"
        "    print(f'hello {args.name}')\n"
        "    return 3\n"
    )
    monkeypatch.setattr(minis2t.app, "__path__", [*minis2t.app.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "minis2t.app.hello_seam", raising=False)
    monkeypatch.setitem(cli.COMMANDS, "hello-seam", cli._from_module("hello_seam"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(["hello-seam", "--name", "seam"])
    assert status == 3 and out.getvalue() == "hello seam\n"
    helped = io.StringIO()
    with contextlib.redirect_stdout(helped):
        assert cli.main(["--help"]) == 0
    assert "hello-seam" in helped.getvalue() and "say hello" in helped.getvalue()

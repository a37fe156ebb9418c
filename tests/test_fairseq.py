"""fairseq itself as the fourth oracle: directories written by fairseq's own trainer are
read by minis2t without fairseq or torch, converted to the Hugging Face layout, and the
four implementations — fairseq, transformers, the twin, NumPy — give the same logits.

Tolerances (``parity.bars``): NumPy, twin and transformers agree as in test_model.py.
fairseq is held to ``FAIRSEQ`` instead, because it differs by construction in one place:
its cross-attention rounds the attention scores to float32 before the softmax, even in a
float64 model (``fairseq.utils.softmax``; see ``bars.FAIRSEQ`` for the derivation).
Decoder positions that hold ``<pad>`` are compared separately: fairseq masks padded
decoder inputs as keys, transformers does not (documented difference, measured below).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import Speech2TextForConditionalGeneration

import minis2t
import minis2t.app.cli
import parity.model as pm
from minis2t import errors
from minis2t.io.fairseq import read_fairseq_checkpoint, read_yaml
from parity import bars
from parity import fairseq_oracle as fo
from tests.builders import hf_model, spm_vocab_size, train_sentencepiece

VOCAB = 120
ARCHES = ["s2t_transformer", "s2t_transformer_s", "s2t_transformer_xs", "s2t_transformer_sp",
          "s2t_transformer_m", "s2t_transformer_mp", "s2t_transformer_l", "s2t_transformer_lp"]  # fmt: skip


@pytest.fixture(scope="module")
def proto() -> bytes:
    return train_sentencepiece(VOCAB)


@st.composite
def fairseq_configs(draw):
    heads = draw(st.sampled_from([1, 2, 4]))
    n_conv = draw(st.integers(1, 3))
    return dict(
        d_model=heads * draw(st.integers(2, 4)) if heads > 1 else 8,
        encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_layers=draw(st.integers(1, 2)), decoder_layers=draw(st.integers(1, 2)),
        encoder_ffn_dim=draw(st.integers(4, 24)), decoder_ffn_dim=draw(st.integers(4, 24)),
        num_conv_layers=n_conv, conv_kernel_sizes=[draw(st.sampled_from([3, 5])) for _ in range(n_conv)],
        conv_channels=2 * draw(st.integers(2, 6)), vocab_size=spm_vocab_size(VOCAB),
        scale_embedding=draw(st.booleans()), tie_word_embeddings=draw(st.booleans()),
        activation_function=draw(st.sampled_from(["relu", "gelu"])),
        max_source_positions=64, max_target_positions=32,
    )  # fmt: skip


def batch(rng, t: int, lengths: list[int], vocab: int, length: int = 5):
    features = rng.standard_normal((len(lengths), t, 80))
    mask = (np.arange(t)[None] < np.array(lengths)[:, None]).astype(np.int64)
    features = (features * mask[..., None]).astype(np.float32)
    ids = rng.integers(4, vocab, (len(lengths), length))
    ids[:, 0] = 2
    ids[-1, -2:] = 1  # one row ends in <pad>
    return features, mask, ids


def four_way(directory: Path, features, mask, ids, dtype):
    """Logits of the four implementations on one fairseq directory."""
    tdtype = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    fs_model, _ = fo.load(directory, dtype=tdtype)
    ours = minis2t.Speech2Text.from_pretrained(directory, dtype=dtype)
    if dtype == np.float64:  # the tables fairseq and transformers both compute in float32
        ours.positions = {"encoder": fs_model.encoder.embed_positions.weights.numpy(),
                          "decoder": fs_model.decoder.embed_positions.weights.numpy()}  # fmt: skip
    converted = Path(tempfile.mkdtemp()) / "hf"
    assert minis2t.app.cli.main(["convert", str(directory), str(converted)]) == 0
    hf = Speech2TextForConditionalGeneration.from_pretrained(converted).to(tdtype).eval()
    with torch.no_grad():
        hf_logits = hf(input_features=torch.from_numpy(features).to(tdtype), attention_mask=torch.from_numpy(mask),
                       decoder_input_ids=torch.from_numpy(ids)).logits.numpy()  # fmt: skip
    tparams = pm.to_torch(ours.weights, tdtype)
    tenc = pm.encode(tparams, ours.config, torch.from_numpy(features).to(tdtype), torch.from_numpy(mask))
    tdec = pm.decode(tparams, ours.config, torch.from_numpy(ids), pm.init_cache(tparams, ours.config,
                     tenc["last_hidden_state"]), tenc["mask"])  # fmt: skip
    return {
        "fairseq": fo.logits(fs_model, features.astype(dtype), mask.sum(1), ids),
        "transformers": hf_logits,
        "twin": tdec["logits"].numpy(),
        "numpy": ours.forward(features.astype(dtype), mask, ids),
    }


def rel(a, b, where=None) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if where is not None:
        a, b = a[where], b[where]
    return float(np.abs(a - b).max() / max(1.0, np.abs(b).max()))


@settings(max_examples=8, deadline=None)
@given(config=fairseq_configs(), layout=st.sampled_from(fo.LAYOUTS), seed=st.integers(0, 2**31 - 1),
       dtype=st.sampled_from([np.float64, np.float32]), arch=st.sampled_from(ARCHES))  # fmt: skip
def test_four_implementations_agree(proto, config, layout, seed, dtype, arch):
    """Checkpoints of every named architecture (sizes given explicitly, kept tiny), in
    the three file layouts, padded batches, float64 and float32."""
    rng = np.random.default_rng(seed)
    hf = hf_model(seed=seed % 1000, **config)
    weights = {k: v.numpy() for k, v in hf.state_dict().items() if "embed_positions" not in k}
    directory = Path(tempfile.mkdtemp())
    fo.write_fairseq_dir(directory, minis2t.ModelConfig.from_dict(hf.config.to_dict()), weights, proto,
                         arch=arch, layout=layout)  # fmt: skip
    t = int(rng.integers(12, 60))
    features, mask, ids = batch(rng, t, [t, int(rng.integers(8, t + 1))], config["vocab_size"])
    out = four_way(directory, features, mask, ids, dtype)
    name = np.dtype(dtype).name
    real = np.broadcast_to((ids != 1)[..., None], out["numpy"].shape)
    assert rel(out["numpy"], out["twin"]) <= bars.MODEL_TWIN[name]
    assert rel(out["numpy"], out["transformers"]) <= bars.MODEL_TRANSFORMERS[name]
    assert rel(out["fairseq"], out["transformers"], real) <= bars.FAIRSEQ[name]
    assert rel(out["fairseq"], out["numpy"], real) <= bars.FAIRSEQ[name]


def test_padded_decoder_positions_differ_between_fairseq_and_the_port(proto):
    """fairseq masks ``<pad>`` decoder inputs as keys; transformers (and minis2t, which
    follows it) attend to them. Only the padded positions' own outputs differ."""
    hf = hf_model(seed=3, vocab_size=spm_vocab_size(VOCAB))
    weights = {k: v.numpy() for k, v in hf.state_dict().items() if "embed_positions" not in k}
    directory = fo.write_fairseq_dir(Path(tempfile.mkdtemp()), minis2t.ModelConfig.from_dict(hf.config.to_dict()),
                                     weights, proto)  # fmt: skip
    features, mask, ids = batch(np.random.default_rng(0), 40, [40, 30], hf.config.vocab_size)
    out = four_way(directory, features, mask, ids, np.float64)
    padded = np.broadcast_to((ids == 1)[..., None], out["numpy"].shape)
    assert rel(out["fairseq"], out["numpy"], ~padded) <= bars.FAIRSEQ["float64"]
    assert rel(out["fairseq"], out["numpy"], padded) > 1e-3  # a real difference, not rounding


@pytest.mark.parametrize("arch", ARCHES)
def test_named_architectures_resolve_as_fairseq_resolves_them(arch):
    """The architecture defaults minis2t applies are those fairseq's registry applies."""
    from fairseq.models import ARCH_CONFIG_REGISTRY

    from minis2t.io.fairseq import fairseq_settings

    class Args:  # what fairseq's architecture functions fill in, from nothing
        pass

    args = Args()
    ARCH_CONFIG_REGISTRY[arch](args)
    ours = fairseq_settings({"arch": arch})
    for key in ("encoder_embed_dim", "encoder_ffn_embed_dim", "encoder_layers", "encoder_attention_heads",
                "decoder_embed_dim", "decoder_ffn_embed_dim", "decoder_layers", "decoder_attention_heads",
                "conv_kernel_sizes", "conv_channels", "share_decoder_input_output_embed",
                "no_scale_embedding", "activation_fn", "encoder_normalize_before", "decoder_normalize_before"):
        assert ours[key] == getattr(args, key), key


def test_global_cmvn_as_fairseq_applies_it(proto, tmp_path):
    """A MuST-C style directory: config.yaml names global CMVN statistics by the path of
    the machine that prepared them; the file beside the checkpoint is used, and the
    features equal fairseq's GlobalCMVN transform applied to the same filter banks."""
    from fairseq.data.audio.feature_transforms.global_cmvn import GlobalCMVN

    rng = np.random.default_rng(1)
    stats = {"mean": rng.normal(10, 2, 80), "std": rng.uniform(1, 4, 80)}
    hf = hf_model(seed=4, vocab_size=spm_vocab_size(VOCAB))
    weights = {k: v.numpy() for k, v in hf.state_dict().items() if "embed_positions" not in k}
    fo.write_fairseq_dir(tmp_path, minis2t.ModelConfig.from_dict(hf.config.to_dict()), weights, proto,
                         global_cmvn=stats)  # fmt: skip
    model = minis2t.Speech2Text.from_pretrained(tmp_path)
    wave = minis2t.load_audio(Path(__file__).parent / "data" / "speech" / "en_librispeech_dev-clean_1272-128104-0000.flac")
    ours = model.feature_extractor(wave)["input_features"][0]
    raw = minis2t.FeatureExtractor(do_ceptral_normalize=False)(wave)["input_features"][0]
    theirs = GlobalCMVN(str(tmp_path / "gcmvn.npz"))(raw)
    # both subtract and divide in float64; ours rounds the result to float32: half an ulp
    np.testing.assert_allclose(ours, theirs, rtol=np.finfo(np.float32).eps / 2, atol=0)
    # transformers' extractor keeps the statistics but does not apply them: say so
    converted = tmp_path / "hf"
    result = subprocess.run([sys.executable, "-m", "minis2t", "convert", str(tmp_path), str(converted)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0 and "global CMVN" in result.stderr
    assert minis2t.FeatureExtractor.from_pretrained(converted).global_cmvn is not None
    # damaged statistics: typed errors, whatever is wrong with the file
    np.savez(tmp_path / "gcmvn.npz", mean=stats["mean"])  # no std
    with pytest.raises(errors.FeatureError, match="'std'"):
        minis2t.Speech2Text.from_pretrained(tmp_path)
    (tmp_path / "gcmvn.npz").write_bytes(b"not a zip at all")
    with pytest.raises(errors.FeatureError):
        minis2t.Speech2Text.from_pretrained(tmp_path)
    np.savez_compressed(tmp_path / "gcmvn.npz", mean=np.zeros(2**19), std=np.ones(80))  # inflates to 4 MB
    with pytest.raises(errors.FeatureError, match="too large"):
        minis2t.Speech2Text.from_pretrained(tmp_path)


def test_hostile_yaml_is_refused_fast_and_runs_nothing(tmp_path):
    """config.yaml goes through PyYAML's safe_load: a tag that would run code, an alias
    bomb, absurd nesting, broken syntax and an oversized file are each a ConfigError,
    within a second, and nothing runs (the canary file is never made)."""
    import time

    canary = tmp_path / "canary"
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    hostile = {
        "code": f"x: !!python/object/apply:os.system ['touch {canary}']\n",
        "object": "x: !!python/object:minis2t.Speech2Text {}\n",
        "nesting": "x: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "syntax": "a: [1, 2\nb: }\n",
        "size": "x: " + "y" * (2**20 + 1) + "\n",
    }
    for name, text in hostile.items():
        start = time.perf_counter()
        with pytest.raises(errors.ConfigError, match="config.yaml"):
            read_yaml(text)
        assert time.perf_counter() - start < 5, name
    assert not canary.exists()
    start = time.perf_counter()
    loaded = read_yaml(bomb)  # 9**9 leaves if expanded: the aliases share one list, never copy it
    assert loaded["i"][0] is loaded["i"][8] and loaded["i"][0][0][0][0][0][0][0][0] == ["x"] * 9
    assert time.perf_counter() - start < 5


# --- hostile and broken fairseq files -------------------------------------------------


class Evil:
    def __init__(self, canary: Path):
        self.canary = canary

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.canary}",))


def test_payload_in_a_fairseq_configuration_never_runs(proto, tmp_path):
    """A real fairseq checkpoint whose configuration carries a payload is refused."""
    hf = hf_model(seed=5, vocab_size=spm_vocab_size(VOCAB))
    weights = {k: v.numpy() for k, v in hf.state_dict().items() if "embed_positions" not in k}
    fo.write_fairseq_dir(tmp_path, minis2t.ModelConfig.from_dict(hf.config.to_dict()), weights, proto, layout="legacy")
    path = tmp_path / "checkpoint_best.pt"
    with fo._trusted_load():
        state = torch.load(path, map_location="cpu")
    canary = tmp_path / "canary"
    state["args"].evil = Evil(canary)
    torch.save(state, path)
    with pytest.raises(errors.UnsafePickleError):
        read_fairseq_checkpoint(path)
    with pytest.raises(errors.UnsafePickleError):
        minis2t.Speech2Text.from_pretrained(tmp_path)
    assert not canary.exists()


@pytest.mark.parametrize("payload", [
    b"cbuiltins\nexec\n(S'open(\"CANARY\", \"w\")'\ntR.",
    b"cbuiltins\ngetattr\n(cbuiltins\nobject\nS'__subclasses__'\ntR.",
    b"ccopyreg\n_reconstructor\n(cos\n_wrap_close\ncbuiltins\nobject\nNtR}b.",
    b"cnumpy\nload\n(S'CANARY'\ntR.",
])  # fmt: skip
def test_globals_outside_a_configuration_are_refused_or_inert(tmp_path, payload):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload.replace(b"CANARY", str(tmp_path / "canary").encode()))
    with pytest.raises(errors.CheckpointError):
        read_fairseq_checkpoint(path)
    assert not (tmp_path / "canary").exists()


def test_incomplete_directories_say_what_is_missing(proto, tmp_path):
    hf = hf_model(seed=6, vocab_size=spm_vocab_size(VOCAB))
    weights = {k: v.numpy() for k, v in hf.state_dict().items() if "embed_positions" not in k}
    fo.write_fairseq_dir(tmp_path, minis2t.ModelConfig.from_dict(hf.config.to_dict()), weights, proto)
    (tmp_path / "spm.txt").rename(tmp_path / "elsewhere.txt")
    with pytest.raises(errors.CheckpointError, match="spm.txt"):
        minis2t.Speech2Text.from_pretrained(tmp_path)
    (tmp_path / "elsewhere.txt").write_text("only three\n")
    (tmp_path / "elsewhere.txt").rename(tmp_path / "spm.txt")
    with pytest.raises(errors.TokenizerError):
        minis2t.Speech2Text.from_pretrained(tmp_path)
    (tmp_path / "spm.txt").write_bytes(b"\xff\xfe binary \x00 junk 1\n")
    with pytest.raises(errors.TokenizerError, match="UTF-8"):
        minis2t.Speech2Text.from_pretrained(tmp_path)
    (tmp_path / "spm.txt").unlink()
    config = (tmp_path / "config.yaml").read_text()
    (tmp_path / "config.yaml").write_bytes(b"\x89PNG\x00\xff")
    with pytest.raises(errors.ConfigError, match="UTF-8"):
        minis2t.Speech2Text.from_pretrained(tmp_path)
    (tmp_path / "config.yaml").write_text(config)
    (tmp_path / "checkpoint_best.pt").write_bytes(b"not a zip")
    with pytest.raises(errors.CheckpointError):
        minis2t.Speech2Text.from_pretrained(tmp_path)


# --- fairseq's search ---------------------------------------------------------------------


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), beam=st.integers(1, 5), lenpen=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
       min_len=st.integers(1, 3), max_len=st.integers(3, 12), sharp=st.sampled_from([1.0, 8.0]))  # fmt: skip
def test_fairseq_search_is_token_identical_to_sequence_generator(seed, beam, lenpen, min_len, max_len, sharp):
    """``search="fairseq"`` gives fairseq's ``SequenceGenerator`` tokens and scores on random
    models (flat and peaked output distributions, a padded batch)."""
    rng = np.random.default_rng(seed)
    config = fo.random_config(rng, vocab_size=int(rng.integers(8, 40)))
    weights = fo.random_weights(config, rng)
    for name in ("lm_head.weight", "model.decoder.embed_tokens.weight"):
        weights[name] = weights[name] * sharp  # a tied head is scaled once, through either name
    model, task = fo.fairseq_model(config, weights, with_task=True)
    t = int(rng.integers(12, 50))
    lengths = np.array([t, int(rng.integers(8, t + 1)), int(rng.integers(8, t + 1))])
    features = rng.standard_normal((3, t, 80)) * (np.arange(t)[None, :, None] < lengths[:, None, None])
    theirs, their_scores = fo.generate(model, task, features, lengths, beam, max_len, min_len, lenpen)
    ours = minis2t.Speech2Text(config, weights)
    ours.positions = {"encoder": model.encoder.embed_positions.weights.numpy(),
                      "decoder": model.decoder.embed_positions.weights.numpy()}  # fmt: skip
    mask = (np.arange(t)[None] < lengths[:, None]).astype(np.int64)
    out = ours.generate(features, mask, search="fairseq", num_beams=beam, max_length=max_len + 2,
                        min_length=min_len + 1, length_penalty=lenpen, return_dict=True)  # fmt: skip
    for row, (tokens, score) in enumerate(zip(theirs, their_scores)):
        mine = out.sequences[row, 1:].tolist()
        assert mine[: len(tokens)] == tokens and set(mine[len(tokens):]) <= {1}
        # both sum float32 log-probabilities; the log-softmaxes differ by an ulp or two per step
        assert abs(out.sequences_scores[row] - score) <= 1e-5 * max(1.0, abs(score))


def test_search_option_is_validated(tmp_path):
    model = minis2t.Speech2Text.from_pretrained()
    wave = minis2t.load_audio(minis2t.app.cli.BUNDLED_RECORDING)
    with pytest.raises(errors.ConfigError, match="search"):
        model.transcribe(wave, search="google")
    with pytest.raises(errors.ConfigError, match="fairseq"):
        model.transcribe(wave, search="fairseq", no_repeat_ngram_size=2)
    assert model.transcribe(wave, search="fairseq") == model.transcribe(wave)  # a clear recording
    result = subprocess.run([sys.executable, "-m", "minis2t", "transcribe", "--search", "fairseq",
                             str(minis2t.app.cli.BUNDLED_RECORDING)], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip()


def test_fairseq_hub_interface_and_minis2t_give_the_same_transcripts(tmp_path):
    """End to end on real recordings: the bundled model written as a fairseq directory by
    fairseq's trainer, loaded by fairseq's S2T hub interface (``from_pretrained``), decoded
    by its generator and detokenised by its SentencePiece wrapper, against
    ``minis2t transcribe`` of the same directory with ``search="fairseq"``. Both get the
    same features (the hub's own filter bank needs torchaudio's compiled part, which does
    not load with this torch): minis2t's, whose front end the other tests hold to
    kaldi-native-fbank and transformers."""
    from fairseq.models.speech_to_text.s2t_transformer import S2TTransformerModel

    bundled = minis2t.Speech2Text.from_pretrained()
    fo.write_fairseq_dir(tmp_path, bundled.config, bundled.weights, bundled.tokenizer.sp_model_proto)
    with fo._trusted_load():
        hub = S2TTransformerModel.from_pretrained(str(tmp_path), checkpoint_file="checkpoint_best.pt",
                                                  config_yaml="config.yaml")  # fmt: skip
    ours = minis2t.Speech2Text.from_pretrained(tmp_path)
    samples = sorted((minis2t.app.cli.BUNDLED_MODEL.parent / "samples").glob("*.wav"))
    recordings = samples + sorted((Path(__file__).parent / "data" / "speech").glob("*.flac"))
    assert len(recordings) >= 4
    for path in recordings:
        wave = minis2t.load_audio(path)
        features = ours.feature_extractor(wave)["input_features"]
        sample = {"net_input": {"src_tokens": torch.from_numpy(features),
                                "src_lengths": torch.tensor([features.shape[1]]), "prev_output_tokens": None}}  # fmt: skip
        theirs = hub.get_prediction(hub.task, hub.model, hub.generator, sample)
        tokens = hub.generator.generate([hub.model], sample)[0][0]["tokens"].tolist()
        mine = ours.generate(features, search="fairseq")[0, 1:].tolist()
        assert mine[: len(tokens)] == tokens, path.name
        assert ours.transcribe(wave, search="fairseq") == [theirs], path.name


def test_a_fairseq_directory_transcribes_without_torch(tmp_path):
    """``minis2t transcribe --model DIR`` on a fairseq directory, in a process that never
    imports torch or fairseq (checked after the work)."""
    bundled = minis2t.Speech2Text.from_pretrained()
    fo.write_fairseq_dir(tmp_path, bundled.config, bundled.weights, bundled.tokenizer.sp_model_proto)
    recording = str(minis2t.app.cli.BUNDLED_RECORDING)
    code = ("import sys, minis2t.app.cli; status = minis2t.app.cli.main(['transcribe', '--model', sys.argv[1], sys.argv[2]]); "
            "assert 'torch' not in sys.modules and 'fairseq' not in sys.modules; sys.exit(status)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path), recording], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # the directory's own settings (fairseq's beam 5 and length limit, not the bundled
    # model's generation config), loaded in this process
    assert result.stdout.strip() == minis2t.Speech2Text.from_pretrained(tmp_path).transcribe_long(recording)["text"]
    assert result.stdout.strip()

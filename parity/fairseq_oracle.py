"""fairseq itself as an oracle: its S2T model built, saved and run by its own code.

fairseq (``fairseq-fixed``, the 0.12 line that runs on Python 3.11) is the original
Speech2Text; ``transformers`` is a port of it. Everything here calls fairseq's classes —
the options parser, ``SpeechToTextTask``, ``S2TTransformerModel``, ``Trainer``,
``checkpoint_utils`` — and nothing re-implements them:

* :func:`write_fairseq_dir` makes a directory as fairseq's recipes publish one: a
  checkpoint written by fairseq's ``Trainer.save_checkpoint`` (or, ``legacy=True``, the
  older layout with an ``args`` Namespace), ``config.yaml``, a SentencePiece model and
  its ``dict.txt``;
* :func:`load` reads such a directory back with fairseq's own loader;
* :func:`fairseq_model` builds fairseq's model around any minis2t config and weights;
* :func:`logits` and :func:`stages` run its forward pass.

fairseq's loader calls ``torch.load`` without ``weights_only``, which torch >= 2.6
refuses for its pickles; as the oracle is trusted code on files we made, it runs with
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (minis2t's own reader never runs a pickle).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path

import numpy as np
import torch

logging.getLogger("fairseq").setLevel(logging.WARNING)

# minis2t.io.fairseq.RENAMES read backwards: Hugging Face names -> fairseq's.
TO_FAIRSEQ = (
    (r"^model\.encoder\.conv\.conv_layers\.", "encoder.subsample.conv_layers."),
    (r"^model\.encoder\.layers\.", "encoder.transformer_layers."),
    (r"^model\.encoder\.layer_norm\.", "encoder.layer_norm."),
    (r"^lm_head\.weight$", "decoder.output_projection.weight"),
    (r"^model\.decoder\.", "decoder."),
)


def fairseq_name(name: str) -> str:
    for pattern, new in TO_FAIRSEQ:
        if re.match(pattern, name):
            return re.sub(pattern, new, name, count=1)
    raise KeyError(name)


def model_args(config, arch: str = "s2t_transformer") -> list[str]:
    """Command-line options that make fairseq build ``config``'s architecture."""
    c = config
    args = [
        "--arch", arch, "--encoder-embed-dim", str(c.d_model), "--decoder-embed-dim", str(c.d_model),
        "--encoder-layers", str(c.encoder_layers), "--decoder-layers", str(c.decoder_layers),
        "--encoder-attention-heads", str(c.encoder_attention_heads),
        "--decoder-attention-heads", str(c.decoder_attention_heads),
        "--encoder-ffn-embed-dim", str(c.encoder_ffn_dim), "--decoder-ffn-embed-dim", str(c.decoder_ffn_dim),
        "--conv-kernel-sizes", ",".join(str(k) for k in c.conv_kernel_sizes),
        "--conv-channels", str(c.conv_channels), "--activation-fn", c.activation_function,
        "--max-source-positions", str(c.max_source_positions),
        "--max-target-positions", str(c.max_target_positions),
        "--dropout", "0.0", "--attention-dropout", "0.0", "--activation-dropout", "0.0",
    ]  # fmt: skip
    if c.tie_word_embeddings:
        args.append("--share-decoder-input-output-embed")
    if not c.scale_embedding:
        args.append("--no-scale-embedding")
    return args


def pieces_of(proto: bytes) -> list[str]:
    """The pieces of a SentencePiece model after fairseq's four specials, in id order."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_proto=proto)
    return [sp.id_to_piece(i) for i in range(4, sp.get_piece_size())]


def write_data_files(directory: Path, pieces: list[str], proto: bytes | None = None,
                     global_cmvn: dict | None = None, names: tuple[str, str] = ("spm.model", "spm.txt")) -> None:  # fmt: skip
    """``config.yaml``, the SentencePiece model and fairseq's dictionary, as fairseq's
    data preparation (``gen_vocab``, ``gen_config_yaml``) writes them."""
    import yaml
    from fairseq.data import Dictionary

    directory.mkdir(parents=True, exist_ok=True)
    if proto is not None:
        (directory / names[0]).write_bytes(proto)
    dictionary = Dictionary()  # the four specials, then the pieces in SentencePiece order
    for piece in pieces:
        dictionary.add_symbol(piece, n=1)
    dictionary.save(str(directory / names[1]))
    transform = "utterance_cmvn"
    config = {"bpe_tokenizer": {"bpe": "sentencepiece", "sentencepiece_model": names[0]},
              "input_channels": 1, "input_feat_per_channel": 80, "vocab_filename": names[1],
              "specaugment": {"freq_mask_F": 27, "freq_mask_N": 1, "time_mask_N": 1,
                              "time_mask_T": 100, "time_mask_p": 1.0, "time_wrap_W": 0}}  # fmt: skip
    if global_cmvn is not None:
        transform = "global_cmvn"
        np.savez(directory / "gcmvn.npz", mean=global_cmvn["mean"], std=global_cmvn["std"])
        # As published: the path of the machine that prepared the data.
        config["global_cmvn"] = {"stats_npz_path": "/data/must-c/en-de/gcmvn.npz"}
    config["transforms"] = {"*": [transform], "_train": [transform, "specaugment"]}
    (directory / "config.yaml").write_text(yaml.dump(config))


def _parse(directory: Path, extra: list[str]):
    from fairseq import options

    parser = options.get_training_parser()
    return options.parse_args_and_arch(parser, [
        str(directory), "--task", "speech_to_text", "--config-yaml", "config.yaml",
        "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
        "--optimizer", "adam", "--lr", "1e-3", "--lr-scheduler", "inverse_sqrt",
        "--max-tokens", "4000", "--cpu", "--seed", "1", *extra])  # fmt: skip


def build(directory: Path, config, arch: str = "s2t_transformer"):
    """fairseq's task and model for the data files in ``directory`` and ``config``."""
    from fairseq import tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    args = _parse(directory, model_args(config, arch))
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    return args, cfg, task, task.build_model(cfg.model)


def set_weights(model, weights: dict[str, np.ndarray]) -> None:
    """Copy minis2t/transformers-named ``weights`` into fairseq's ``model``."""
    state = model.state_dict()
    with torch.no_grad():
        for name, array in weights.items():
            target = state[fairseq_name(name)]
            target.copy_(torch.from_numpy(np.asarray(array)).to(target.dtype))


LAYOUTS = ("trainer", "legacy", "averaged")


def write_fairseq_dir(directory: Path, config, weights, proto: bytes, arch: str = "s2t_transformer",
                      layout: str = "trainer", global_cmvn: dict | None = None,
                      checkpoint: str = "checkpoint_best.pt") -> Path:  # fmt: skip
    """A fairseq S2T directory holding ``weights``, its checkpoint in one of ``LAYOUTS``:
    as fairseq 0.12's ``Trainer`` saves it (``cfg`` as plain containers, the model's
    settings a Namespace); ``legacy``, as fairseq <= 0.10 did (one ``args`` Namespace);
    ``averaged``, as fairseq's tools re-save a checkpoint they loaded with
    ``checkpoint_utils.load_checkpoint_to_cpu`` (``average_checkpoints.py`` does, and the
    released models are averaged): ``cfg`` is then an omegaconf ``DictConfig``."""
    from fairseq.trainer import Trainer

    write_data_files(directory, pieces_of(proto), proto, global_cmvn)
    args, cfg, task, model = build(directory, config, arch)
    set_weights(model, weights)
    criterion = task.build_criterion(cfg.criterion)
    trainer = Trainer(cfg, task, model, criterion)
    path = directory / checkpoint
    trainer.consolidate_optimizer()  # as fairseq's checkpoint_utils.save_checkpoint does first
    trainer.save_checkpoint(str(path), {"train_iterator": {"epoch": 1}})
    if layout == "legacy":  # fairseq <= 0.10 saved one Namespace as "args" and no "cfg"
        with _trusted_load():
            state = torch.load(path, map_location="cpu")
        state["args"], state["cfg"] = args, None
        torch.save(state, path)
    elif layout == "averaged":
        from fairseq import checkpoint_utils

        with _trusted_load():
            state = checkpoint_utils.load_checkpoint_to_cpu(str(path))
        torch.save(state, path)
    return directory


@contextlib.contextmanager
def _trusted_load():
    old = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = old


def load(directory: Path, checkpoint: str = "checkpoint_best.pt", dtype=torch.float64):
    """``(model, task)`` read by fairseq's own ``load_model_ensemble_and_task``."""
    from fairseq import checkpoint_utils

    with _trusted_load():
        models, _cfg, task = checkpoint_utils.load_model_ensemble_and_task(
            [str(directory / checkpoint)], arg_overrides={"data": str(directory)})  # fmt: skip
    return models[0].to(dtype).eval(), task


def fairseq_model(config, weights, dtype=torch.float64, with_task: bool = False):
    """fairseq's ``S2TTransformerModel`` of ``config`` holding ``weights`` (built on a
    dictionary of ``config.vocab_size`` placeholder pieces: the model only needs its size);
    ``(model, task)`` with ``with_task``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_data_files(Path(tmp), [f"piece{i}" for i in range(4, config.vocab_size)])
        _, _, task, model = build(Path(tmp), config)
        set_weights(model, weights)
    model = model.to(dtype).eval()
    return (model, task) if with_task else model


def generate(model, task, features: np.ndarray, lengths: np.ndarray, beam: int = 5, max_len_b: int = 200,
             min_len: int = 1, lenpen: float = 1.0) -> tuple[list[list[int]], list[float]]:  # fmt: skip
    """fairseq's ``SequenceGenerator``: each item's best hypothesis (tokens, EOS last) and
    its score."""
    from fairseq.sequence_generator import SequenceGenerator

    generator = SequenceGenerator([model], task.target_dictionary, beam_size=beam, max_len_a=0,
                                  max_len_b=max_len_b, min_len=min_len, len_penalty=lenpen)  # fmt: skip
    dtype = next(model.parameters()).dtype
    sample = {"net_input": {"src_tokens": torch.as_tensor(features, dtype=dtype),
                            "src_lengths": torch.as_tensor(lengths), "prev_output_tokens": None}}  # fmt: skip
    with torch.no_grad():
        hypos = generator.generate([model], sample)
    return [h[0]["tokens"].tolist() for h in hypos], [float(h[0]["score"]) for h in hypos]


def logits(model, features: np.ndarray, lengths: np.ndarray, decoder_input_ids: np.ndarray) -> np.ndarray:
    """fairseq's decoder logits ``[B, L, V]`` (teacher forcing)."""
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        out, _ = model(torch.as_tensor(features, dtype=dtype), torch.as_tensor(lengths),
                       torch.as_tensor(decoder_input_ids))  # fmt: skip
    return out.numpy()


# --- what differs between fairseq and the transformers port, measured ----------------


def random_config(rng: np.random.Generator, vocab_size: int = 40):
    """A small random S2T architecture (as in the tests)."""
    import minis2t

    heads = int(rng.choice([1, 2, 4]))
    n_conv = int(rng.integers(1, 4))
    return minis2t.ModelConfig(
        vocab_size=vocab_size, d_model=max(8, heads * int(rng.integers(2, 5))), encoder_attention_heads=heads,
        decoder_attention_heads=heads, encoder_layers=int(rng.integers(1, 3)),
        decoder_layers=int(rng.integers(1, 3)), encoder_ffn_dim=int(rng.integers(4, 25)),
        decoder_ffn_dim=int(rng.integers(4, 25)), num_conv_layers=n_conv,
        conv_kernel_sizes=tuple(int(k) for k in rng.choice([3, 5], n_conv)),
        conv_channels=2 * int(rng.integers(2, 7)), tie_word_embeddings=bool(rng.integers(2)),
        scale_embedding=bool(rng.integers(2)), activation_function=str(rng.choice(["relu", "gelu"])),
        max_source_positions=64, max_target_positions=32, dropout=0.0,
    )  # fmt: skip


def random_weights(config, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every tensor random (LayerNorm scales near 1), tied head shared, float64."""
    from minis2t.io.checkpoint import EMBED_TOKENS, TIED_HEAD, expected_shapes

    weights = {}
    for name, shape in expected_shapes(config).items():
        scale = 0.8 / max(1, shape[-1]) ** 0.5
        weights[name] = (1.0 if name.endswith("layer_norm.weight") else 0.0) + scale * rng.standard_normal(shape)
    if config.tie_word_embeddings:
        weights[TIED_HEAD] = weights[EMBED_TOKENS]
    return weights


def transformers_model(config, weights, dtype=torch.float64):
    from transformers import Speech2TextConfig, Speech2TextForConditionalGeneration

    model = Speech2TextForConditionalGeneration(Speech2TextConfig(**config.to_dict()))
    state = {k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()}
    model.load_state_dict(state, strict=False)  # the position tables are computed, not loaded
    return model.to(dtype).eval()


def differences(models: int = 8, seed: int = 0) -> dict:
    """Max relative differences of fairseq's logits from transformers' over ``models``
    random architectures (float64, a padded batch): at decoder positions holding a real
    token and at positions holding ``<pad>``; the sinusoidal tables; and fairseq's
    utterance CMVN against transformers' on the test recordings."""
    from transformers import Speech2TextFeatureExtractor

    import minis2t

    rng = np.random.default_rng(seed)
    real, padded = [], []
    for _ in range(models):
        config = random_config(rng)
        weights = random_weights(config, rng)
        ours, theirs = fairseq_model(config, weights), transformers_model(config, weights)
        t = int(rng.integers(16, 60))
        lengths = np.array([t, int(rng.integers(8, t))])
        features = rng.standard_normal((2, t, 80)) * (np.arange(t)[None, :, None] < lengths[:, None, None])
        ids = np.concatenate([[[2], [2]], rng.integers(4, config.vocab_size, (2, 5))], axis=1)
        ids[1, -2:] = 1
        a = logits(ours, features, lengths, ids)
        with torch.no_grad():
            b = theirs(input_features=torch.from_numpy(features), decoder_input_ids=torch.from_numpy(ids),
                       attention_mask=torch.from_numpy((np.arange(t)[None] < lengths[:, None]).astype(np.int64))).logits.numpy()  # fmt: skip
        scale = max(1.0, np.abs(b).max())
        real.append(np.abs(a - b)[ids != 1].max() / scale)
        padded.append(np.abs(a - b)[ids == 1].max() / scale)
    table = {}
    for n, d in ((1500, 256), (6000, 512)):
        fs = _fairseq_table(n, d)
        hf = _transformers_table(n, d)
        table[f"{n}x{d}"] = float(np.abs(fs - hf).max())
    cmvn = _cmvn_difference(minis2t, Speech2TextFeatureExtractor)
    return {"models": models, "logits_real_max": float(max(real)), "logits_real_median": float(np.median(real)),
            "logits_padded_max": float(max(padded)), "logits_padded_min": float(min(padded)),
            "position_tables_max_abs": table, **cmvn}  # fmt: skip


def _fairseq_table(n: int, d: int) -> np.ndarray:
    from fairseq.modules.sinusoidal_positional_embedding import SinusoidalPositionalEmbedding

    return SinusoidalPositionalEmbedding.get_embedding(n + 2, d, padding_idx=1).numpy()


def _transformers_table(n: int, d: int) -> np.ndarray:
    from transformers.models.speech_to_text.modeling_speech_to_text import Speech2TextSinusoidalPositionalEmbedding

    return Speech2TextSinusoidalPositionalEmbedding(n, d, padding_idx=1).weights.numpy()


def _cmvn_difference(minis2t, extractor_class) -> dict:
    """fairseq's UtteranceCMVN (variance as E[x^2] - mean^2, in float32) against
    transformers' (mean subtracted first), on the same float32 filter banks."""
    from fairseq.data.audio.feature_transforms.utterance_cmvn import UtteranceCMVN

    speech = Path(__file__).resolve().parents[1] / "tests" / "data" / "speech"
    worst, files = 0.0, sorted(speech.glob("*.wav")) + sorted(speech.glob("*.flac"))
    raw_extractor = minis2t.FeatureExtractor(do_ceptral_normalize=False)
    for path in files:
        raw = raw_extractor(minis2t.load_audio(path))["input_features"][0]
        theirs = extractor_class().utterance_cmvn(raw, raw.shape[0])
        worst = max(worst, float(np.abs(UtteranceCMVN()(raw) - theirs).max()))
    return {"cmvn_recordings": len(files), "cmvn_max_abs": worst}


# --- stage by stage, for python -m parity compare -------------------------------------


def stages(model, features: np.ndarray, mask: np.ndarray, ids: np.ndarray) -> dict[str, np.ndarray]:
    """fairseq's intermediate values, named as ``parity.compare`` names stages: each conv
    layer (after its GLU), the encoder's input and layers, its output, the decoder's input
    and layers (before the final layer norm), the logits. Batch-first arrays."""
    dtype = next(model.parameters()).dtype
    captured: dict[str, list] = {"conv": [], "enc_in": []}
    hooks = [conv.register_forward_hook(lambda mod, inp, out: captured["conv"].append(out))
             for conv in model.encoder.subsample.conv_layers]  # fmt: skip
    hooks.append(model.encoder.transformer_layers[0].register_forward_hook(
        lambda mod, inp, out: captured["enc_in"].append(inp[0])))  # fmt: skip
    try:
        with torch.no_grad():
            x = torch.as_tensor(features, dtype=dtype)
            enc = model.encoder(x, torch.as_tensor(mask.sum(axis=1)), return_all_hiddens=True)
            feats, extra = model.decoder.extract_features_scriptable(torch.as_tensor(ids), enc)
            logits, inner = model.decoder.output_layer(feats), extra["inner_states"]
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for i, c in enumerate(captured["conv"]):
        out[f"conv layer {i}"] = torch.nn.functional.glu(c, dim=1).transpose(1, 2).numpy()
    out["encoder input"] = captured["enc_in"][0].transpose(0, 1).numpy()
    for i, s in enumerate(enc["encoder_states"]):
        out[f"encoder layer {i}"] = s.transpose(0, 1).numpy()
    out["encoder output"] = enc["encoder_out"][0].transpose(0, 1).numpy()
    for i, s in enumerate(inner):
        out["decoder input" if i == 0 else f"decoder layer {i - 1}"] = s.transpose(0, 1).numpy()
    out["logits"] = logits.numpy()
    return out

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
* :func:`logits`, :func:`encoder_states` run its forward pass.

fairseq's loader calls ``torch.load`` without ``weights_only``, which torch >= 2.6
refuses for its pickles; as the oracle is trusted code on files we made, it runs with
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (minis2t's own reader never runs a pickle).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch

logging.getLogger("fairseq").setLevel(logging.WARNING)

# minis2t.fairseq.RENAMES read backwards: Hugging Face names -> fairseq's.
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


def fairseq_model(config, weights, dtype=torch.float64):
    """fairseq's ``S2TTransformerModel`` of ``config`` holding ``weights`` (built on a
    dictionary of ``config.vocab_size`` placeholder pieces: the model only needs its size)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_data_files(Path(tmp), [f"piece{i}" for i in range(4, config.vocab_size)])
        _, _, _, model = build(Path(tmp), config)
        set_weights(model, weights)
    return model.to(dtype).eval()


def encoder_states(model, features: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fairseq's encoder output ``[B, S, D]`` and its padding mask (True = padding)."""
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        out = model.encoder(torch.as_tensor(features, dtype=dtype), torch.as_tensor(lengths))
    states = out["encoder_out"][0].transpose(0, 1).numpy()
    pad = out["encoder_padding_mask"][0].numpy() if out["encoder_padding_mask"] else np.zeros(states.shape[:2], bool)
    return states, pad


def logits(model, features: np.ndarray, lengths: np.ndarray, decoder_input_ids: np.ndarray) -> np.ndarray:
    """fairseq's decoder logits ``[B, L, V]`` (teacher forcing)."""
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        out, _ = model(torch.as_tensor(features, dtype=dtype), torch.as_tensor(lengths),
                       torch.as_tensor(decoder_input_ids))  # fmt: skip
    return out.numpy()

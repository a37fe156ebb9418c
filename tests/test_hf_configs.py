"""minis2t.hf against transformers over the whole Speech2TextConfig space: the same
numbers, or a typed refusal that names the field — never anything in between.

Each example draws a config (every field that changes what the model computes, and the
ones that should not), builds the model with transformers (its own random initialisation
under a seed, ``parity.transformers_oracle.random_model``), saves it with transformers'
``save_pretrained`` and loads the directory through ``minis2t.hf`` — so config.json and
generation_config.json are read the way a user's would be. Then, on a drawn batch
(padding, lengths, decoder ids with padding, masked or not), it compares logits, loss, every hidden state
(transformers' convention), every attention, the cache after the forward, and the tokens
``generate`` returns (greedy and beam, forced first token, eos lists).

Bar: ``parity.bars.MODEL_TRANSFORMERS["float64"]`` (1e-10 relative to the tensor's
scale), in float64 with transformers' own position tables handed to minis2t (the tables
differ by float32 ulps between libraries; tested in tests/test_model.py). Generated
tokens must be equal. The largest difference seen is kept in ``LARGEST`` and printed
by the last test of the module.

Three differences that minis2t once had — positions with a padding index of 1 whatever
``pad_token_id`` says, ``hidden_states``' last entry before the final layer norm, and
searches that stopped on the first id of an ``eos_token_id`` list only — each have their
own test below (each failed before the fix). A second run of the property draws the space
without them (``pad_token_id`` 1, one stop id), so that a regression in one of the three
still leaves the rest of the space checked.
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from transformers import Speech2TextConfig as Speech2TextConfig_hf
from transformers import Speech2TextForConditionalGeneration as Speech2TextForConditionalGeneration_hf
from transformers.activations import ACT2FN

import minis2t
from minis2t import errors
from minis2t.hf import Speech2TextForConditionalGeneration, cache_from_transformers
from minis2t.reference.nn import ACTIVATIONS
from parity import bars

BAR = bars.MODEL_TRANSFORMERS["float64"]
# Configs drawn per run: 40 in the suite (about 20 s on 2 cores), more on request
# (MINIS2T_HF_EXAMPLES=300); derandomized, as every hypothesis test of the suite.
EXAMPLES = int(os.environ.get("MINIS2T_HF_EXAMPLES", "40"))
# per space drawn: configs, refusals by name, the largest relative difference
LARGEST = {"whole": {"examples": 0, "refused": 0, "max_rel_diff": 0.0}}
SPACE = ["whole"]  # the space the running test draws (rel_diff records into it)


def rel_diff(ours, theirs) -> float:
    """max |ours - theirs| over the tensor's scale max(1, max |theirs|)."""
    a = np.asarray(ours, dtype=np.float64)
    b = theirs.detach().numpy().astype(np.float64) if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.shape == b.shape, (a.shape, b.shape)
    d = float(np.abs(a - b).max(initial=0.0) / max(1.0, float(np.abs(b).max(initial=0.0))))
    tally = LARGEST[SPACE[0]]
    tally["max_rel_diff"] = max(tally["max_rel_diff"], d)
    return d


# --- the space ------------------------------------------------------------------------------


def rarely(draw, usual, rare, one_in: int = 30):
    """A value of ``rare`` one time in ``one_in``, else of ``usual``: the values minis2t
    refuses are drawn, but most examples still compare numbers."""
    # the middle value: hypothesis draws the ends of a range more often than 1 in one_in
    return draw(rare if draw(st.integers(1, one_in)) == one_in // 2 else usual)


@st.composite
def configs(draw, whole: bool = True) -> dict:
    """A Speech2TextConfig as keyword arguments. ``whole=False`` leaves out two of the
    three known differences (pad_token_id other than 1, an eos list); refused values
    (activations minis2t lacks, even kernels, no layers) are drawn in both."""
    enc_heads, dec_heads = draw(st.sampled_from([1, 2, 4])), draw(st.sampled_from([1, 2, 4]))
    step = enc_heads * dec_heads // math.gcd(enc_heads, dec_heads)
    d_model = max(4, step * draw(st.integers(1, 5)))  # odd with one head: the table's zero column
    vocab = draw(st.integers(8, 40))
    n_conv = draw(st.integers(1, 3))
    ids = st.integers(0, vocab - 1)
    eos = draw(ids)
    if whole and draw(st.booleans()):
        eos = [eos] + draw(st.lists(ids, min_size=1, max_size=2))
    return dict(
        vocab_size=vocab, d_model=d_model,
        encoder_attention_heads=enc_heads, decoder_attention_heads=dec_heads,
        encoder_layers=rarely(draw, st.integers(1, 3), st.just(0)),
        decoder_layers=rarely(draw, st.integers(1, 3), st.just(0)),
        encoder_ffn_dim=draw(st.integers(1, 24)), decoder_ffn_dim=draw(st.integers(1, 24)),
        num_conv_layers=n_conv,
        conv_kernel_sizes=[rarely(draw, st.sampled_from([1, 3, 5, 7]), st.sampled_from([2, 4])) for _ in range(n_conv)],
        conv_channels=2 * draw(st.integers(1, 8)),
        input_feat_per_channel=draw(st.sampled_from([3, 8, 13])),
        input_channels=draw(st.integers(1, 2)),
        scale_embedding=draw(st.booleans()),
        tie_word_embeddings=draw(st.booleans()),
        activation_function=rarely(draw, st.sampled_from(sorted(ACTIVATIONS)), st.sampled_from(sorted(ACT2FN))),
        pad_token_id=draw(ids) if whole else 1,
        bos_token_id=draw(ids), eos_token_id=eos, decoder_start_token_id=draw(ids),
        init_std=draw(st.sampled_from([0.02, 0.3, 1.0])),
        # inference ignores these: drawn to show they change nothing
        dropout=draw(st.sampled_from([0.0, 0.3])), attention_dropout=draw(st.sampled_from([0.0, 0.3])),
        activation_dropout=draw(st.sampled_from([0.0, 0.3])),
        encoder_layerdrop=draw(st.sampled_from([0.0, 0.5])), decoder_layerdrop=draw(st.sampled_from([0.0, 0.5])),
        use_cache=draw(st.booleans()),
        max_source_positions=draw(st.sampled_from([24, 64])), max_target_positions=draw(st.sampled_from([12, 32])),
    )  # fmt: skip


def expected_refusals(config: dict) -> set[str]:
    """The fields minis2t refuses, by design (docs/hf.md says why)."""
    out = set()
    if config.get("activation_function", "relu") not in ACTIVATIONS:
        out.add("activation_function")
    if any(k % 2 == 0 for k in config.get("conv_kernel_sizes", [5, 5])):
        out.add("conv_kernel_sizes")
    for name in ("encoder_layers", "decoder_layers"):
        if config.get(name) == 0:
            out.add(name)
    return out


@st.composite
def inputs(draw, config: dict) -> dict:
    """A padded batch of features, decoder ids (some rows ending in padding) and labels,
    and generation options."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch = draw(st.integers(1, 3))
    bins = config["input_feat_per_channel"] * config["input_channels"]
    frames = draw(st.integers(1, 40))
    lengths = [frames] + [draw(st.integers(1, frames)) for _ in range(batch - 1)]
    mask = (np.arange(frames)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    features = rng.standard_normal((batch, frames, bins)) * mask[..., None]  # padding is zeros
    length = draw(st.integers(1, min(6, config["max_target_positions"])))
    ids = rng.integers(0, config["vocab_size"], (batch, length))
    ids[:, 0] = config["decoder_start_token_id"]
    for row in range(batch):
        ids[row, draw(st.integers(1, length)):] = config["pad_token_id"]
    labels = np.where(rng.random((batch, length)) < 0.2, -100, rng.integers(0, config["vocab_size"], (batch, length)))
    decoder_mask = None
    if draw(st.booleans()):  # the padding of the decoder's input masked (its first token always real)
        decoder_mask = (ids != config["pad_token_id"]).astype(np.int64)
        decoder_mask[:, 0] = 1
    return dict(
        features=features, mask=mask, ids=ids, labels=labels, decoder_attention_mask=decoder_mask,
        num_beams=draw(st.integers(1, 3)),
        max_length=draw(st.integers(2, min(8, config["max_target_positions"]))),
        forced_bos_token_id=draw(st.none() | st.integers(0, config["vocab_size"] - 1)),
        seed=draw(st.integers(0, 3)),
    )  # fmt: skip


# --- one example --------------------------------------------------------------------------------


def transformers_model(config: dict, seed: int):
    """transformers' model with its own initialisation under ``seed``, in float64 (as
    ``parity.transformers_oracle.random_model`` draws it, without minis2t's half, which
    may refuse the config)."""
    torch.manual_seed(seed)
    return Speech2TextForConditionalGeneration_hf(Speech2TextConfig_hf(**config)).eval().double()


def build(config: dict, seed: int, directory):
    """transformers' model (float64) and minis2t.hf's, loaded from what transformers saved;
    or the typed refusal minis2t raised."""
    hf = transformers_model(config, seed)
    hf.save_pretrained(directory)
    try:
        ours = Speech2TextForConditionalGeneration.from_pretrained(directory, dtype=np.float64)
    except errors.MiniS2TError as e:
        return hf, None, e
    # the libraries' float32 position tables differ by ulps: hand minis2t transformers' own
    ours._s2t.positions = {"encoder": transformers_table(hf.model.encoder.embed_positions),
                           "decoder": transformers_table(hf.model.decoder.embed_positions)}  # fmt: skip
    return hf, ours, None


def transformers_table(module) -> np.ndarray:
    """transformers' sinusoidal table, float64, with every row its forward can reach:
    positions run from ``pad + 1`` to ``pad + num_positions`` (transformers grows its
    table to ``pad + 1 + length + 2`` rows when ``pad_token_id`` is large)."""
    rows = max(module.num_positions, module.padding_idx + 1 + module.num_positions) + module.offset
    return module.get_embedding(rows, module.embedding_dim, module.padding_idx).double().numpy()


def check_example(config: dict, x: dict, last_hidden_state_too: bool) -> None:
    try:
        transformers_model(config, x["seed"])
    except (ValueError, IndexError, KeyError, RuntimeError):
        # not a config transformers can build (a pad_token_id past its position tables'
        # rows, say): nothing to be equal to, and minis2t refuses it rather than run it
        LARGEST[SPACE[0]]["transformers refused"] = LARGEST[SPACE[0]].get("transformers refused", 0) + 1
        with pytest.raises(errors.MiniS2TError):
            minis2t.ModelConfig.from_dict(Speech2TextConfig_hf(**config).to_dict())
        return
    with tempfile.TemporaryDirectory() as directory:
        hf, ours, refusal = build(config, x["seed"], directory)
    LARGEST[SPACE[0]]["examples"] += 1
    refused_fields = expected_refusals(config)
    if refused_fields or refusal is not None:
        assert refusal is not None, f"minis2t should refuse {refused_fields}"
        assert isinstance(refusal, (errors.ConfigError, errors.UnsupportedError)), refusal
        assert any(f"'{name}'" in str(refusal) for name in refused_fields), (refused_fields, str(refusal))
        LARGEST[SPACE[0]]["refused"] += 1
        return
    t = torch.from_numpy
    with torch.no_grad():
        decoder_mask = x.get("decoder_attention_mask")
        theirs = hf(input_features=t(x["features"]), attention_mask=t(x["mask"]), decoder_input_ids=t(x["ids"]),
                    decoder_attention_mask=None if decoder_mask is None else t(decoder_mask),
                    labels=t(x["labels"]), output_hidden_states=True, output_attentions=True, use_cache=True)  # fmt: skip
    out = ours(x["features"], attention_mask=x["mask"], decoder_input_ids=x["ids"], labels=x["labels"],
               decoder_attention_mask=decoder_mask, output_hidden_states=True, output_attentions=True,
               use_cache=True)  # fmt: skip

    assert rel_diff(out.logits, theirs.logits) <= BAR
    if not np.isnan(float(theirs.loss)):  # every label -100: NaN in both, compared in test_hf
        assert abs(out.loss - float(theirs.loss)) <= BAR * max(1.0, abs(float(theirs.loss)))
    assert rel_diff(out.encoder_last_hidden_state, theirs.encoder_last_hidden_state) <= BAR
    for side in ("encoder", "decoder"):
        ours_h, theirs_h = out[f"{side}_hidden_states"], theirs[f"{side}_hidden_states"]
        assert len(ours_h) == len(theirs_h)
        last = len(theirs_h) if last_hidden_state_too else len(theirs_h) - 1
        for a, b in zip(ours_h[:last], theirs_h[:last]):
            assert rel_diff(a, b) <= BAR
    for name in ("encoder_attentions", "decoder_attentions", "cross_attentions"):
        assert len(out[name]) == len(theirs[name])
        for a, b in zip(out[name], theirs[name]):
            assert rel_diff(a, b) <= BAR
    for ours_layer, theirs_layer in zip(out.past_key_values, cache_from_transformers(theirs.cache),
                                        strict=True):  # fmt: skip
        for a, b in zip(ours_layer, theirs_layer, strict=True):
            assert rel_diff(a, b) <= BAR

    options = dict(num_beams=x["num_beams"], max_length=x["max_length"], forced_bos_token_id=x["forced_bos_token_id"])
    try:
        with torch.no_grad():
            expected = hf.generate(input_features=t(x["features"]), attention_mask=t(x["mask"]), **options).numpy()
    except IndexError:  # transformers' cached positions ran past its table (a large pad_token_id)
        LARGEST[SPACE[0]]["transformers refused"] = LARGEST[SPACE[0]].get("transformers refused", 0) + 1
        return
    got = ours.generate(inputs=x["features"], attention_mask=x["mask"], **options)
    np.testing.assert_array_equal(got, expected)


@st.composite
def examples(draw, whole: bool):
    config = draw(configs(whole))
    return config, draw(inputs(config))


@pytest.mark.parametrize("space", [
    "whole",
    "without the three known differences",
])  # fmt: skip
@settings(max_examples=EXAMPLES, phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: slow
@given(data=st.data())
def test_every_config_is_equal_to_transformers_or_refused(space, data):
    whole = space == "whole"
    SPACE[0] = space
    LARGEST.setdefault(space, {"examples": 0, "refused": 0, "max_rel_diff": 0.0})
    try:
        config, x = data.draw(examples(whole))
        check_example(config, x, last_hidden_state_too=whole)
    finally:
        SPACE[0] = "whole"


# --- the three differences minis2t once had, one test each -------------------------------------

SMALL = dict(vocab_size=20, d_model=8, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
             decoder_attention_heads=2, encoder_ffn_dim=12, decoder_ffn_dim=12, conv_channels=8,
             input_feat_per_channel=8, max_source_positions=32, max_target_positions=16, init_std=0.5)  # fmt: skip


def small_example(**overrides):
    config = {**SMALL, **overrides}
    rng = np.random.default_rng(0)
    x = dict(features=rng.standard_normal((2, 20, 8)), mask=np.ones((2, 20), np.int64),
             ids=np.array([[2, 5, 6, 7], [2, 8, 9, 9]]), labels=rng.integers(0, 20, (2, 4)),
             num_beams=1, max_length=8, forced_bos_token_id=None, seed=0)  # fmt: skip
    x["mask"][1, 15:] = 0
    return config, x


@pytest.mark.parametrize("pad", [0, 3])
def test_pad_token_id_other_than_1_gives_transformers_positions(pad):
    config, x = small_example(pad_token_id=pad)
    x["ids"][1, 3] = pad
    check_example(config, x, last_hidden_state_too=False)


def test_last_hidden_states_are_after_the_final_layer_norm():
    config, x = small_example()
    check_example(config, x, last_hidden_state_too=True)


def first_tokens(config: dict, x: dict, num_beams: int) -> np.ndarray:
    hf = transformers_model(config, x["seed"])
    with torch.no_grad():
        return hf.generate(input_features=torch.from_numpy(x["features"]), num_beams=num_beams,
                           attention_mask=torch.from_numpy(x["mask"]), max_length=8).numpy()  # fmt: skip


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generation_stops_on_every_id_of_an_eos_list(num_beams):
    """The second id of the list is a token transformers' search produces with one stop id:
    with the list, transformers stops there, and minis2t must too."""
    config, x = small_example()
    produced = first_tokens(config, x, num_beams)[0, 1:]
    stop = int(next(t for t in produced if t != config.get("eos_token_id", 2)))
    config["eos_token_id"] = [2, stop]
    x["num_beams"] = num_beams
    check_example(config, x, last_hidden_state_too=False)


def test_report_the_largest_difference(capsys):
    """How many configs were drawn and the largest difference seen, printed; every space
    that ran drew examples and stayed within the bar."""
    ran = {space: tally for space, tally in LARGEST.items() if tally["examples"]}
    assert all(tally["max_rel_diff"] <= BAR for tally in ran.values()), ran
    with capsys.disabled():
        for space, tally in ran.items():
            print(f"\nminis2t.hf vs transformers, {space}: {tally['examples']} configs drawn, {tally['refused']} "
                  f"refused by name, largest relative difference {tally['max_rel_diff']:.2e} (bar {BAR:.0e}); "
                  f"{tally.get('transformers refused', 0)} more that transformers itself cannot build")  # fmt: skip

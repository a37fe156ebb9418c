"""minis2t.hf, call by call, against transformers (the oracle) on the same files.

The examples of docs/hf.md run as written, then again through transformers; the cache
continues step by step; the tokenizer's and the feature extractor's methods and call
options give transformers' results or a typed refusal. Config-space parity is in
tests/test_hf_configs.py.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import sentencepiece
import torch
import transformers

import minis2t
from minis2t import errors
from minis2t.io.checkpoint import BUNDLED_MODELS
from minis2t.io.config import GenerationConfig, ModelConfig
from minis2t.hf import (
    Speech2TextConfig,
    Speech2TextFeatureExtractor,
    Speech2TextForConditionalGeneration,
    Speech2TextModel,
    Speech2TextProcessor,
    Speech2TextTokenizer,
    cache_from_transformers,
)
from parity import bars
from tests.test_hf_configs import SMALL, rel_diff, transformers_model, transformers_table

ROOT = Path(__file__).parent.parent
ASR, ST = BUNDLED_MODELS["bundled-asr"], BUNDLED_MODELS["bundled-st"]
HF64, HF32 = bars.MODEL_TRANSFORMERS["float64"], bars.MODEL_TRANSFORMERS["float32"]


# --- the examples of docs/hf.md ---------------------------------------------------------------


def example_blocks() -> list[str]:
    page = (ROOT / "docs" / "hf.md").read_text()
    section = page.split("## The Hugging Face examples, with minis2t.hf")[1].split("\n## ")[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def as_transformers(code: str) -> str:
    """The same code for transformers: its classes, torch tensors, the bundled directories."""
    code = code.replace("from minis2t.hf import", "from transformers import")
    code = code.replace('return_tensors="np"', 'return_tensors="pt"')
    code = code.replace("np.array([[1, 1]])", "torch.tensor([[1, 1]])")
    code = code.replace('"bundled-asr"', repr(str(ASR))).replace('"bundled-st"', repr(str(ST)))
    return "import torch\n" + code


def test_the_hugging_face_examples_run_as_written_and_give_transformers_results():
    blocks = example_blocks()
    assert len(blocks) >= 8
    ours: dict = {}
    for block in blocks:
        exec(compile(block, "docs/hf.md", "exec"), ours)  # noqa: S102
    theirs: dict = {}
    for block in blocks:
        exec(compile(as_transformers(block), "docs/hf.md (transformers)", "exec"), theirs)  # noqa: S102
    for name in ("transcription", "card_transcription", "batch_transcription", "translation"):
        assert ours[name] == theirs[name], name
    assert ours["transcription"][0]  # the bundled model hears words in its test recording
    assert rel_diff(ours["last_hidden_state"], theirs["last_hidden_state"]) <= HF32
    their_loss = theirs["loss"].detach().item()
    assert abs(ours["loss"] - their_loss) <= HF32 * max(1.0, abs(their_loss))
    assert ours["configuration"].to_dict()["d_model"] == theirs["configuration"].d_model
    assert ours["random_model"].num_parameters() == theirs["random_model"].num_parameters()


# --- the cache and encoder outputs through the front door -----------------------------------------


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A small random model in transformers (float64) and minis2t.hf, one batch."""
    directory = tmp_path_factory.mktemp("pair")
    hf = transformers_model({**SMALL, "tie_word_embeddings": False}, seed=4)
    hf.save_pretrained(directory)
    ours = Speech2TextForConditionalGeneration.from_pretrained(directory, dtype=np.float64)
    ours._s2t.positions = {"encoder": transformers_table(hf.model.encoder.embed_positions),
                           "decoder": transformers_table(hf.model.decoder.embed_positions)}  # fmt: skip
    rng = np.random.default_rng(3)
    features = rng.standard_normal((2, 24, 8))
    mask = np.ones((2, 24), np.int64)
    mask[1, 17:] = 0
    features[1, 17:] = 0
    ids = np.array([[2, 5, 6, 7, 8, 9], [2, 11, 12, 13, 14, 1]])
    return hf, ours, directory, features, mask, ids


def test_step_by_step_with_the_cache_equals_the_full_forward(pair):
    _, ours, _, features, mask, ids = pair
    full = ours(features, attention_mask=mask, decoder_input_ids=ids)
    encoder = ours.get_encoder()(features, attention_mask=mask)
    past, steps = None, []
    for i in range(ids.shape[1]):
        out = ours(attention_mask=mask, encoder_outputs=encoder, decoder_input_ids=ids[:, i : i + 1],
                   past_key_values=past, use_cache=True)  # fmt: skip
        past = out.past_key_values
        steps.append(out.logits)
    # the same sums in other shapes: float64 rounding, a few hundred operations deep
    assert np.abs(np.concatenate(steps, axis=1) - full.logits).max() <= 1e-12 * max(1, np.abs(full.logits).max())
    for a, b in zip(past, full.past_key_values, strict=True):
        for x, y in zip(a, b, strict=True):
            assert x.shape == y.shape and np.abs(x - y).max() <= 1e-12 * max(1, np.abs(y).max())


def test_past_key_values_are_transformers_cache_contents(pair):
    """Ours equal transformers' per layer; transformers' cache continues in minis2t and
    gives transformers' next logits."""
    hf, ours, _, features, mask, ids = pair
    t = torch.from_numpy
    with torch.no_grad():
        first = hf(input_features=t(features), attention_mask=t(mask), decoder_input_ids=t(ids[:, :4]), use_cache=True)
        theirs_cache = cache_from_transformers(first.cache)
        second = hf(attention_mask=t(mask), encoder_outputs=(first.encoder_last_hidden_state,),
                    decoder_input_ids=t(ids[:, 4:]), cache=first.cache)  # fmt: skip
    out = ours(features, attention_mask=mask, decoder_input_ids=ids[:, :4])
    for a, b in zip(out.past_key_values, theirs_cache, strict=True):
        for x, y in zip(a, b, strict=True):
            assert isinstance(x, np.ndarray) and rel_diff(x, y) <= HF64
    cont = ours(attention_mask=mask, encoder_outputs=(out.encoder_last_hidden_state,),
                decoder_input_ids=ids[:, 4:], past_key_values=theirs_cache)  # fmt: skip
    assert rel_diff(cont.logits, second.logits) <= HF64
    assert len(cont.past_key_values[0][0][0, 0]) == ids.shape[1]  # the cache grew by two tokens


def test_generate_reuses_encoder_outputs_and_takes_a_generation_config(pair):
    hf, ours, _, features, mask, _ = pair
    encoder = ours.get_encoder()(features, attention_mask=mask)
    config = GenerationConfig(num_beams=3, max_length=7)
    got = ours.generate(encoder_outputs=encoder, attention_mask=mask, generation_config=config)
    with torch.no_grad():
        expected = hf.generate(input_features=torch.from_numpy(features), attention_mask=torch.from_numpy(mask),
                               num_beams=3, max_length=7).numpy()  # fmt: skip
    np.testing.assert_array_equal(got, expected)
    out = ours.generate(features, attention_mask=mask, num_beams=3, max_length=7, return_dict_in_generate=True)
    np.testing.assert_array_equal(out.sequences, expected)
    assert out.sequences_scores.shape == (2,)


def test_outputs_read_like_transformers(pair):
    _, ours, _, features, mask, ids = pair
    out = ours(features, attention_mask=mask, decoder_input_ids=ids)
    assert out[0] is out.logits and out.loss is None and out.cache is out.past_key_values
    with pytest.raises(AttributeError):
        out.logit  # a typo is not a None
    assert isinstance(ours(features, decoder_input_ids=ids, return_dict=False), tuple)
    assert ours(features, decoder_input_ids=ids, use_cache=False).past_key_values is None


def test_saved_model_reads_back_in_transformers(pair, tmp_path):
    _, ours, _, features, mask, ids = pair
    ours.save_pretrained(tmp_path)
    back = transformers.Speech2TextForConditionalGeneration.from_pretrained(tmp_path).double().eval()
    with torch.no_grad():
        theirs = back(input_features=torch.from_numpy(features), attention_mask=torch.from_numpy(mask),
                      decoder_input_ids=torch.from_numpy(ids))  # fmt: skip
    # transformers recomputes its position tables: float32 ulps apart from ours (test_model)
    assert rel_diff(ours(features, attention_mask=mask, decoder_input_ids=ids).logits, theirs.logits) <= HF32


def test_bare_model_gives_the_decoders_last_hidden_state(pair):
    hf, ours, directory, features, mask, ids = pair
    bare = Speech2TextModel.from_pretrained(directory, dtype=np.float64)
    bare._s2t.positions = ours._s2t.positions
    with torch.no_grad():
        theirs = transformers.Speech2TextModel.from_pretrained(directory).double().eval()(
            input_features=torch.from_numpy(features), attention_mask=torch.from_numpy(mask),
            decoder_input_ids=torch.from_numpy(ids))  # fmt: skip
    # transformers' bare model recomputes its tables in float32: compare at that bar
    out = bare(features, attention_mask=mask, decoder_input_ids=ids)
    assert rel_diff(out.last_hidden_state, theirs.last_hidden_state) <= HF32
    with pytest.raises(errors.ModelInputError, match="labels"):
        bare(features, decoder_input_ids=ids, labels=ids)
    with pytest.raises(errors.UnsupportedError):
        bare.generate(features)


def test_what_minis2t_does_not_run_is_refused_by_name(pair):
    _, ours, _, features, mask, ids = pair
    with pytest.raises(errors.UnsupportedError, match="decoder_inputs_embeds"):
        ours(features, decoder_inputs_embeds=np.zeros((2, 3, 8)))
    with pytest.raises(errors.ModelInputError, match="head_mask"):
        ours(features, decoder_input_ids=ids, head_mask=None)
    for option in ({"do_sample": True}, {"num_return_sequences": 2}, {"repetition_penalty": 1.2}):
        with pytest.raises(errors.UnsupportedError, match=next(iter(option))):
            ours.generate(features, **option)
    with pytest.raises(errors.ConfigError, match="no_such_option"):
        ours.generate(features, no_such_option=1)
    with pytest.raises(errors.UnsupportedError, match="device_map"):
        Speech2TextForConditionalGeneration.from_pretrained("bundled-asr", device_map="auto")


# --- config -------------------------------------------------------------------------------------------


def test_an_eos_list_in_generation_config_json_is_kept_whole(tmp_path):
    """It used to keep its first id only."""
    shutil.copytree(ASR, tmp_path / "m")
    path = tmp_path / "m" / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "eos_token_id": [2, 7]}))
    config = GenerationConfig.from_pretrained(tmp_path / "m")
    assert config.eos_token_id == 2 and config.eos_token_ids == (2, 7)
    assert json.loads(json.dumps(config.to_dict()))["eos_token_id"] == [2, 7]
    assert ModelConfig.from_dict({"eos_token_id": [2, 9]}).to_dict()["eos_token_id"] == [2, 9]
    model = minis2t.Speech2Text.from_pretrained(tmp_path / "m")
    with pytest.raises(errors.ConfigError, match="fairseq"):  # one stop id only there: refused
        model.generate(np.zeros((1, 50, 80), np.float32), search="fairseq")


def test_config_reads_and_writes_like_transformers(tmp_path):
    ours = Speech2TextConfig.from_pretrained("bundled-st")
    theirs = transformers.Speech2TextConfig.from_pretrained(ST)
    for name, value in theirs.to_dict().items():
        if hasattr(ours, name) and name not in ("architectures", "model_type"):
            assert getattr(ours, name) == (tuple(value) if isinstance(value, list) else value), name
    assert ours.hidden_size == theirs.hidden_size and ours.num_hidden_layers == theirs.num_hidden_layers
    ours.save_pretrained(tmp_path)
    assert transformers.Speech2TextConfig.from_pretrained(tmp_path).to_dict()["d_model"] == theirs.d_model
    # one conv layer: transformers never reads conv_channels, so an odd one is fine
    assert Speech2TextConfig(num_conv_layers=1, conv_kernel_sizes=[3], conv_channels=5).conv_channels == 5
    with pytest.raises(errors.ConfigError, match="'activation_function'"):
        Speech2TextConfig(activation_function="tanh")
    with pytest.raises(errors.UnsupportedError, match="'dtype'"):
        Speech2TextConfig(dtype="bfloat16")


# --- tokenizer ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["bundled-asr", "bundled-st"])
def tokenizers(request):
    ours = Speech2TextTokenizer.from_pretrained(request.param)
    theirs = transformers.Speech2TextTokenizer.from_pretrained(BUNDLED_MODELS[request.param])
    return ours, theirs


def test_tokenizer_special_token_methods_equal_transformers(tokenizers):
    ours, theirs = tokenizers
    a, b = ours.encode("turn on the lights", add_special_tokens=False), [5, 6, 7]
    for args in ((a,), (a, b)):
        assert ours.build_inputs_with_special_tokens(*args) == theirs.build_inputs_with_special_tokens(*args)
        assert ours.get_special_tokens_mask(*args) == theirs.get_special_tokens_mask(*args)
        assert (ours.create_token_type_ids_from_sequences(*args)
                == theirs.create_token_type_ids_from_sequences(*args))  # fmt: skip
    full = ours.build_inputs_with_special_tokens(a)
    assert (ours.get_special_tokens_mask(full, already_has_special_tokens=True)
            == theirs.get_special_tokens_mask(full, already_has_special_tokens=True))  # fmt: skip


def test_tokenizer_call_options_equal_transformers(tokenizers):
    ours, theirs = tokenizers
    texts = ["turn on the lights", "set a timer for five minutes please"]
    for options in ({}, {"padding": True}, {"padding": "max_length", "max_length": 16},
                    {"truncation": True, "max_length": 4}, {"return_attention_mask": False},
                    {"padding": True, "return_tensors": "np"}):  # fmt: skip
        for text in (texts, texts[0]):
            got, expected = ours(text, **options), theirs(text, **options)
            assert set(got) == set(expected), options
            for key in got:
                assert isinstance(got[key], np.ndarray) == isinstance(expected[key], np.ndarray)
                a, b = (x.tolist() if isinstance(x, np.ndarray) else x for x in (got[key], expected[key]))
                assert a == b, (options, key)
    with pytest.raises(errors.UnsupportedError, match="'pt'"):
        ours(texts, return_tensors="pt")
    with pytest.raises(errors.TokenizerError, match="return_offsets_mapping"):
        ours(texts, return_offsets_mapping=True)


def test_tokenizer_targets_pairs_and_decode_options(tokenizers):
    ours, theirs = tokenizers
    for kwargs in ({"text": "turn on", "text_target": "the lights"}, {"text_target": "the lights"}):
        assert dict(ours(**kwargs)) == dict(theirs(**kwargs))
    assert ours("turn on").input_ids == theirs("turn on").input_ids
    with pytest.raises(errors.UnsupportedError, match="text_pair"):
        ours("turn on", "the lights")  # transformers' second argument is a pair, not a flag
    ids = ours.build_inputs_with_special_tokens(ours.encode("turn on the lights", add_special_tokens=False))
    assert ours.batch_decode([ids], clean_up_tokenization_spaces=False) == theirs.batch_decode(
        [ids], clean_up_tokenization_spaces=False)  # fmt: skip
    with pytest.raises(errors.UnsupportedError, match="clean_up_tokenization_spaces"):
        ours.decode(ids, clean_up_tokenization_spaces=True)
    with pytest.raises(errors.TokenizerError, match="spaces_between_special_tokens"):
        ours.decode(ids, spaces_between_special_tokens=False)


def test_save_vocabulary_writes_transformers_files(tokenizers, tmp_path):
    ours, theirs = tokenizers
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = ours.save_vocabulary(tmp_path / "a", filename_prefix="x")
    expected = theirs.save_vocabulary(str(tmp_path / "b"), filename_prefix="x")
    assert [Path(p).name for p in paths] == [Path(p).name for p in expected]
    assert json.loads(Path(paths[0]).read_text()) == json.loads(Path(expected[0]).read_text())
    assert Path(paths[1]).read_bytes() == Path(expected[1]).read_bytes()
    with pytest.raises(errors.TokenizerError):
        ours.save_vocabulary(tmp_path / "missing")


def test_sp_model_kwargs_sample_subwords_as_transformers():
    kwargs = {"enable_sampling": True, "nbest_size": -1, "alpha": 0.5}
    ours = Speech2TextTokenizer.from_pretrained("bundled-asr", sp_model_kwargs=kwargs)
    theirs = transformers.Speech2TextTokenizer.from_pretrained(ASR, sp_model_kwargs=kwargs)
    text = "remind me to pay the bills at nine forty five"
    draws = []
    for tokenizer in (ours, theirs):
        sentencepiece.set_random_generator_seed(7)
        draws.append([tokenizer.tokenize(text) for _ in range(20)])
    assert draws[0] == draws[1]
    assert len({tuple(d) for d in draws[0]}) > 1  # sampling happened
    with pytest.raises(errors.TokenizerError, match="sp_model_kwargs"):
        Speech2TextTokenizer.from_pretrained("bundled-asr", sp_model_kwargs={"no_such": 1})


def test_tokenizer_from_its_two_files():
    ours = Speech2TextTokenizer(ST / "vocab.json", ST / "sentencepiece.bpe.model", lang_codes="mustc", tgt_lang="de")
    theirs = transformers.Speech2TextTokenizer(str(ST / "vocab.json"), str(ST / "sentencepiece.bpe.model"),
                                               lang_codes="mustc", tgt_lang="de")  # fmt: skip
    assert ours("guten tag")["input_ids"] == theirs("guten tag")["input_ids"]
    assert ours.lang_code_to_id == theirs.lang_code_to_id and ours.prefix_tokens == theirs.prefix_tokens
    with pytest.raises(errors.UnsupportedError, match="eos_token"):
        Speech2TextTokenizer(ST / "vocab.json", ST / "sentencepiece.bpe.model", eos_token="<end>")


# --- feature extractor and processor ---------------------------------------------------------------


def waves():
    rng = np.random.default_rng(0)
    return [rng.uniform(-0.3, 0.3, 16000).astype(np.float32), rng.uniform(-0.3, 0.3, 9000).astype(np.float32)]


def test_feature_extractor_call_options_equal_transformers():
    ours = Speech2TextFeatureExtractor.from_pretrained("bundled-asr")
    theirs = transformers.Speech2TextFeatureExtractor.from_pretrained(ASR)
    for options in ({}, {"padding": True}, {"padding": True, "return_tensors": "np"},
                    {"padding": "max_length", "max_length": 120, "truncation": True, "return_tensors": "np"}):  # fmt: skip
        got, expected = ours(waves(), sampling_rate=16000, **options), theirs(waves(), sampling_rate=16000, **options)
        assert set(got) == set(expected), options
        for key in got:
            a, b = got[key], expected[key]
            assert type(a) is type(b) or (isinstance(a, list) and isinstance(b, list)), (options, key)
            for x, y in zip(a, b, strict=True):
                assert np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).max() <= bars.HF_FEATURES_MAX


def test_feature_extractor_honours_or_refuses_every_call_option():
    """Each of these was silently ignored before. (transformers 5.25 itself fails on
    padding=True with return_attention_mask=False, a TypeError in its CMVN.)"""
    extractor = minis2t.FeatureExtractor.from_pretrained(ASR)
    assert "attention_mask" not in extractor(waves(), return_attention_mask=False)
    assert "attention_mask" in extractor(waves(), return_attention_mask=True)
    with pytest.raises(errors.UnsupportedError, match="'pt'"):
        extractor(waves(), return_tensors="pt")
    with pytest.raises(errors.FeatureError, match="paddding"):
        extractor(waves(), paddding=True)
    assert isinstance(extractor(waves(), return_tensors="np")["input_features"], np.ndarray)


def test_processor_gives_labels_with_text_and_decodes():
    ours = Speech2TextProcessor.from_pretrained("bundled-st")
    theirs = transformers.Speech2TextProcessor.from_pretrained(ST)
    got = ours(waves()[0], sampling_rate=16000, text="bonjour", return_tensors="np")
    expected = theirs(waves()[0], sampling_rate=16000, text="bonjour", return_tensors="np")
    assert np.array_equal(got["labels"], expected["labels"])
    assert ours.batch_decode(got["labels"]) == theirs.batch_decode(expected["labels"])
    with pytest.raises(errors.FeatureError):
        ours()
    with pytest.raises(errors.UnsupportedError, match="do_lower_case"):
        Speech2TextProcessor.from_pretrained("bundled-st", do_lower_case=True)
    with pytest.raises(errors.FeatureError, match="num_mel_binz"):
        Speech2TextFeatureExtractor.from_pretrained("bundled-st", num_mel_binz=40)

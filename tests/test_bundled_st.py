"""The translation model shipped with the package (``bundled-st``): English speech into
French, German and Spanish, in MuST-C's multilingual layout, equal to transformers."""

import json

import numpy as np
import pytest
import torch
from transformers import Speech2TextForConditionalGeneration, Speech2TextTokenizer

import minis2t
import parity.generate as tg
import parity.model as tm
from minis2t.io.checkpoint import BUNDLED_MODELS
from minis2t.app.cli import main
from minis2t.errors import UnknownLanguageError
from parity import bars

MODEL = BUNDLED_MODELS["bundled-st"]
SAMPLES = MODEL.parent / "samples_st"
REFERENCES = json.loads((SAMPLES / "references.json").read_text())
LANGUAGES = ("fr", "de", "es")


@pytest.fixture(scope="module")
def model():
    return minis2t.Speech2Text.from_pretrained("bundled-st")


def test_the_reserved_names_load_the_bundled_models(model):
    assert minis2t.Speech2Text.from_pretrained("bundled-asr").config == minis2t.Speech2Text.from_pretrained().config
    assert model.tokenizer.lang_codes == "mustc" and sorted(model.languages) == sorted(LANGUAGES)
    size = sum(p.stat().st_size for p in MODEL.iterdir())
    assert size <= 10 * 10**6  # the "10 MB on disk", the whole directory
    assert 2 <= len(REFERENCES) <= 3 and all(set(r["translations"]) == set(LANGUAGES) for r in REFERENCES)


def test_every_sample_is_translated_into_every_language(model):
    waves = [minis2t.load_audio(SAMPLES / r["file"]) for r in REFERENCES]
    for lang in LANGUAGES:
        assert model.transcribe(waves, language=lang) == [r["translations"][lang] for r in REFERENCES]


def test_the_twin_translates_the_same(model):
    batch = model.feature_extractor([minis2t.load_audio(SAMPLES / r["file"]) for r in REFERENCES])
    params = tm.to_torch(model.weights)
    for lang in LANGUAGES:
        forced = model.tokenizer.language_id(lang)
        ours = model.generate(batch["input_features"], batch["attention_mask"], forced_bos_token_id=forced)
        twin = tg.generate(params, model.config, torch.from_numpy(batch["input_features"]),
                           torch.from_numpy(batch["attention_mask"]),
                           model.generation_config.replace(forced_bos_token_id=forced)).sequences.numpy()  # fmt: skip
        np.testing.assert_array_equal(ours, twin)


def test_transformers_reads_it_and_agrees(model):
    """transformers loads the directory as it loads the released multilingual models:
    its tokenizer finds the language codes, its logits match, and its generate with
    forced_bos_token_id gives the same tokens."""
    hf = Speech2TextForConditionalGeneration.from_pretrained(MODEL).eval()
    tokenizer = Speech2TextTokenizer.from_pretrained(MODEL)
    batch = model.feature_extractor([minis2t.load_audio(SAMPLES / r["file"]) for r in REFERENCES])
    x, mask = torch.from_numpy(batch["input_features"]), torch.from_numpy(batch["attention_mask"])
    for lang in LANGUAGES:
        forced = model.tokenizer.language_id(lang)
        assert tokenizer.lang_code_to_id[lang] == forced
        ours = model.generate(batch["input_features"], batch["attention_mask"], forced_bos_token_id=forced)
        with torch.no_grad():
            theirs = hf.generate(input_features=x, attention_mask=mask, forced_bos_token_id=forced,
                                 num_beams=model.generation_config.num_beams,
                                 max_length=model.generation_config.max_length).numpy()  # fmt: skip
            logits = hf(input_features=x, attention_mask=mask, decoder_input_ids=torch.from_numpy(ours)).logits.numpy()
        width = min(ours.shape[1], theirs.shape[1])
        np.testing.assert_array_equal(ours[:, :width], theirs[:, :width])
        assert (ours[:, width:] == model.config.pad_token_id).all() and (theirs[:, width:] == model.config.pad_token_id).all()
        mine = model.forward(batch["input_features"], batch["attention_mask"], decoder_input_ids=ours)
        assert np.abs(mine - logits).max() <= bars.MODEL_TRANSFORMERS["float32"] * np.abs(logits).max()
        assert tokenizer.batch_decode(theirs, skip_special_tokens=True) == [r["translations"][lang] for r in REFERENCES]


def test_the_target_language_must_be_chosen(model, capsys):
    with pytest.raises(UnknownLanguageError, match="one of fr, es, de"):
        model.transcribe(SAMPLES / REFERENCES[0]["file"])
    with pytest.raises(UnknownLanguageError, match="not trained to produce 'it'"):
        model.transcribe(SAMPLES / REFERENCES[0]["file"], language="it")
    with pytest.raises(UnknownLanguageError, match="not trained to produce 'xx'; it translates into fr, es, de"):
        model.transcribe(SAMPLES / REFERENCES[0]["file"], language="xx")
    assert main(["transcribe", str(SAMPLES / REFERENCES[0]["file"]), "--model", "bundled-st"]) == 2
    assert "one of fr, es, de" in capsys.readouterr().err


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_command_translates(lang, capsys):
    path = SAMPLES / REFERENCES[0]["file"]
    assert main(["transcribe", str(path), "--model", "bundled-st", "--language", lang]) == 0
    assert capsys.readouterr().out.strip() == REFERENCES[0]["translations"][lang]


def test_demo_shows_a_translation(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "translation" in out and REFERENCES[0]["translations"]["de"] in out


def test_long_recordings_translate_segment_by_segment(model):
    """The sample recordings one after another with pauses: each segment is translated
    (word times included) — translated subtitles for a recording of any length."""
    pause = np.zeros(12000, np.float32)
    audio = np.concatenate([x for r in REFERENCES for x in (pause, minis2t.load_audio(SAMPLES / r["file"]))] + [pause])
    result = model.transcribe_long(audio, language="es")
    assert [s["text"] for s in result["segments"]] == [r["translations"]["es"] for r in REFERENCES]
    assert all(" ".join(w["word"] for w in s["words"]) == s["text"] for s in result["segments"])

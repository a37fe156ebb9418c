"""minis2t.Tokenizer against transformers.Speech2TextTokenizer on the same files."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformers import Speech2TextTokenizer

import minis2t
from minis2t import errors
from tests.builders import train_sentencepiece, write_tokenizer_files
from tests.conftest import RECORDINGS

MUSTC = ["pt", "fr", "ru", "nl", "ro", "it", "es", "de"]


@pytest.fixture(scope="module")
def mono_dir(tmp_path_factory):
    return write_tokenizer_files(tmp_path_factory.mktemp("mono"), train_sentencepiece())


@pytest.fixture(scope="module")
def multi_dir(tmp_path_factory):
    proto = train_sentencepiece(lang_codes=MUSTC)
    return write_tokenizer_files(tmp_path_factory.mktemp("multi"), proto, lang_codes="mustc",
                                 do_upper_case=True)  # fmt: skip


@pytest.fixture(scope="module")
def holey_dir(tmp_path_factory):
    """vocab.json lacks two pieces SentencePiece produces: they must become <unk>."""
    return write_tokenizer_files(tmp_path_factory.mktemp("holey"), train_sentencepiece(),
                                 drop_pieces=("▁the", "e"))  # fmt: skip


def pair(directory, **kwargs):
    return (minis2t.Tokenizer.from_pretrained(directory),
            Speech2TextTokenizer.from_pretrained(directory, **kwargs))  # fmt: skip


def assert_same(ours, theirs, text):
    ids = ours.encode(text)
    assert ids == theirs(text).input_ids, text
    assert ours.tokenize(text) == theirs.tokenize(text)
    for skip in (False, True):
        assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(
            ids, skip_special_tokens=skip), (text, skip)  # fmt: skip


TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Co", "Cn")),
        st.sampled_from(list(" \t\n  0123456789.,;:!?'\"-()abcdefghijklmnopqrstuvwxyz")),
    ),
    max_size=60,
)


@given(text=TEXT)
def test_hypothesis_text_monolingual(mono_dir, text):
    assert_same(*pair(mono_dir), text)


@given(text=TEXT, lang=st.sampled_from(MUSTC))
def test_hypothesis_text_multilingual(multi_dir, text, lang):
    ours, theirs = pair(multi_dir)
    ours.tgt_lang = lang
    theirs.tgt_lang = lang
    assert ours.encode(text)[0] == ours.language_id(lang)
    assert_same(ours, theirs, text)


@pytest.mark.parametrize("row", RECORDINGS, ids=[r["file"] for r in RECORDINGS])
def test_manifest_transcripts(mono_dir, holey_dir, row):
    for directory in (mono_dir, holey_dir):
        assert_same(*pair(directory), row["transcript"])


def test_missing_pieces_become_unk(holey_dir):
    ours, theirs = pair(holey_dir)
    ids = ours.encode("the end")
    assert ours.unk_token_id in ids
    assert ids == theirs("the end").input_ids


def test_special_tokens_in_text_stay_whole(mono_dir, multi_dir):
    for text in ("hello </s> world", "<s>x<pad>", "a<unk>b", "<lang:fr> bonjour", "<<s>>"):
        assert_same(*pair(mono_dir), text)
        assert_same(*pair(multi_dir), text)


def test_decoding_with_specials_and_unknown_ids(multi_dir):
    ours, theirs = pair(multi_dir)
    body = ours.encode("the middle classes", add_special_tokens=False)
    ids = [2, ours.language_id("fr"), *body, 3, *body, 2, 1, 1, 10_000]
    for skip in (False, True):
        assert ours.decode(ids, skip) == theirs.decode(ids, skip_special_tokens=skip)
    batch = [ids, ids[:5]]
    assert ours.batch_decode(batch, True) == theirs.batch_decode(batch, skip_special_tokens=True)
    # Skipping works on ids: the unknown id 10000 decodes to the string "<unk>", which stays.
    assert ours.decode(ids, skip_special_tokens=True) == "THE MIDDLE CLASSES THE MIDDLE CLASSES<unk>"


def test_lower_case_follows_the_config_like_transformers_4(tmp_path):
    """transformers 5 no longer lower-cases input (it keeps "H" and maps it to <unk>); with
    the input lower-cased by hand the two agree, and that is what transformers 4 did."""
    d = write_tokenizer_files(tmp_path, train_sentencepiece(), do_lower_case=True)
    ours, theirs = pair(d)
    for text in ("Hello World", "MISTER QUILTER IS THE APOSTLE", "Ça Va"):
        assert ours.encode(text) == theirs(text.lower()).input_ids
        assert ours.encode(text) == ours.encode(text.lower())


def test_language_codes(multi_dir):
    ours, theirs = pair(multi_dir)
    assert ours.langs == MUSTC and ours.tgt_lang == "pt"
    assert ours.lang_code_to_id == theirs.lang_code_to_id
    with pytest.raises(errors.UnknownLanguageError, match="pt, fr, ru"):
        ours.tgt_lang = "xx"
    with pytest.raises(errors.UnknownLanguageError, match="monolingual"):
        minis2t.Tokenizer.from_pretrained(multi_dir.parent / multi_dir.name).__class__(
            {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}, ours.sp_model_proto, tgt_lang="fr")


def test_save_pretrained_round_trip(multi_dir, tmp_path):
    ours = minis2t.Tokenizer.from_pretrained(multi_dir)
    ours.tgt_lang = "de"
    ours.save_pretrained(tmp_path)
    assert (tmp_path / "vocab.json").read_bytes() != b""
    assert json.loads((tmp_path / "vocab.json").read_text()) == ours.vocab
    assert (tmp_path / "sentencepiece.bpe.model").read_bytes() == ours.sp_model_proto
    back = minis2t.Tokenizer.from_pretrained(tmp_path)
    theirs = Speech2TextTokenizer.from_pretrained(tmp_path)
    assert back.tgt_lang == theirs.tgt_lang == "de"
    assert back.do_upper_case and theirs.do_upper_case
    for text in ("the middle classes", "welcome"):
        assert back.encode(text) == theirs(text).input_ids == ours.encode(text)


def test_reads_what_transformers_saves(multi_dir, tmp_path):
    theirs = Speech2TextTokenizer.from_pretrained(multi_dir)
    theirs.save_pretrained(tmp_path)
    ours = minis2t.Tokenizer.from_pretrained(tmp_path)
    assert ours.encode("glad to welcome") == theirs("glad to welcome").input_ids


def test_errors(tmp_path, mono_dir):
    with pytest.raises(errors.TokenizerError, match="vocab.json"):
        minis2t.Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text("{not json")
    (tmp_path / "sentencepiece.bpe.model").write_bytes(b"garbage")
    with pytest.raises(errors.TokenizerError, match="JSON"):
        minis2t.Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps({"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}))
    with pytest.raises(errors.TokenizerError, match="SentencePiece"):
        minis2t.Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps({"<s>": 1, "<pad>": 0, "</s>": 2, "<unk>": 3}))
    with pytest.raises(errors.TokenizerError, match="fairseq"):
        minis2t.Tokenizer.from_pretrained(tmp_path)
    with pytest.raises(errors.TokenizerError, match="str"):
        minis2t.Tokenizer.from_pretrained(mono_dir).encode(123)

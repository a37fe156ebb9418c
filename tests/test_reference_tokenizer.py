"""minis2t.reference.tokenizer (the unigram segmentation written out) against the
sentencepiece library, piece for piece, on the bundled vocabularies and on text they
never saw: user symbols, unknown characters, runs of odd whitespace."""

import json
from pathlib import Path

import pytest
import sentencepiece
from hypothesis import given
from hypothesis import strategies as st

from minis2t.reference.tokenizer import load_unigram

ASSETS = Path(__file__).parents[1] / "minis2t" / "assets"
VOCABULARIES = {"asr": ASSETS / "model", "st": ASSETS / "model_st"}
WHITESPACE = [" ", "  ", "\t", "\n", "\r\n", "\u3000", "\xa0", "\u2003", "\u2581", " \t \n "]


def load(name):
    path = VOCABULARIES[name] / "sentencepiece.bpe.model"
    return load_unigram(path), sentencepiece.SentencePieceProcessor(model_file=str(path))


MODELS = {name: load(name) for name in VOCABULARIES}


def words(name):
    refs = json.loads((ASSETS / ("samples" if name == "asr" else "samples_st") / "references.json").read_text())
    found = set()
    for ref in refs:
        for text in [ref["text"], *ref.get("translations", {}).values()]:
            found.update(text.split())
    return sorted(found)


def fragments(name):
    """Pieces of text: the vocabulary's own pieces (as text), words of the bundled sentences,
    user symbols, whitespace runs and any character at all (no lone surrogates: a Python
    str with one cannot be UTF-8, which the library needs)."""
    unigram, _ = MODELS[name]
    pieces = [p.replace("\u2581", " ") for p in unigram.pieces]
    return st.one_of(
        st.sampled_from(pieces),
        st.sampled_from(words(name)),
        st.sampled_from(WHITESPACE),
        st.characters(blacklist_categories=("Cs",)),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=4),
    )


def texts(name):
    return st.lists(fragments(name), max_size=12).map("".join)


@pytest.mark.parametrize("name", list(VOCABULARIES))
def test_the_bundled_sentences_segment_as_the_library_does(name):
    unigram, library = MODELS[name]
    for word_run in [" ".join(words(name))] + words(name):
        assert unigram.encode_as_pieces(word_run) == library.encode_as_pieces(word_run)


@pytest.mark.parametrize("name", list(VOCABULARIES))
def test_encode_equals_sentencepiece(name):
    unigram, library = MODELS[name]

    @given(texts(name))
    def check(text):
        pieces = unigram.encode_as_pieces(text)
        assert pieces == library.encode_as_pieces(text), repr(text)
        assert unigram.decode_pieces(pieces) == library.decode_pieces(pieces), repr(text)

    check()


@pytest.mark.parametrize("name", list(VOCABULARIES))
def test_decode_equals_sentencepiece(name):
    """Any list of pieces: the vocabulary's (control, unknown and user ones included) and
    strings it lacks, which decode as themselves."""
    unigram, library = MODELS[name]
    piece = st.one_of(st.sampled_from(unigram.pieces), st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=3))

    @given(st.lists(piece, max_size=10))
    def check(pieces):
        assert unigram.decode_pieces(pieces) == library.decode_pieces(pieces), pieces

    check()


def test_the_segmentation_is_the_best_path():
    """Not only the library's answer, but the optimum: the chosen pieces' scores sum to at
    least any other segmentation's, here enumerated exhaustively on a short word."""
    unigram, _ = MODELS["asr"]
    x = unigram.normalize("kitchen")
    chosen = unigram.viterbi(x)

    def all_paths(i):
        if i == len(x):
            yield []
        for j in range(i + 1, len(x) + 1):
            if x[i:j] in unigram.index:
                for rest in all_paths(j):
                    yield [unigram.index[x[i:j]], *rest]

    totals = [sum(float(unigram.scores[k]) for k in path) for path in all_paths(0)]
    best = sum(float(unigram.scores[k]) for _, _, k in chosen)
    assert len(totals) > 1 and best == pytest.approx(max(totals), abs=1e-4)
    assert "".join(x[s:e] for s, e, _ in chosen) == x

"""Word times from cross-attention (minis2t.app.timing) and where they are measured."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import minis2t
from minis2t.app import longform
from minis2t.app import timing
from minis2t.app.cli import BUNDLED_MODEL

SAMPLES = BUNDLED_MODEL.parent / "samples"
RESULTS = Path(__file__).resolve().parents[1] / "recipes" / "long_form" / "results"


def monotonic_paths(n: int, m: int):
    """Every path from (0, 0) to (n - 1, m - 1) by steps (1, 0), (0, 1), (1, 1)."""
    def walk(i, j):
        if (i, j) == (n - 1, m - 1):
            yield [(i, j)]
            return
        for di, dj in ((1, 1), (1, 0), (0, 1)):
            if i + di < n and j + dj < m:
                for rest in walk(i + di, j + dj):
                    yield [(i, j)] + rest
    yield from walk(0, 0)


@pytest.mark.parametrize("n, m", [(1, 1), (1, 5), (4, 1), (3, 4), (4, 6), (5, 5)])
@pytest.mark.parametrize("free_start", [False, True])
def test_dtw_finds_the_cheapest_monotonic_path(n, m, free_start):
    """Against every path, enumerated: the path dtw returns is one of them and none is
    cheaper (with ``free_start``, paths may begin at any column of the first row)."""
    for seed in range(5):
        cost = np.random.default_rng(seed).standard_normal((n, m))
        rows, cols = timing.dtw(cost, free_start)
        path = list(zip(rows.tolist(), cols.tolist()))
        every = list(monotonic_paths(n, m))
        if free_start:  # a path from (0, j) is what remains of one from (0, 0) along row 0
            every += [p[k:] for p in every for k in range(1, len(p)) if p[k][0] == 0]
        assert path in every
        best = min(sum(cost[i, j] for i, j in p) for p in every)
        assert sum(cost[i, j] for i, j in path) == pytest.approx(best, abs=1e-12)


def test_token_starts_follow_blocks_of_attention():
    """Three tokens that each attend to their own run of frames start where the run does."""
    matrix = np.zeros((3, 20))
    for k, (a, b) in enumerate([(0, 4), (4, 12), (12, 20)]):
        matrix[k, a:b] = 1.0
    np.testing.assert_array_equal(timing.token_starts(matrix), [0, 4, 12])


def test_pieces_group_into_words():
    assert timing.words_of(["\u2581call", "\u2581hen", "ry", "\u2581to", "day"]) == [[0], [1, 2], [3, 4]]
    assert timing.words_of(["ab", "\u2581c"]) == [[0], [1]]


@pytest.fixture(scope="module")
def model():
    return minis2t.Speech2Text.from_pretrained()


def test_words_spell_the_transcript_in_order(model):
    """On the bundled recordings: the words are the transcript's, their times ordered,
    inside the audio, and each word's probability a probability."""
    waves = [minis2t.load_audio(p) for p in sorted(SAMPLES.glob("*.wav"))]
    batch = model.feature_extractor(waves)
    states, mask = model.encode(batch["input_features"], batch["attention_mask"])
    sequences = model.generate(batch["input_features"], batch["attention_mask"], encoder_outputs=(states, mask))
    texts = model.tokenizer.batch_decode(sequences, skip_special_tokens=True)
    for wave, text, timed in zip(waves, texts, timing.word_timestamps(model, states, mask, sequences)):
        words = timed["words"]
        assert " ".join(w["word"] for w in words) == text
        bounds = [x for w in words for x in (w["start"], w["end"])]
        assert bounds == sorted(bounds) and bounds[0] >= 0 and bounds[-1] <= wave.shape[0] / 16000 + 0.04
        assert all(0 < w["probability"] <= 1 for w in words)
        assert -5 < timed["avg_logprob"] < 0


def test_generate_reuses_given_encoder_outputs(model):
    batch = model.feature_extractor([minis2t.load_audio(SAMPLES / "test_01.wav")])
    encoded = model.encode(batch["input_features"], batch["attention_mask"])
    np.testing.assert_array_equal(model.generate(batch["input_features"], batch["attention_mask"]),
                                  model.generate(None, encoder_outputs=encoded))  # fmt: skip


def test_sentences_close_together_are_not_joined(model):
    """Joining two real sentences is the costly mistake (the model then says one of
    them): each bundled recording followed 0.4 s later by the next comes back as two."""
    refs = json.loads((SAMPLES / "references.json").read_text())
    waves = [minis2t.load_audio(SAMPLES / r["file"]) for r in refs]
    pause = np.zeros(6400, np.float32)
    audio = np.concatenate([x for w in waves for x in (pause, w)] + [pause])
    result = model.transcribe_long(audio)
    assert [s["text"] for s in result["segments"]] == model.transcribe(waves)


def test_joined_audio_keeps_both_parts_at_their_places():
    rng = np.random.default_rng(0)
    a = longform.Segment(1.0, 1.5, rng.standard_normal(8000 + 240).astype(np.float32))
    b = longform.Segment(2.0, 2.5, rng.standard_normal(8000 + 240).astype(np.float32))
    joined = longform._joined_audio(a, b)
    np.testing.assert_array_equal(joined[: a.audio.shape[0]], a.audio)
    np.testing.assert_array_equal(joined[16000:], b.audio)  # b starts 1.0 s after a
    assert not joined[a.audio.shape[0] : 16000].any()
    close = longform.Segment(1.5, 2.0, b.audio)  # starts before a's audio ends (its last frame)
    joined = longform._joined_audio(a, close)
    assert joined.shape[0] == 8000 + close.audio.shape[0]
    np.testing.assert_array_equal(joined[8000:], close.audio)


def test_progress_reaches_the_end(model, tmp_path):
    import soundfile

    path = tmp_path / "three.wav"
    soundfile.write(path, np.concatenate([minis2t.load_audio(SAMPLES / "test_00.wav")] * 3), 16000)
    seen = []
    longform.transcribe_long(model, path, on_progress=seen.append, block_seconds=2.0)
    assert seen == sorted(seen) and len(seen) > 3
    assert seen[-1] == pytest.approx(soundfile.info(path).frames / 16000)


# --- the settings are the measured ones ---------------------------------------------------


def test_timing_settings_are_those_measured():
    """ROW_SHIFT, MEDIAN_WIDTH and the bundled model's alignment_heads are what
    recipes/long_form/word_times.py chose on its dev sentences."""
    chosen = json.loads((RESULTS / "word_times.json").read_text())["dev"]["chosen"]
    assert (timing.ROW_SHIFT, timing.MEDIAN_WIDTH, timing.FREE_START) == (
        chosen["shift"], chosen["width"], chosen["free_start"])  # fmt: skip
    config = json.loads((BUNDLED_MODEL / "generation_config.json").read_text())
    assert config["alignment_heads"] == chosen["heads"]


def test_join_margin_is_the_one_tuned():
    assert longform.JOIN_MARGIN == json.loads((RESULTS / "join_margin.json").read_text())["chosen"]

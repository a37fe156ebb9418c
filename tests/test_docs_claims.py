"""The numbers in the stage pages' exercise answers, computed with the package.

The worked examples and tables are generated at build time; the exercises' answers are
prose, so each number in them is checked here against the code it describes. A change
that makes an answer wrong fails this test, not a reader.
"""

import math
from pathlib import Path

import numpy as np

import minis2t
from minis2t.reference import features as F
from minis2t.reference import model as M
from minis2t.reference import nn
from minis2t.io.audio import resample

DOCS = Path(__file__).parent.parent / "docs"


def page(name: str) -> str:
    return (DOCS / f"{name}.md").read_text()


def test_audio_answers():
    text = page("audio")
    assert "\\(1000 / 2^{15} \\approx 0.0305\\)" in text and round(1000 / 2**15, 4) == 0.0305
    for rate, up, down in ((44100, 160, 441), (8000, 2, 1), (48000, 1, 3)):
        g = math.gcd(rate, 16000)
        assert (16000 // g, rate // g) == (up, down)
        assert resample(np.zeros(rate, np.float32), rate, 16000).shape == (16000,)
    assert "up 160, down 441" in text and "up 2, down 1" in text and "up 1, down 3" in text


def test_frames_answers():
    text = page("frames")
    assert F.num_frames(16000) == 98 and F.num_frames(8000) == 48 and "= 98\\)" in text
    assert round(0.0249 * 16000) == 398 < 400 and "398 samples" in text
    assert round(20 * math.log10(0.03)) == -30 and round(20 * math.log10(1.97), 1) == 5.9
    assert round(math.log(1.97**2), 2) == 1.36 and round(math.log(1 / 0.03**2), 1) == 7.0
    assert "1.36" in text and "7.0" in text


def test_mel_answers():
    sums = F.mel_filterbank(80).sum(axis=1)  # [257]
    centres = np.nonzero(np.isclose(sums, 1.0))[0]
    assert np.allclose(sums[centres[0] : centres[-1] + 1], 1.0)  # interior: counted once
    assert sums[0] == 0 and sums[256] == 0 and np.all(sums <= 1 + 1e-12)  # nothing twice


def test_cmvn_answer_louder_microphone():
    wave = minis2t.load_audio(sorted((DOCS.parent / "tests" / "data" / "speech").glob("*.flac"))[0])
    quiet, loud = minis2t.fbank(wave.astype(np.float64)), minis2t.fbank(10 * wave.astype(np.float64))
    unfloored = quiet > np.log(np.finfo(np.float32).eps) + 1
    np.testing.assert_allclose((loud - quiet)[unfloored], math.log(100), atol=1e-9)
    assert "\\ln 100 \\approx 4.61" in page("cmvn") and round(math.log(100), 2) == 4.61
    fe = minis2t.FeatureExtractor()
    np.testing.assert_allclose(fe(10 * wave)["input_features"], fe(wave)["input_features"], atol=1e-4)


def test_subsampling_answers():
    text = page("subsampling")
    t = np.arange(1, 30000)
    assert np.array_equal(M.subsampled_lengths(t, 2), -(-t // 4))  # ceil(T / 4)
    assert M.subsampled_lengths(24000, 2) == 6000 and M.subsampled_lengths(24001, 2) == 6001
    # receptive field: feed one impulse per input frame through two stride-2 kernel-5
    # layers (positive weights, so nothing cancels) and count the inputs each output sees
    w, zero = np.ones((1, 1, 5)), np.zeros(1)
    impulses = np.eye(101)[:, :, None]  # [101 inputs as a batch, 101 frames, 1 channel]
    reach = nn.conv1d(nn.conv1d(impulses, w, zero, stride=2, padding=2), w, zero, stride=2, padding=2)
    assert (reach[:, :, 0] != 0).sum(axis=0).max() == 13 and "= 13\\) frames" in text
    assert (13 - 1) * 160 + 400 == 2320 and 2320 / 16 == 145 and "145 ms" in text
    np.testing.assert_allclose(nn.glu(np.array([2.0, -1.0, 0.0, 3.0])), [1.0, -0.9526], atol=1e-4)


def test_positions_answers():
    text = page("positions")
    h = 128
    w = np.exp(-np.arange(h) * math.log(10000.0) / (h - 1))
    assert w[0] == 1 and math.isclose(w[-1], 1e-4)
    assert round(2 * math.pi, 1) == 6.3 and round(2 * math.pi * 1e4) == 62832 and "62\\,832" in text
    assert round(2 * math.pi * 1e4 * 0.04 / 60) == 42 and round(2 * math.pi * 0.04, 2) == 0.25
    table = nn.sinusoidal_positions(300, 256)
    p, k, i = 100, 7, 3
    wi = float(np.exp(-i * math.log(10000.0) / 127))
    s, c = table[p, i], table[p, 128 + i]
    rotated = (s * math.cos(k * wi) + c * math.sin(k * wi), c * math.cos(k * wi) - s * math.sin(k * wi))
    bound = 2e-7 + 1.2e-7 * (p + k)
    assert abs(rotated[0] - table[p + k, i]) <= bound and abs(rotated[1] - table[p + k, 128 + i]) <= bound
    assert round(bound, 6) == 1.3e-5
    ids = np.array([[5, 6, 7, 1, 1], [5, 6, 7, 8, 9]])
    assert M.position_ids(ids != 1, 1).tolist() == [[2, 3, 4, 1, 1], [2, 3, 4, 5, 6]]


def test_attention_answers():
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(np.array([1000.0, 999.0])) / np.exp(np.array([1000.0, 999.0])).sum()
    assert np.isnan(naive).all()
    np.testing.assert_allclose(nn.softmax(np.array([1000.0, 999.0])), [0.731, 0.269], atol=5e-4)
    q = np.ones((1, 1, 1, 4), np.float32)
    k = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    v = np.arange(6, dtype=np.float32).reshape(1, 1, 3, 2)
    out, weights = nn.attention(q, k, v, nn.mask_bias(np.zeros((1, 3), bool), np.float32)[:, None, None, :])
    np.testing.assert_allclose(weights, 1 / 3, atol=1e-6)  # fully masked row: uniform
    np.testing.assert_allclose(out[0, 0, 0], v[0, 0].mean(axis=0), atol=1e-6)


def test_search_and_cache_answers():
    assert 17 * 18 // 2 == 153 and "153" in page("encoder-decoder")
    for alpha, short, long in ((0, -3.0, -3.6), (1, -0.300, -0.257), (2, -0.030, -0.018)):
        assert round(-3.0 / 10**alpha, 3) == short and round(-3.6 / 14**alpha, 3) == long
    assert "\\(-0.300\\) vs \\(-0.257\\)" in page("search")


def test_long_form_page_states_the_segmenter_settings():
    """The numbers in the long-form page's description are the module's own settings."""
    import inspect

    from minis2t.app import longform as L

    text = page("long-form")
    assert L.BLOCK_SECONDS == 30 and "read 30 s at a time" in text
    assert L.HISTORY * L.BLOCK_SECONDS == 60 and "the last minute of energies" in text
    assert (L.FLOOR_PERCENTILE, L.SPEECH_PERCENTILE) == (10, 95) and "10th percentile" in text and "the 95th" in text
    assert L.THRESHOLD_FRACTION == 0.35 and "floor + 0.35 × (level − floor)" in text
    assert inspect.signature(L.Segmenter).parameters["min_pause"].default == 0.3
    assert inspect.signature(L.transcribe_long).parameters["min_pause"].default == 0.3
    assert "separated by less than 0.3 s" in text
    assert (L.FRAGMENT_SECONDS, L.BRIDGE_SECONDS) == (1.2, 0.7)
    assert "shorter than 1.2 s joins its nearer neighbour across a pause under\n   0.7 s" in text
    assert L.PAD_SECONDS == 0.15 and "0.15 s is kept on each side" in text
    assert L.FRAME_SHIFT == 160 and L.FRAME_LENGTH == 400 and "every 25 ms frame, 10 ms apart" in text
    from minis2t.io.config import S2T_SMALL

    assert round(minis2t.Speech2Text.from_pretrained().max_seconds) == 60 and "60 s for the bundled model" in text
    small = minis2t.ModelConfig(**S2T_SMALL)
    assert small.max_source_positions * 2**small.num_conv_layers / 100 / 60 == 4 and "about 4 minutes for s2t-small" in text


def test_learning_page_states_the_numpy_run_as_it_was_run():
    """The NumPy training run's settings and data, as the recipe's results and
    minis2t.train.train's defaults give them."""
    import inspect
    import json

    from minis2t.train import train

    text = page("learning")
    run = json.loads((DOCS.parent / "recipes" / "synthetic_speech" / "results" / "numpy_full.json").read_text())
    defaults = {k: p.default for k, p in inspect.signature(train).parameters.items()}
    assert f"{run['training_hours']:.1f} hours" in text
    assert defaults["ctc_weight"] == 0.3 and "0.3 × CTC" in text
    assert defaults["max_frames"] == 12000 and "at most\n12 000 frames" in text
    assert defaults["spec_augment_from"] == 1500 and "SpecAugment from step 1 500" in text
    assert run["steps"] == 5000 and "5 000 steps" in text
    n = sum(row["n"] for row in run["table"])
    assert run["test_sentences"] == 300 and n == 1800 and "300 held-out sentences" in text and "1 800 utterances" in text


def test_fairseq_page_states_fairseqs_generation_defaults():
    """What the page says a fairseq directory is decoded with is what load_fairseq_dir sets:
    5 beams and 200 tokens before EOS (202 counting the start token and EOS)."""
    import inspect

    from minis2t.io.fairseq import load_fairseq_dir

    text = page("fairseq")
    source = inspect.getsource(load_fairseq_dir)
    assert "GenerationConfig(num_beams=5, max_length=min(202, config.max_target_positions))" in source
    assert "(0 × frames + 200)" in text and "5 beams, at most 200\ntokens before EOS" in text


def test_long_form_page_states_the_stitching_and_timing_settings():
    """The stitching and word-time numbers in the long-form page's prose are the code's
    and the recipe's."""
    import inspect
    import json

    from minis2t.app import longform as L
    from minis2t.app import timing

    text = " ".join(page("long-form").split())
    assert inspect.signature(L.transcribe_long).parameters["min_pause"].default == 0.3 and L.JOIN_PAUSE_SECONDS == 0.7
    assert "A pause of 0.3–0.7 s may end a sentence or split one" in text
    model = minis2t.Speech2Text.from_pretrained()
    assert timing.frame_seconds(model.config) == 0.04
    assert "tokens × 40 ms encoder frames" in text
    recipe = DOCS.parent / "recipes" / "long_form"
    dev = json.loads((recipe / "results" / "word_times.json").read_text())["dev"]
    sentences = (DOCS.parent / "recipes" / "synthetic_speech" / "test_sentences.txt").read_text().splitlines()
    assert dev["utterances"] == 100 and len(sentences) - 100 == 200
    assert "100 held-out test sentences" in text and "200 others" in text
    assert timing.ROW_SHIFT == 1 and "The row that *predicts* a token times it far better" in text


def test_tokenizer_page_states_the_translation_vocabulary():
    from minis2t.io.checkpoint import BUNDLED_MODELS

    text = " ".join(page("tokenizer").split())
    model = minis2t.Speech2Text.from_pretrained("bundled-st")
    assert model.config.vocab_size == 1000 and "vocabulary of 1000 pieces" in text
    ids = sorted(model.tokenizer.lang_code_to_id.values())
    assert ids == list(range(4, 12)) and len(model.tokenizer.langs) == 8 and "(ids 4–11)" in text
    assert sorted(model.languages) == ["de", "es", "fr"] and "names the three languages" in text
    assert (BUNDLED_MODELS["bundled-st"] / "tokenizer_config.json").is_file()

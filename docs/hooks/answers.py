"""The exercises' answers, computed at build time from the code each exercise is about.

An answer on a stage page holds ``<!-- answer: NAME -->`` (indented like the answer's
text); ``teach.py`` replaces it with what ``NAME()`` here returns: the numbers the answer
rests on, as this build's code computes them. Each function also *asserts* the claim the
answer's prose makes, so an answer that stops being true fails the build (and
``tests/test_docs_answers.py``), not the reader.

A few numbers sit inside running prose instead: ``<!-- n: NAME -->`` is replaced by
``NUMBERS[NAME]()``, which asserts what the sentence around it says.

Every recording named here is a person's unless the function says otherwise: the
LibriSpeech utterance the package ships (``minis2t/assets/en_librispeech_...flac``) is
the front-end pages' running example; pages that need the bundled model to *decode*
use its own synthetic test speech (``test_00``), and say so.
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
import time

import numpy as np

import minis2t
from minis2t.reference import features as F
from minis2t.reference import model as M
from minis2t.reference import nn

import worked  # docs/hooks/worked.py: the shared recordings and the bundled model


def text(lines: list[str]) -> str:
    return "```text\n" + "\n".join(lines) + "\n```\n"


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --: " for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def computed(body: str) -> str:
    """The answer's computed part, marked as such."""
    return "*Computed when this page was built:*\n\n" + body


# --- 1. audio ----------------------------------------------------------------------------


def audio_quiet() -> str:
    import soundfile

    x = np.zeros(16000, np.int16)
    x[::50] = 1000  # the loudest sample is 1000
    buffer = io.BytesIO()
    soundfile.write(buffer, x, 16000, subtype="PCM_16", format="WAV")
    wave = minis2t.load_audio(buffer.getvalue())
    peak = float(np.abs(wave).max())
    assert peak == 1000 / 2**15 and round(peak, 4) == 0.0305
    return computed(text([f"int16 peak 1000 -> load_audio peak {peak:.6f} = 1000 / 32768  "
                          f"({20 * math.log10(peak):.1f} dBFS)"]))  # fmt: skip


def audio_ratios() -> str:
    from minis2t.io.audio import resample

    rows = []
    for rate in (44100, 8000, 48000):
        g = math.gcd(rate, 16000)
        n = resample(np.zeros(rate, np.float32), rate, 16000).shape[0]
        assert n == 16000
        rows.append([f"{rate} Hz", g, 16000 // g, rate // g, n])
    expected = [[160, 441], [2, 1], [1, 3]]
    assert [[r[2], r[3]] for r in rows] == expected
    return computed(table(["input rate", "gcd", "up", "down", "samples from 1 s"], rows))


def audio_cancel() -> str:
    wave, _, name = worked.human()
    stereo = np.stack([wave, -wave], axis=1)  # [N, 2]
    mono = minis2t.load_audio(stereo, sampling_rate=16000)
    assert np.all(mono == 0)
    error = None
    try:
        worked.model().transcribe(stereo, sampling_rate=16000)
    except minis2t.errors.SilentAudioError as e:
        error = e
    assert error is not None
    return computed(text([f"{name}, left and -left: max |mono| = {np.abs(mono).max()}",
                          f"transcribe -> {type(error).__name__}: {error}"]))  # fmt: skip


# --- 2. frames ---------------------------------------------------------------------------


def frames_count() -> str:
    counts = {n: F.num_frames(n) for n in (16000, 8000)}
    assert counts == {16000: 98, 8000: 48}
    short = round(0.0249 * 16000)
    assert short == 398
    try:
        minis2t.fbank(np.zeros(short, np.float32) + 0.1)
        raised = None
    except minis2t.errors.AudioTooShortError as e:
        raised = e
    assert raised is not None
    return computed(text([f"num_frames(16000) = {counts[16000]}, num_frames(8000) = {counts[8000]}",
                          f"fbank of {short} samples -> {type(raised).__name__}: {raised}"]))  # fmt: skip


def _front_end(wave: np.ndarray, coefficient: float) -> np.ndarray:
    """fbank's steps with the pre-emphasis coefficient as a knob: ``[N] -> [T, 80]``."""
    x = F.frame_signal(F.scale_waveform(wave.astype(np.float64)))
    windowed = F.preemphasize(F.remove_dc_offset(x), coefficient) * F.povey_window(400, np.float64)
    return np.log(np.maximum(F.power_spectrum(windowed) @ F.mel_filterbank(80), np.finfo(np.float32).eps))


def frames_preemphasis() -> str:
    low, high = abs(1 - 0.97), abs(1 + 0.97)
    assert round(20 * math.log10(low)) == -30 and round(20 * math.log10(high), 1) == 5.9
    assert round(math.log(high**2), 2) == 1.36 and round(math.log(1 / low**2), 1) == 7.0
    wave, _, name = worked.human()
    with_pre, without = _front_end(wave, 0.97), _front_end(wave, 0.0)
    shift = (without - with_pre).mean(axis=0)  # [80] mean change of each band when it is removed
    # what the answer says: the top band loses, by at most ln(1.97^2); the lowest gains,
    # by at most ln(1/0.03^2) (each band's gain lies between its edges' gains)
    assert -math.log(high**2) - 1e-9 <= shift[79] < 0 and 0 < shift[0] <= math.log(1 / low**2) + 1e-9
    return computed(text([f"|H| at 0 Hz {low:.2f} ({20 * math.log10(low):.0f} dB), at 8 kHz {high:.2f} "
                          f"(+{20 * math.log10(high):.1f} dB)",
                          f"{name}, pre-emphasis switched off, mean change per band:",
                          f"  band 0 {shift[0]:+.2f}, band 40 {shift[40]:+.2f}, band 79 {shift[79]:+.2f}"]))  # fmt: skip


@functools.lru_cache(maxsize=1)
def leakage() -> dict:
    """Share of a sine frame's power more than 4 FFT bins (125 Hz) from its frequency, in
    dB, through the 512-point FFT the front end uses (400 samples + 112 zeros)."""
    n = np.arange(400)
    windows = {"rectangle": np.ones(400), "Povey": F.povey_window(400, np.float64)}
    out = {}
    for f in (1000.0, 1030.0):
        x = np.sin(2 * np.pi * f * n / 16000)[None]  # [1, 400]
        far = np.abs(np.arange(257) - f / 31.25) > 4
        for name, w in windows.items():
            p = F.power_spectrum(x * w)[0]  # [257]
            out[f, name] = 10 * np.log10(p[far].sum() / p.sum())
    return out


def frames_leakage() -> str:
    d = leakage()
    # the claims: the rectangle leaks at 1 kHz too (the zero padding makes the 400 samples
    # a fraction of the 512-point period), and the Povey window leaks far less
    assert d[1000.0, "rectangle"] > -20 and d[1030.0, "rectangle"] > -20
    assert all(d[f, "Povey"] < d[f, "rectangle"] - 20 for f in (1000.0, 1030.0))
    rows = [[f"{f:.0f} Hz", f"{d[f, 'rectangle']:.1f} dB", f"{d[f, 'Povey']:.1f} dB"] for f in (1000.0, 1030.0)]
    return computed("Power more than 4 bins (125 Hz) away from the sine's frequency, as a share of "
                    "the frame's power:\n\n" + table(["sine", "rectangle", "Povey window"], rows))  # fmt: skip


# --- 3. mel ------------------------------------------------------------------------------


def mel_widths() -> str:
    rows = []
    for count, filters in ((80, (0, 1, 40, 79)), (40, (0, 20, 39))):
        banks = F.mel_filterbank(count)
        for j in filters:
            bins = np.nonzero(banks[:, j])[0]
            rows.append([count, j, f"{bins[0]}–{bins[-1]}", bins.size,
                         f"{bins[0] * 31.25:.0f}–{bins[-1] * 31.25:.0f} Hz"])  # fmt: skip
    assert rows[0][3] <= 2 and rows[1][3] <= 2 and 14 <= rows[3][3] <= 18  # 80 filters: 1-2 bins low, ~16 high
    assert rows[-1][3] > rows[3][3]  # 40 filters: wider
    return computed(table(["filters", "filter", "bins with weight > 0", "bins", "Hz"], rows))


def mel_energy() -> str:
    banks = F.mel_filterbank(80)
    sums = banks.sum(axis=1)  # [257] how much of each bin's power the bands count
    edges = np.linspace(F.hz_to_mel(20), F.hz_to_mel(8000), 82)
    first, last = F.mel_to_hz(edges[1]) / 31.25, F.mel_to_hz(edges[-2]) / 31.25  # centres, in bins
    inside = (np.arange(257) >= first) & (np.arange(257) <= last)
    assert np.allclose(sums[inside], 1.0, atol=1e-12) and sums.max() <= 1 + 1e-12
    assert sums[0] == 0 and sums[256] == 0
    wave, _, _ = worked.human()
    power = F.power_spectrum(worked._windowed(wave))[worked.FRAME]
    ratio = (power @ banks).sum() / power[1:256].sum()
    return computed(text([f"banks.sum(axis=1): exactly 1 (to 1e-12) from bin {int(np.ceil(first))} to "
                          f"{int(np.floor(last))}; max {sums.max():.12f}; bin 0 {sums[0]:g}, bin 256 {sums[256]:g}",
                          f"LibriSpeech frame {worked.FRAME}: bands' sum / bins 1..255 = {ratio:.4f}"]))  # fmt: skip


# --- 4. CMVN -----------------------------------------------------------------------------


def cmvn_louder() -> str:
    fe = minis2t.FeatureExtractor()
    floor = np.log(np.finfo(np.float32).eps)
    rows, gaps = [], {}
    for wave, _, name in (worked.human(), worked.sample()):
        quiet, loud = minis2t.fbank(wave.astype(np.float64)), minis2t.fbank(10 * wave.astype(np.float64))
        floored = quiet <= floor + 1e-9
        rise = (loud - quiet)[~floored]
        gap = float(np.abs(fe(10 * wave)["input_features"] - fe(wave)["input_features"]).max())
        gaps[name] = (gap, floored.mean())
        rows.append([name, f"{100 * floored.mean():.1f} %", f"{rise.min():.4f}–{rise.max():.4f}", f"{gap:.2g}"])
        assert np.allclose(rise, math.log(100), atol=1e-9)
    human, synthetic = gaps[worked.human()[2]], gaps[worked.sample()[2]]
    assert human[1] == 0 and human[0] < 1e-4  # no floored value: identical up to rounding
    assert synthetic[1] > 0 and synthetic[0] > 0.05  # digital silence: the floor does not move
    return computed(table(["recording", "values at the floor", "rise of the others", "max change after CMVN"], rows))


def cmvn_padding() -> str:
    wave, _, name = worked.human()
    short, long = wave[: 2 * 16000], wave[: 4 * 16000]
    fe = minis2t.FeatureExtractor()
    batch = fe([short, long], padding=True, return_attention_mask=True)
    alone = fe(short)["input_features"][0]
    t = alone.shape[0]
    same = float(np.abs(batch["input_features"][0, :t] - alone).max())
    pad = batch["input_features"][0, t:]
    assert same == 0 and np.all(pad == 0) and batch["attention_mask"][0].sum() == t
    return computed(text([f"{name}: the first 2 s and the first 4 s in one batch",
                          f"item 0: {t} real frames, max |batched - alone| = {same:g}; "
                          f"{pad.shape[0]} padded frames, all zero: {bool(np.all(pad == 0))}",
                          f"mask row 0 sums to {int(batch['attention_mask'][0].sum())}"]))  # fmt: skip


# --- 5. subsampling ----------------------------------------------------------------------


def subsampling_length() -> str:
    from minis2t.io.config import S2T_SMALL

    small = minis2t.ModelConfig(**S2T_SMALL)
    t = np.arange(1, 30000)
    assert np.array_equal(M.subsampled_lengths(t, 2), -(-t // 4))
    assert M.subsampled_lengths(24000, 2) == 6000 and M.subsampled_lengths(24001, 2) == 6001
    bundled = worked.model().config
    frames = 4 * bundled.max_source_positions
    assert M.subsampled_lengths(frames, bundled.num_conv_layers) == bundled.max_source_positions
    return computed(text([f"s2t-small: max_source_positions {small.max_source_positions} -> at most "
                          f"{4 * small.max_source_positions} frames = {4 * small.max_source_positions / 100:.0f} s",
                          f"bundled: max_source_positions {bundled.max_source_positions} -> {frames} frames "
                          f"= {frames / 100:.0f} s"]))  # fmt: skip


def subsampling_receptive() -> str:
    w, zero = np.ones((1, 1, 5)), np.zeros(1)
    impulses = np.eye(101)[:, :, None]  # [101 inputs as a batch, 101 frames, 1 channel]
    reach = nn.conv1d(nn.conv1d(impulses, w, zero, stride=2, padding=2), w, zero, stride=2, padding=2)
    span = int((reach[:, :, 0] != 0).sum(axis=0).max())
    assert span == 13 and (span - 1) * 160 + 400 == 2320
    return computed(text([f"an impulse at each of 101 frames through two kernel-5 stride-2 conv1d: "
                          f"one output sees at most {span} frames",
                          f"({span} - 1) x 160 + 400 = {(span - 1) * 160 + 400} samples = "
                          f"{((span - 1) * 160 + 400) / 16:.0f} ms"]))  # fmt: skip


def subsampling_glu() -> str:
    out = nn.glu(np.array([2.0, -1.0, 0.0, 3.0]))
    assert np.allclose(out, [1.0, -0.9526], atol=1e-4)
    return computed(text([f"minis2t.reference.nn.glu([2, -1, 0, 3]) = {worked.fmt(out)}"]))


# --- 6. positions ------------------------------------------------------------------------


def positions_wavelengths() -> str:
    h = 128
    w = np.exp(-np.arange(h) * math.log(10000.0) / (h - 1))
    periods = 2 * math.pi / w
    assert w[0] == 1 and math.isclose(w[-1], 1e-4)
    assert round(periods[0], 1) == 6.3 and round(periods[-1]) == 62832
    assert round(periods[0] * 0.04, 2) == 0.25 and round(periods[-1] * 0.04 / 60) == 42
    return computed(text([f"shortest period {periods[0]:.2f} positions = {periods[0] * 0.04:.2f} s",
                          f"longest period  {periods[-1]:.0f} positions = {periods[-1] * 0.04 / 60:.1f} min"]))  # fmt: skip


def positions_rotation() -> str:
    table_ = nn.sinusoidal_positions(300, 256)
    p, k, i = 100, 7, 3
    wi = float(np.exp(-i * math.log(10000.0) / 127))
    s, c = table_[p, i], table_[p, 128 + i]
    rotated = (s * math.cos(k * wi) + c * math.sin(k * wi), c * math.cos(k * wi) - s * math.sin(k * wi))
    gap = max(abs(rotated[0] - table_[p + k, i]), abs(rotated[1] - table_[p + k, 128 + i]))
    bound = 2e-7 + 1.2e-7 * (p + k)
    assert gap <= bound and round(bound, 6) == 1.3e-5
    return computed(text([f"rotated pair {rotated[0]:.7f}, {rotated[1]:.7f}",
                          f"table row {p + k}: {table_[p + k, i]:.7f}, {table_[p + k, 128 + i]:.7f}",
                          f"largest difference {gap:.1e} <= bound {bound:.1e}"]))  # fmt: skip


def positions_padding() -> str:
    ids = np.array([[5, 6, 7, 1, 1], [5, 6, 7, 8, 9]])
    pos = M.position_ids(ids != 1, 1)  # the pad id 1, as the S2T models have it
    assert pos.tolist() == [[2, 3, 4, 1, 1], [2, 3, 4, 5, 6]]
    assert np.all(nn.sinusoidal_positions(10, 256)[1] == 0)
    return computed(text([f"position_ids -> {pos.tolist()}; row 1 of the table is all zeros"]))


# --- 7. attention ------------------------------------------------------------------------


def attention_softmax() -> str:
    x = np.array([1000.0, 999.0])
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(x) / np.exp(x).sum()
    good = nn.softmax(x)
    assert np.isnan(naive).all() and np.allclose(good, [0.731, 0.269], atol=5e-4)
    return computed(text([f"naive: {naive.tolist()}", f"minis2t.reference.nn.softmax: {worked.fmt(good, 3)}"]))


def attention_masked() -> str:
    q = np.ones((1, 1, 1, 4), np.float32)
    k = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    v = np.arange(6, dtype=np.float32).reshape(1, 1, 3, 2)
    out, weights = nn.attention(q, k, v, nn.mask_bias(np.zeros((1, 3), bool), np.float32)[:, None, None, :])
    assert np.allclose(weights, 1 / 3, atol=1e-6) and np.allclose(out[0, 0, 0], v[0, 0].mean(axis=0), atol=1e-6)
    with np.errstate(invalid="ignore"):
        s = np.full(3, -np.inf)
        inf_weights = np.exp(s - s.max())
    assert np.isnan(inf_weights).all()
    return computed(text([f"finite bias: weights {worked.fmt(weights[0, 0, 0], 3)}, output {worked.fmt(out[0, 0, 0], 3)} "
                          f"(the mean of the values {v[0, 0].tolist()})",
                          f"-inf bias: exp(s - max s) = {inf_weights.tolist()}"]))  # fmt: skip


def attention_heads() -> str:
    layers = worked.alignment()["layers"]
    peaks = {(i, h): x["median_peak"] for i, heads in enumerate(layers) for h, x in enumerate(heads)}
    sharp, flat = max(peaks, key=peaks.get), min(peaks, key=peaks.get)
    assert peaks[sharp] > peaks[flat]
    return computed(text([f"sharpest: layer {sharp[0]}, head {sharp[1]} (median peak {peaks[sharp]:.2f})",
                          f"flattest: layer {flat[0]}, head {flat[1]} (median peak {peaks[flat]:.2f})",
                          f"best aligned (sharpness x forward moves, the figure's): layer {worked.best_head()[0]}, "
                          f"head {worked.best_head()[1]}"]))  # fmt: skip


# --- 8. encoder and decoder --------------------------------------------------------------


def cache_or_not() -> str:
    m = worked.model()
    c, p = m.config, m.params
    wave, _, name = worked.sample()
    feats = m.feature_extractor(wave)["input_features"]
    states = M.encode(p, c, feats)["last_hidden_state"]
    ids = m.generate(feats)[:, :-1]  # the tokens fed back
    n = ids.shape[1]
    start = time.perf_counter()
    cache = M.init_cache(p, c, states)
    for t in range(n):
        out = M.decode(p, c, ids[:, t : t + 1], cache)
        cache = out["cache"]
    cached = out["logits"][0, -1]
    with_cache = time.perf_counter() - start
    start = time.perf_counter()
    for t in range(n):
        fresh = M.decode(p, c, ids[:, : t + 1], M.init_cache(p, c, states))["logits"][0, -1]
    without = time.perf_counter() - start
    gap = float(np.abs(fresh - cached).max())
    assert gap < 1e-3 * float(np.abs(cached).max())  # float32 rounding, not a different answer
    assert n == 17 and n * (n + 1) // 2 == 153  # the answer's "17-token output ... 153 positions"
    return computed(text([f"{name} (the bundled model's synthetic test speech): {n} tokens fed back",
                          f"positions processed: with the cache {n}, without {n} x {n + 1} / 2 = {n * (n + 1) // 2}",
                          f"last step's logits: largest difference {gap:.1e}",
                          f"time on the build machine: {1e3 * with_cache:.0f} ms with the cache, {1e3 * without:.0f} ms without"]))  # fmt: skip


def pre_ln_norms() -> str:
    # the question's code runs as written, from the checkout's root
    import contextlib
    import os
    import re

    page = (worked.ROOT / "docs" / "encoder-decoder.md").read_text()
    question = page.split('??? question "2.', 1)[1]
    snippet = textwrap.dedent(re.search(r"```python\n(.*?)```", question, re.S).group(1))
    here = os.getcwd()
    try:
        os.chdir(worked.ROOT)
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            exec(compile(snippet, "encoder-decoder.md, exercise 2", "exec"), {})
    finally:
        os.chdir(here)
    assert len(printed.getvalue().splitlines()) >= 3, printed.getvalue()
    m = worked.model()
    wave, _, name = worked.human()
    feats = m.feature_extractor(wave)["input_features"]
    out = M.encode(m.params, m.config, feats)
    # hidden_states: the embedded input, each layer's input, and last the normalised output
    # (transformers' list); the last layer's own output is computed from its input
    stream, layers = out["hidden_states"][:-1], m.params["model"]["encoder"]["layers"]
    from minis2t.reference.nn import ACTIVATIONS

    last, _ = M.encoder_layer(stream[-1], layers[-1], m.config.encoder_attention_heads, None,
                              ACTIVATIONS[m.config.activation_function])  # fmt: skip
    norms = [float(np.linalg.norm(h[0], axis=-1).mean()) for h in stream + [last]]
    final = float(np.linalg.norm(out["last_hidden_state"][0], axis=-1).mean())
    grows = all(b > a for a, b in zip(norms[1:], norms[2:]))
    assert norms[-1] > norms[1]  # the answer: the stream's norm grows through the layers
    return computed(text([f"{name}, mean norm of a frame's vector (d = {m.config.d_model}):",
                          "  input to layer 0 " + f"{norms[0]:.1f}; after each layer "
                          + ", ".join(f"{v:.1f}" for v in norms[1:]) + (" (growing at every layer)" if grows else ""),
                          f"  after the final LayerNorm {final:.1f}"]))  # fmt: skip


# --- 9. search ---------------------------------------------------------------------------


def search_penalty() -> str:
    rows = []
    for alpha in (0, 1, 2):
        short, long = -3.0 / 10**alpha, -3.6 / 14**alpha
        rows.append([alpha, f"{short:.3f}", f"{long:.3f}", "10 tokens" if short > long else "14 tokens"])
    assert [r[3] for r in rows] == ["10 tokens", "14 tokens", "14 tokens"]
    return computed(table(["length_penalty", "10 tokens, −3.0", "14 tokens, −3.6", "wins"], rows))


def search_noise() -> str:
    import json

    m = worked.model()
    samples = worked.BUNDLED_MODEL.parent / "samples"
    refs = json.loads((samples / "references.json").read_text())
    rng = np.random.default_rng(0)
    rows, clean_differ = [], 0
    for snr in (None, 10, 0):
        waves = []
        for r in refs:
            w = minis2t.load_audio(samples / r["file"])
            if snr is not None:
                noise = rng.standard_normal(w.shape[0]).astype(np.float32)
                w = w + noise * np.sqrt(np.mean(w**2) / 10 ** (snr / 10))
            waves.append(w)
        greedy = m.transcribe(waves, sampling_rate=16000, num_beams=1)
        beam = m.transcribe(waves, sampling_rate=16000, num_beams=5)
        truth = [r["text"] for r in refs]
        differ = sum(g != b for g, b in zip(greedy, beam))
        rows.append(["clean" if snr is None else f"{snr} dB", differ,
                     sum(g == t for g, t in zip(greedy, truth)), sum(b == t for b, t in zip(beam, truth))])  # fmt: skip
        if snr is None:
            clean_differ = differ
    assert clean_differ == 0  # the answer: on the clean recordings they agree
    return computed("The bundled model's six synthetic test recordings, white noise added (seed 0):\n\n"
                    + table(["noise (SNR)", "transcripts that differ", "greedy right", "beam 5 right"], rows))  # fmt: skip


# --- 10. tokenizer -----------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def pieces_per_word() -> dict:
    import json

    tok = worked.model().tokenizer
    refs = json.loads((worked.BUNDLED_MODEL.parent / "samples" / "references.json").read_text())
    texts = [r["text"] for r in refs]
    pieces = [len(tok.tokenize(t)) for t in texts]
    words = [len(t.split()) for t in texts]
    chars = [len(t) for t in texts]
    return {"pieces": sum(pieces), "words": sum(words), "chars": sum(chars), "n": len(texts)}


def tokenizer_ppw() -> str:
    d = pieces_per_word()
    tok = worked.model().tokenizer
    example = "remind me to call maria at seven thirty"
    n = len(tok.tokenize(example))
    assert 1 <= d["pieces"] / d["words"] <= 2 and n == 10 and len(example.split()) == 8
    return computed(text([f"{d['n']} test sentences: {d['pieces']} pieces for {d['words']} words = "
                          f"{d['pieces'] / d['words']:.2f} pieces per word",
                          f"the worked example: {n} pieces for {len(example.split())} words, plus </s>"]))  # fmt: skip


def tokenizer_zbigniew() -> str:
    tok = worked.model().tokenizer
    ids = tok.encode("call zbigniew")
    back = tok.decode(ids, skip_special_tokens=True)
    assert back == "call zbigniew" and tok.unk_token_id not in ids
    return computed(text([f"pieces {tok.convert_ids_to_tokens(ids)}", f"decoded \"{back}\""]))


# --- 11. learning ------------------------------------------------------------------------


STEPS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)


@functools.lru_cache(maxsize=1)
def finite_differences() -> dict:
    """The worked example's loss, model and three weight entries: the relative error of
    central differences against the hand-written gradient for each step ``h``."""
    from minis2t.train import loss_and_grads

    m = minis2t.Speech2Text.from_pretrained(dtype=np.float64)
    wave, text_, _ = worked.sample()
    feats = m.feature_extractor(wave)["input_features"].astype(np.float64)
    labels = np.array([m.tokenizer.encode(text_)])
    _, grads = loss_and_grads(m, feats, None, labels)
    rng = np.random.default_rng(0)  # the worked example's entries
    out = {}
    for name in worked.CHECKED:
        w = m.weights[name]
        index = tuple(int(rng.integers(n)) for n in w.shape)
        old, g = w[index], grads[name][index]
        errors = []
        for h in STEPS:
            w[index] = old + h
            plus = loss_and_grads(m, feats, None, labels)[0]
            w[index] = old - h
            minus = loss_and_grads(m, feats, None, labels)[0]
            w[index] = old
            errors.append(abs((plus - minus) / (2 * h) - g) / abs(g))
        out[name, index] = errors
    return out


def learning_steps() -> str:
    d = finite_differences()
    rows, best = [], []
    for (name, index), errors in d.items():
        k = int(np.argmin(errors))
        best.append(STEPS[k])
        rows.append([f"`{name.removeprefix('model.')}{list(index)}`"] + [f"{e:.0e}" for e in errors])
        assert errors[0] > errors[k] and errors[-1] > errors[k]  # too large and too small both lose
    assert all(1e-5 < b < 1e-2 for b in best)  # the answer: best near 1e-3..1e-4, not 1e-5
    assert all(1e-10 < min(e) < 1e-7 for e in d.values())  # "even the best step leaves ~1e-9"
    return computed("Relative error \\(|\\text{difference} - \\text{gradient}| / |\\text{gradient}|\\) "
                    "for each step \\(h\\):\n\n" + table(["entry"] + [f"h = {h:.0e}" for h in STEPS], rows))


def learning_masked() -> str:
    from minis2t.reference.grad import attention_backward

    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 1, 3, 4)) for _ in range(3))
    mask = np.array([[True, True, False]])  # key 2 is padding
    bias = nn.mask_bias(mask, np.float64)[:, None, None, :]
    _, weights = nn.attention(q, k, v, bias)
    d_q, d_k, d_v = attention_backward(rng.standard_normal((1, 1, 3, 4)), q, k, v, weights)
    assert np.all(weights[..., 2] == 0) and np.all(d_k[0, 0, 2] == 0) and np.all(d_v[0, 0, 2] == 0)
    return computed(text([f"weights on the masked key: {weights[0, 0, :, 2].tolist()}",
                          f"its rows of dK and dV: {d_k[0, 0, 2].tolist()}, {d_v[0, 0, 2].tolist()}"]))  # fmt: skip


def learning_tied() -> str:
    from minis2t.train import loss_and_grads

    m = worked.model()
    wave, text_, _ = worked.sample()
    feats = m.feature_extractor(wave)["input_features"]
    _, grads = loss_and_grads(m, feats, None, np.array([m.tokenizer.encode(text_)]))
    same = grads["lm_head.weight"] is grads["model.decoder.embed_tokens.weight"]
    assert m.config.tie_word_embeddings and same
    return computed(text([f"tie_word_embeddings = {m.config.tie_word_embeddings}; "
                          f"grads['lm_head.weight'] is grads['model.decoder.embed_tokens.weight']: {same}"]))


# --- translation -------------------------------------------------------------------------


def translation_wrong_language() -> str:
    import sacrebleu

    m = worked.st_model()
    waves, refs = worked.st_samples()
    untrained = [c for c in m.tokenizer.langs if c not in m.languages]
    refused = None
    try:
        m.transcribe(waves[0], language=untrained[0])
    except minis2t.errors.UnknownLanguageError as e:
        refused = e
    assert refused is not None
    outputs = {c: m.transcribe(waves, forced_bos_token_id=m.tokenizer.language_id(c)) for c in untrained}
    first = outputs[untrained[0]]
    assert all(o == first for o in outputs.values())  # every untrained code: the same output
    chrf = {lang: sacrebleu.corpus_chrf(first, [[r["translations"][lang] for r in refs]]).score for lang in m.languages}
    closest = max(chrf, key=chrf.get)
    assert chrf[closest] < 90 and closest == "es"  # "mostly Spanish-looking", not a translation
    assert m.config.tie_word_embeddings  # "moved only by the tied LM head's softmax"
    embed = m.weights["model.decoder.embed_tokens.weight"]
    ids = {c: m.tokenizer.language_id(c) for c in m.tokenizer.langs}
    norms = {c: float(np.linalg.norm(embed[i])) for c, i in ids.items()}
    spread = max(float(np.abs(embed[ids[a]] - embed[ids[b]]).max()) for a in untrained for b in untrained)
    trained_gap = min(float(np.abs(embed[ids[a]] - embed[ids[b]]).max())
                      for a in m.languages for b in m.languages if a != b)  # fmt: skip
    assert spread < trained_gap / 10  # the untrained codes' rows are nearly one vector
    lines = [f"language='{untrained[0]}' -> {type(refused).__name__}: {refused}",
             f"forced_bos_token_id = <lang:{untrained[0]}> ({ids[untrained[0]]}), on the {len(refs)} samples:"]
    lines += [f"  \"{o}\"" for o in first]
    lines += [f"the same outputs for every untrained code ({', '.join(untrained)})",
              "chrF against each trained language's reference: "
              + ", ".join(f"{lang} {v:.1f}" for lang, v in chrf.items()),
              "embedding norms: " + ", ".join(f"<lang:{c}> {v:.2f}" for c, v in norms.items()),
              f"largest difference between two untrained codes' rows {spread:.4f}; "
              f"between two trained ones at least {trained_gap:.3f}"]  # fmt: skip
    return computed(text(lines))


def translation_wrong_reference() -> str:
    import sacrebleu

    m = worked.st_model()
    waves, refs = worked.st_samples()
    german = m.transcribe(waves, language="de")
    rows = []
    for lang in m.languages:
        truth = [r["translations"][lang] for r in refs]
        rows.append([f"{lang} references", f"{sacrebleu.corpus_bleu(german, [truth]).score:.1f}",
                     f"{sacrebleu.corpus_chrf(german, [truth]).score:.1f}"])  # fmt: skip
    scores = {r[0]: float(r[1]) for r in rows}
    assert scores["de references"] > 50 and scores["fr references"] < 5 and scores["es references"] < 5
    assert all(float(r[2]) > 5 for r in rows)  # chrF stays above zero
    return computed("The German outputs of the samples, scored against each language's references:\n\n"
                    + table(["scored against", "BLEU", "chrF"], rows))


# --- long form -------------------------------------------------------------------------


def long_form_louder() -> str:
    from minis2t.app import longform as L

    base = worked.pauses()
    segmenter = L.Segmenter(max_seconds=60.0)
    louder = 10 * base["wave"]
    threshold = segmenter.threshold(L.frame_energies(louder))
    segments = segmenter.feed(louder) + segmenter.finish()
    same = [(a.start, a.end) for a in segments] == [(b.start, b.end) for b in base["segments"]]
    assert same and abs(threshold - base["threshold"] - 20) < 0.05
    return computed(text([f"threshold {base['threshold']:.2f} dB -> {threshold:.2f} dB (+{threshold - base['threshold']:.2f})",
                          f"segments: {len(segments)}, the same start and end times: {same}"]))  # fmt: skip


def long_form_where_cut() -> str:
    from minis2t.app import longform as L

    d = worked.pauses(worked.SHORT_LIMIT)
    e = d["energies"]
    first, second = d["segments"][0], d["segments"][1]
    assert abs(second.start - first.end) < 1e-9  # the first segment ends at a cut
    pad = int(L.PAD_SECONDS * 100)
    a = int(round(first.start * 100)) + pad  # the region's first speech frame
    half, limit = int(worked.SHORT_LIMIT * 100) // 2, int(worked.SHORT_LIMIT * 100)
    window = e[a + half : a + limit]
    cut = a + half + int(np.argmin(window))
    assert cut + pad == int(round(second.start * 100))  # the first piece keeps its 0.15 s after the cut
    return computed(text([f"the region starts at frame {a} ({a / 100:.2f} s; the segment's {first.start:.2f} s is 0.15 s of padding before it)",
                          f"window: frames {a + half}..{a + limit - 1}, energies from {window.min():.1f} to {window.max():.1f} dB",
                          f"quietest: frame {cut} ({cut / 100:.2f} s, {e[cut]:.1f} dB); the boundary between the two "
                          f"segments is {pad} frames later, at {second.start:.2f} s"]))  # fmt: skip


def long_form_dtw_by_hand() -> str:
    a, rows, cols = worked.dtw_toy()
    n, m = a.shape

    def paths(i, j):  # every monotone path from (0, 0) to (i, j), steps right, down, diagonal
        if (i, j) == (0, 0):
            yield [(0, 0)]
            return
        for di, dj in ((1, 1), (1, 0), (0, 1)):
            if i - di >= 0 and j - dj >= 0:
                for path in paths(i - di, j - dj):
                    yield path + [(i, j)]

    every = list(paths(n - 1, m - 1))
    best = min(-sum(a[i, j] for i, j in path) for path in every)
    found = -a[rows, cols].sum()
    assert math.isclose(best, found, abs_tol=1e-12)
    total = np.full((n, m), np.inf)  # the cumulative table, as the answer fills it by hand
    for i in range(n):
        for j in range(m):
            before = 0.0 if (i, j) == (0, 0) else min(total[i - 1, j - 1] if i and j else np.inf,
                                                       total[i - 1, j] if i else np.inf,
                                                       total[i, j - 1] if j else np.inf)  # fmt: skip
            total[i, j] = -a[i, j] + before
    assert math.isclose(total[-1, -1], found, abs_tol=1e-12)
    return computed(text(["D (cumulative cost):"] + ["  " + " ".join(f"{v:5.1f}" for v in row) for row in total]
                         + [f"all {len(every)} monotone paths tried: the cheapest costs {best:.1f}; "
                            f"timing.dtw's path costs {found:.1f}"]))  # fmt: skip


def tokenizer_letters() -> str:
    """The first word of the bundled test sentences that the vocabulary spells letter by
    letter: its lattice, its best path, and what a whole-word piece would need."""
    import json

    import sentencepiece

    from minis2t.reference.tokenizer import load_unigram

    path = worked.BUNDLED_MODEL / "sentencepiece.bpe.model"
    unigram, library = load_unigram(path), sentencepiece.SentencePieceProcessor(model_file=str(path))
    refs = json.loads((worked.BUNDLED_MODEL.parent / "samples" / "references.json").read_text())
    spelled = [w for r in refs for w in r["text"].split()
               if len(w) > 2 and all(len(p.lstrip("\u2581")) <= 1 for p in unigram.encode_as_pieces(w))]  # fmt: skip
    assert spelled, "the question says some word is spelled letter by letter"
    word = spelled[0]
    x = unigram.normalize(word)
    lattice = [(i, j, x[i:j], float(unigram.scores[unigram.index[x[i:j]]]))
               for i in range(len(x)) for j in range(i + 1, len(x) + 1) if x[i:j] in unigram.index]  # fmt: skip
    pieces = unigram.encode_as_pieces(word)
    assert pieces == library.encode_as_pieces(word)
    total = sum(float(unigram.scores[unigram.index[p]]) for p in pieces)
    lines = [f'"{word}" (of "{next(r["text"] for r in refs if word in r["text"].split())}") -> "{x}": '
             f"{len(lattice)} pieces in the lattice: " + ", ".join(f"{piece} ({score:.2f})" for _, _, piece, score in lattice),
             f"the best path: {pieces}, score {total:.2f}",
             f"a piece '{x}' would win with log p above {total:.2f} (p > {math.exp(total):.1e}); "
             f"the vocabulary's rarest piece has {float(unigram.min_score):.2f}"]  # fmt: skip
    return computed(text(lines))


# --- numbers inside prose ----------------------------------------------------------------


def fft_noise_db() -> str:
    """How far below a frame's peak the float32 FFT's rounding noise lies, on the running
    example: the power of (float32 spectrum - float64 spectrum) against the peak bin's
    power, the median over frames."""
    wave, _, _ = worked.human()
    frames = worked._windowed(wave)  # [T, 400] float64
    exact = np.fft.rfft(frames, n=512, axis=1)
    rounded = np.fft.rfft(frames.astype(np.float32), n=512, axis=1)
    assert rounded.dtype == np.complex64  # NumPy 2 keeps float32 through the FFT
    noise = np.mean(np.abs(rounded - exact) ** 2, axis=1)  # [T]
    peak = np.max(np.abs(exact) ** 2, axis=1)  # [T]
    db = float(np.median(10 * np.log10(noise / peak)))
    assert -200 < db < -100
    return f"{-db:.0f}"


def chars_per_piece() -> str:
    d = pieces_per_word()
    ratio = d["chars"] / d["pieces"]
    assert 1.5 < ratio < 6
    return f"{ratio:.1f}"


def bundled_parameters() -> str:
    count = sum(v.size for v in worked.model().weights.values())
    assert count > 1_000_000  # "millions"
    return f"{count / 1e6:.1f}"


NUMBERS = {"reading_hours": worked.reading_hours, "fft_noise_db": fft_noise_db, "chars_per_piece": chars_per_piece, "bundled_parameters": bundled_parameters}

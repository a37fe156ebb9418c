"""Worked examples for the stage pages, computed at build time on real recordings.

Each public function returns Markdown for ``<!-- worked: NAME -->`` (see ``teach.py``):
the package run on a real input, with the shapes and a few numbers at each step as this
build computes them. Nothing here is typed in by hand; change the code and the page
changes with it.
"""

from __future__ import annotations

import functools
import math
import json
from pathlib import Path

import numpy as np

import minis2t
from minis2t.reference import features as F
from minis2t.reference import model as M
from minis2t.reference import nn
from minis2t.app.cli import BUNDLED_MODEL, BUNDLED_RECORDING

ROOT = Path(__file__).resolve().parents[2]
SPEECH = ROOT / "tests" / "data" / "speech"
LJ = SPEECH / "en_ljspeech_LJ050-0131_22k05.wav"  # the one recording not at 16 kHz
FRAME = 150  # the frame the feature pages follow, 1.5 s in
# the weight entries whose gradient the learning page checks by finite differences
CHECKED = ("model.encoder.layers.0.fc1.weight", "model.decoder.layers.0.self_attn.q_proj.bias",
           "model.encoder.conv.conv_layers.1.weight")  # fmt: skip


@functools.lru_cache(maxsize=1)
def model() -> minis2t.Speech2Text:
    return minis2t.Speech2Text.from_pretrained(BUNDLED_MODEL)


@functools.lru_cache(maxsize=1)
def sample() -> tuple[np.ndarray, str, str]:
    """The bundled model's first test recording: waveform, reference text, file name."""
    refs = json.loads((BUNDLED_MODEL.parent / "samples" / "references.json").read_text())
    path = BUNDLED_MODEL.parent / "samples" / refs[0]["file"]
    return minis2t.load_audio(path), refs[0]["text"], refs[0]["file"]


@functools.lru_cache(maxsize=1)
def human() -> tuple[np.ndarray, str, str]:
    """A person reading (LibriSpeech dev-clean 1272-128104-0000): the feature pages' input."""
    rows = [line.split("\t") for line in (SPEECH / "manifest.tsv").read_text().splitlines()]
    text = next(r[-1] for r in rows if r[0] == BUNDLED_RECORDING.name).lower()
    return minis2t.load_audio(BUNDLED_RECORDING), text, BUNDLED_RECORDING.name


def recording_note() -> str:
    """Says plainly which recording a decoding page uses, and why: the bundled model
    hears synthetic speech only, shown by what it makes of the person's recording."""
    m = model()
    wave, reference, name = human()
    heard = m.transcribe(wave, sampling_rate=16000)[0]
    _, text, file = sample()
    return (f'!!! note "Which recording: the bundled model\'s synthetic speech"\n\n'
            f"    The front-end pages follow a person reading (LibriSpeech `{name}`). This page needs the "
            f"bundled model to *decode*, and that model was trained on synthesised voices only: on the "
            f"LibriSpeech recording it says \"{heard}\" (the reader said \"{reference}\"). So the "
            f"examples here use its own synthetic test speech, `{file}`: \"{text}\".\n")


def sci(x: float) -> str:
    """A bar as people write it: 2e-5, not 2e-05."""
    return f"{x:.0e}".replace("e-0", "e-")


def fmt(values, digits: int = 4) -> str:
    return "[" + ", ".join(f"{v:.{digits}g}" for v in np.ravel(values)) + "]"


def shape(x) -> str:
    return "[" + ", ".join(str(n) for n in np.shape(x)) + "]"


def example(title: str, body: str) -> str:
    return f'!!! example "Worked example: {title}"\n\n' + "\n".join(
        ("    " + line if line else "") for line in body.strip("\n").split("\n")
    ) + "\n"


def code(lines: list[str]) -> str:
    return "```text\n" + "\n".join(lines) + "\n```"


# --- 1. audio ----------------------------------------------------------------------------


def audio() -> str:
    import soundfile

    info = soundfile.info(str(LJ))
    raw, _ = soundfile.read(str(LJ), dtype="int16")
    wave = minis2t.load_audio(LJ)
    g = np.gcd(16000, info.samplerate)
    peak = int(np.abs(raw.astype(np.int32)).max())
    lines = [
        f"file          {LJ.name}",
        f"on disk       {info.samplerate} Hz, {info.channels} channel, {info.subtype}, {info.frames} samples "
        f"= {info.frames / info.samplerate:.3f} s",
        f"int16 peak    {peak}  -> / 2**15 = {peak / 2**15:.4f}  (scaled by the type's range, not the peak)",
        f"resample      up {16000 // g}, down {info.samplerate // g}  (gcd {g})",
        f"load_audio -> {shape(wave)} {wave.dtype}, {wave.shape[0] / 16000:.3f} s, "
        f"ceil({info.frames} * 16000 / {info.samplerate}) = {int(np.ceil(info.frames * 16000 / info.samplerate))}",
        f"range         min {wave.min():.4f}, max {wave.max():.4f}",
        f"samples 8000..8004  {fmt(wave[8000:8005])}",
    ]  # fmt: skip
    return example("one LJ Speech recording, 22.05 kHz to 16 kHz", code(lines))


# --- 2. frames ---------------------------------------------------------------------------


def frames() -> str:
    wave, text, name = human()
    x = F.scale_waveform(wave.astype(np.float64))
    framed = F.frame_signal(x)
    frame = framed[FRAME : FRAME + 1]
    dc = F.remove_dc_offset(frame)
    pre = F.preemphasize(dc)
    win = pre * F.povey_window(400, np.float64)
    lines = [
        f"waveform      {shape(wave)} ({name}: \"{text}\")",
        f"x 2**15       max |x| = {np.abs(x).max():.1f}",
        f"frames        {shape(framed)}   T = 1 + ({wave.shape[0]} - 400) // 160 = {F.num_frames(wave.shape[0])}",
        f"frame {FRAME}     samples {FRAME * 160}..{FRAME * 160 + 399}; first four {fmt(frame[0, :4], 5)}",
        f"- DC          mean was {frame.mean():.2f}; first four {fmt(dc[0, :4], 5)}",
        f"pre-emphasis  first four {fmt(pre[0, :4], 5)}   (y[1] = x[1] - 0.97 x[0])",
        f"x window      first four {fmt(win[0, :4], 5)}   (w[0] = 0: the ends fade out)",
        f"energy        frame {np.sum(frame ** 2):.3g} -> windowed {np.sum(win ** 2):.3g}",
    ]  # fmt: skip
    return example(f"frame {FRAME} of the LibriSpeech recording (a person reading)", code(lines))


# --- 3. mel ------------------------------------------------------------------------------


def _windowed(wave: np.ndarray) -> np.ndarray:
    x = F.frame_signal(F.scale_waveform(wave.astype(np.float64)))
    return F.preemphasize(F.remove_dc_offset(x)) * F.povey_window(400, np.float64)


def mel() -> str:
    wave, _, _ = human()
    windowed = _windowed(wave)
    power = F.power_spectrum(windowed)
    banks = F.mel_filterbank(80)  # [257, 80]
    energies = power @ banks
    p = power[FRAME]
    top = int(np.argmax(p))
    # the triangle's corners: edges evenly spaced in mel from 20 Hz to 8 kHz, filter j
    # rising from edge j to its centre, edge j + 1, and falling to edge j + 2
    edges = F.mel_to_hz(np.linspace(F.hz_to_mel(20.0), F.hz_to_mel(8000.0), 82))  # [82] Hz
    rows = ["| filter | left edge | centre | right edge | bins with weight > 0 | heaviest bin | energy in frame %d |" % FRAME,
            "| --: | --: | --: | --: | --- | --: | --: |"]  # fmt: skip
    for j in (0, 1, 40, 79):
        bins = np.nonzero(banks[:, j])[0]
        heaviest = bins[np.argmax(banks[bins, j])]
        assert edges[j] < heaviest * 31.25 < edges[j + 2]  # the corners are the filter's
        rows.append(f"| {j} | {edges[j]:.0f} Hz | {edges[j + 1]:.0f} Hz | {edges[j + 2]:.0f} Hz | "
                    f"{bins[0]}–{bins[-1]} ({bins.size} bin{'s' if bins.size > 1 else ''}) | {heaviest} = {heaviest * 31.25:.0f} Hz "
                    f"(weight {banks[heaviest, j]:.2f}) | {energies[FRAME, j]:.3g} |")  # fmt: skip
    lines = [
        f"windowed frames  {shape(windowed)}",
        f"power spectrum   {shape(power)}   (512-point FFT: 257 bins, 31.25 Hz apart)",
        f"frame {FRAME}: strongest bin {top} = {top * 31.25:.0f} Hz, power {p[top]:.3g}; "
        f"total {p.sum():.3g}",
        f"filter bank      {shape(banks)}   (bins x filters; bin 256 = 8 kHz is in no filter: "
        f"column sum {banks[256].sum():.0f})",
        f"energies         {shape(energies)} = power @ banks",
    ]  # fmt: skip
    return example(f"frame {FRAME} of the LibriSpeech recording: its power spectrum pooled into 80 bands",
                   code(lines) + "\n\n" + "\n".join(rows))  # fmt: skip


def mel_against_kaldi() -> str:
    """Our filter bank against kaldi-native-fbank's matrix, measured in this build."""
    try:
        import kaldi_native_fbank as knf
    except ImportError:
        return "*(kaldi-native-fbank is not installed where these pages were built: nothing measured.)*\n"
    opts = knf.MelBanksOptions()
    opts.num_bins = 80
    theirs = np.array(knf.MelBanks(opts, knf.FrameExtractionOptions(), 1.0).get_matrix()).T  # [257, 80]
    gap = np.abs(F.mel_filterbank(80) - theirs)
    worst = np.unravel_index(np.argmax(gap), gap.shape)
    return (f"Measured in this build: the largest difference from kaldi-native-fbank's matrix is "
            f"**{gap.max():.2e}** (bin {worst[0]}, filter {worst[1]}); the tests allow 2e-5 — two "
            f"half-ulp roundings of a float32 mel value near 2 800 (1.2e-4 mel) over a triangle "
            f"about 35 mel wide, with room for the two edges.\n")  # fmt: skip


# --- 4. CMVN -----------------------------------------------------------------------------


def cmvn() -> str:
    wave, _, _ = human()
    raw = minis2t.fbank(wave)
    norm = F.utterance_cmvn(raw)
    rows = ["| band | mean before | std before | mean after | std after |", "| --: | --: | --: | --: | --: |"]
    for j in (0, 20, 79):
        rows.append(f"| {j} | {raw[:, j].mean():.3f} | {raw[:, j].std():.3f} | "
                    f"{norm[:, j].mean():.1e} | {norm[:, j].std():.4f} |")  # fmt: skip
    silent = F.utterance_cmvn(minis2t.fbank(np.zeros(16000, np.float32)))
    lines = [
        f"fbank              {shape(raw)} float32, from {raw.min():.2f} to {raw.max():.2f} "
        f"(natural log of 16-bit-unit energies)",
        f"frame {FRAME}, bands 0..3  {fmt(raw[FRAME, :4])}",
        f"after CMVN         {fmt(norm[FRAME, :4])}",
        f"digital silence    fbank = ln(eps) = {np.log(np.finfo(np.float32).eps):.4f} everywhere; "
        f"CMVN -> all zeros: {bool(np.all(silent == 0))}",
    ]  # fmt: skip
    return example("the LibriSpeech recording's bands before and after CMVN", code(lines) + "\n\n" + "\n".join(rows))


# --- 5. subsampling ----------------------------------------------------------------------


def subsampling() -> str:
    m = model()
    c = m.config
    wave, _, _ = human()  # only shapes and sizes here: a person's recording will do
    feats = m.feature_extractor(wave)["input_features"]
    out = M.encode(m.params, c, feats)
    convs = m.params["model"]["encoder"]["conv"]["conv_layers"]
    lines = [f"features               {shape(feats)}   ({feats.shape[1]} frames = {feats.shape[1] / 100:.2f} s)"]
    length = feats.shape[1]
    for i, (layer, y) in enumerate(zip(convs, out["conv_outputs"])):
        w = layer["weight"]
        new = (length - 1) // 2 + 1
        lines.append(f"conv {i}: weight {shape(w)} (out, in, k), stride 2: "
                     f"{length} -> ({length} - 1) // 2 + 1 = {new} steps, {w.shape[0]} channels; "
                     f"GLU -> {shape(y)}")  # fmt: skip
        length = new
    x = out["conv_outputs"][-1]
    scaled = out["hidden_states"][0]
    lines += [
        f"x sqrt(d_model)         sqrt({c.d_model}) = {np.sqrt(c.d_model):.3f}; "
        f"|x| mean {np.abs(x).mean():.3f} -> {np.abs(x * np.sqrt(c.d_model)).mean():.3f}",
        f"+ positions             {shape(scaled)}   one encoder step = {2 ** c.num_conv_layers * 10} ms",
        f"subsampled_lengths      {fmt(M.subsampled_lengths(np.array([feats.shape[1], 100, 7]), c.num_conv_layers), 6)}"
        f"  for {feats.shape[1]}, 100 and 7 frames",
    ]  # fmt: skip
    return example("the bundled model's subsampler on the LibriSpeech recording", code(lines))


# --- 6. positions ------------------------------------------------------------------------


def positions() -> str:
    d = 8
    table = nn.sinusoidal_positions(6, d)
    half = d // 2
    w = np.exp(np.arange(half) * -(np.log(10000.0) / (half - 1)))
    big = nn.sinusoidal_positions(202, 128)
    sims = {k: float(big[100] @ big[100 + k]) for k in (0, 1, 5, 20, 100 - 2)}
    lines = [f"d = {d}: h = {half} frequencies w_i = 10000^(-i/(h-1)) = {fmt(w)}"]
    for p in range(6):
        lines.append(f"row {p}: {fmt(table[p], 3)}" + ("   (padding_idx: zeros)" if p == 1 else "")
                     + ("   (first real position)" if p == 2 else ""))  # fmt: skip
    lines.append("d = 128: PE[100] . PE[100 + k] for k = " + ", ".join(f"{k}: {v:.1f}" for k, v in sims.items())
                 + "  (nearby positions look alike)")  # fmt: skip
    return example("a table small enough to read", code(lines))


# --- 7. attention ------------------------------------------------------------------------


ATTENTION_FRAME, ATTENTION_KEYS, SHOWN = 20, range(18, 23), 4  # one query frame, five key frames, dims printed


def attention_inputs() -> dict:
    """q, k, v of the bundled model's first encoder layer, head 0, on a real recording:
    the query of one frame and the keys and values of five frames around it (float64)."""
    m = model()
    c = m.config
    wave, _, name = sample()
    feats = m.feature_extractor(wave)["input_features"]
    x = M.encode(m.params, c, feats)["hidden_states"][0].astype(np.float64)  # [1, S, D]: what layer 0 reads
    layer = m.params["model"]["encoder"]["layers"][0]
    h = nn.layer_norm(x, **layer["self_attn_layer_norm"])  # [1, S, D]
    heads = {n: nn.split_heads(nn.linear(h, **layer["self_attn"][f"{n}_proj"]), c.encoder_attention_heads)
             for n in "qkv"}  # each [1, H, S, Dh]  # fmt: skip
    keys = list(ATTENTION_KEYS)
    return {"name": name, "q": heads["q"][:, :1, ATTENTION_FRAME : ATTENTION_FRAME + 1],  # [1, 1, 1, Dh]
            "k": heads["k"][:, :1, keys], "v": heads["v"][:, :1, keys], "keys": keys}  # [1, 1, 5, Dh]  # fmt: skip


def attention() -> str:
    a = attention_inputs()
    q, k, v = a["q"], a["k"], a["v"]
    d_h = q.shape[-1]
    mask = np.array([[1, 1, 1, 0, 0]], bool)  # as if the last two keys were padding
    bias = nn.mask_bias(mask, np.float64)[:, None, None, :]
    scores = (q @ k.swapaxes(-1, -2))[0, 0, 0] / np.sqrt(d_h)
    out, weights = nn.attention(q, k, v, bias)
    plain, plain_w = nn.attention(q, k, v)
    dims = f"the first {SHOWN} of {d_h} numbers"
    lines = [f"{a['name']}, encoder layer 0, head 0: the query of frame {ATTENTION_FRAME}, the keys and values of frames "
             f"{a['keys'][0]}-{a['keys'][-1]}",
             f"q {shape(q)}, k {shape(k)}, v {shape(v)}   ([B, H, L, d_h] and [B, H, S, d_h]; {dims} printed)",
             f"q                        {fmt(q[0, 0, 0, :SHOWN], 3)} …"]
    lines += [f"k, frame {f:<3}             {fmt(k[0, 0, i, :SHOWN], 3)} …" for i, f in enumerate(a["keys"])]
    lines += [f"v, frame {f:<3}             {fmt(v[0, 0, i, :SHOWN], 3)} …" for i, f in enumerate(a["keys"])]
    lines += [
        f"scores q.k / sqrt({d_h})  {fmt(scores, 3)}",
        f"softmax, no mask         {fmt(plain_w[0, 0, 0], 3)}  (sums to {plain_w[0, 0, 0].sum():.6f})",
        f"mask keys 3, 4: bias     {fmt(bias[0, 0, 0], 3)}",
        f"softmax with the mask    {fmt(weights[0, 0, 0], 3)}",
        f"output = weights @ v     {fmt(out[0, 0, 0, :SHOWN], 3)} …",
        f"without the mask         {fmt(plain[0, 0, 0, :SHOWN], 3)} …",
    ]  # fmt: skip
    return example("one query, five keys of a real recording, two of them masked", code(lines))


@functools.lru_cache(maxsize=1)
def alignment() -> dict:
    """Per decoder layer and head: the median of each step's largest cross-attention
    weight, and how often the peak moves forward; the figure uses the best layer."""
    m = model()
    wave, text, _ = sample()
    feats = m.feature_extractor(wave)["input_features"]
    ids = m.generate(feats)
    out = m.forward(feats, decoder_input_ids=ids, output_attentions=True)
    result = {"layers": [], "tokens": m.tokenizer.convert_ids_to_tokens(ids[0]), "text": text}
    for layer, w in enumerate(out.cross_attentions):
        heads = []
        for h in range(w.shape[1]):
            a = w[0, h]  # [L, S]
            peaks = a.argmax(axis=1)
            heads.append({"median_peak": float(np.median(a.max(axis=1))),
                          "forward": float(np.mean(np.diff(peaks) > 0)), "weights": a})  # fmt: skip
        result["layers"].append(heads)
    return result


def best_head() -> tuple[int, int]:
    """The (layer, head) whose peaks are sharpest and move forward most often."""
    layers = alignment()["layers"]
    score = {(i, h): x["median_peak"] * x["forward"] for i, heads in enumerate(layers) for h, x in enumerate(heads)}
    return max(score, key=score.get)


def attention_heads() -> str:
    a = alignment()
    best = best_head()
    rows = ["| decoder layer | head | median peak weight | steps whose peak moves forward |", "| --: | --: | --: | --: |"]
    for i, heads in enumerate(a["layers"]):
        for h, x in enumerate(heads):
            mark = " **(shown)**" if (i, h) == best else ""
            rows.append(f"| {i} | {h}{mark} | {x['median_peak']:.2f} | {100 * x['forward']:.0f} % |")
    return "\n".join(rows) + "\n"


# --- 8. encoder and decoder --------------------------------------------------------------


def encoder_decoder() -> str:
    m = model()
    c, p = m.config, m.params
    wave, _, _ = sample()
    feats = m.feature_extractor(wave)["input_features"]
    enc = M.encode(p, c, feats)
    states = enc["last_hidden_state"]
    ids = m.generate(feats)[:, :-1]  # the tokens fed back: start, then all but the last
    cache = M.init_cache(p, c, states)
    lines = [f"encoder: {len(enc['hidden_states']) - 1} layers, each {shape(enc['hidden_states'][1])} -> "
             f"final LayerNorm {shape(states)}",
             f"init_cache: cross K/V per layer {shape(cache.cross_kv[0][0])} x 2 x {c.decoder_layers} layers "
             f"(computed once)"]  # fmt: skip
    step_logits = []
    for t in range(ids.shape[1]):
        out = M.decode(p, c, ids[:, t : t + 1], cache)
        cache = out["cache"]
        step_logits.append(out["logits"])
        if t < 3 or t == ids.shape[1] - 1:
            lines.append(f"step {t}: token {int(ids[0, t])} {shape(ids[:, t:t + 1])} -> logits "
                         f"{shape(out['logits'])}, self K/V now {shape(cache.self_kv[0][0])}")  # fmt: skip
        elif t == 3:
            lines.append("...")
    whole = M.decode(p, c, ids, M.init_cache(p, c, states))["logits"]
    gap = np.abs(np.concatenate(step_logits, axis=1) - whole).max()
    lines.append(f"all {ids.shape[1]} tokens at once -> {shape(whole)}; largest difference from the "
                 f"step-by-step logits: {gap:.1e} (float32 rounding: the sums run in another order)")  # fmt: skip
    h, dh, layers = c.decoder_attention_heads, c.d_model // c.decoder_attention_heads, c.decoder_layers
    per_token = 2 * layers * h * dh * 4
    lines.append(f"cache cost: 2 x {layers} layers x {h} heads x {dh} x 4 bytes = {per_token / 1024:.0f} KiB "
                 f"per token per beam")  # fmt: skip
    return example("one utterance through the encoder and the decoder, step by step", code(lines))


# --- 9. search ---------------------------------------------------------------------------


def generate_with_steps(m, feats, **options):
    """``(GenerateOutput, per-step records)`` of a beam search: ``GenerateOutput.steps``
    where the search returns it, today's ``trace=`` list (the same keys) until then."""
    import inspect

    if "trace" not in inspect.signature(m.generate).parameters:
        out = m.generate(feats, return_dict=True, **options)
        return out, out.steps
    trace: list = []
    return m.generate(feats, return_dict=True, trace=trace, **options), trace


FLIP_BEAMS, FLIP_PENALTY = 5, -1.0  # a beam search that favours short outputs


@functools.lru_cache(maxsize=1)
def search_flip() -> dict:
    """The first bundled sample on which greedy search and a 5-beam search with
    length_penalty −1 write different transcripts, with both searches' outputs."""
    m = model()
    samples = BUNDLED_MODEL.parent / "samples"
    for ref in json.loads((samples / "references.json").read_text()):
        feats = m.feature_extractor(minis2t.load_audio(samples / ref["file"]))["input_features"]
        greedy = m.generate(feats, num_beams=1, return_dict=True, output_scores=True)
        beam, steps = generate_with_steps(m, feats, num_beams=FLIP_BEAMS, length_penalty=FLIP_PENALTY)
        texts = [m.tokenizer.decode(o.sequences[0], skip_special_tokens=True) for o in (greedy, beam)]
        if texts[0] != texts[1] and texts[1]:
            return {"file": ref["file"], "text": ref["text"], "feats": feats, "greedy": greedy, "beam": beam,
                    "steps": steps}  # fmt: skip
    raise AssertionError("no bundled sample where greedy and beam search disagree: the search page needs one")


def sequence_logprob(m, feats, seq: np.ndarray) -> tuple[float, int, np.ndarray]:
    """Σ log p of a generated row ``seq`` (start token first, EOS last, then padding) by
    teacher forcing with the reference, its length L (EOS included) and each step's log p [L, V]."""
    c = m.config
    n = int(np.sum(seq != c.pad_token_id)) - 1 if seq[-1] == c.pad_token_id else seq.shape[0] - 1
    states = M.encode(m.params, c, feats)["last_hidden_state"]
    out = M.decode(m.params, c, seq[None, :n], M.init_cache(m.params, c, states))
    logp = nn.log_softmax(out["logits"][0].astype(np.float64))  # [L, V]
    return float(logp[np.arange(n), seq[1 : n + 1]].sum()), n, logp


def search() -> str:
    m = model()
    case = search_flip()
    c = m.config
    rows = ["| search | transcript | tokens L | Σ log p | score Σ / L^penalty |", "| --- | --- | --: | --: | --: |"]
    runs = [("greedy", dict(num_beams=1), case["greedy"].sequences[0])]
    for penalty in (1.0, 0.0, FLIP_PENALTY):
        out = case["beam"] if penalty == FLIP_PENALTY else m.generate(case["feats"], num_beams=FLIP_BEAMS, length_penalty=penalty)
        seq = out.sequences[0] if hasattr(out, "sequences") else out[0]
        runs.append((f"beam {FLIP_BEAMS}, length_penalty {penalty:+g}", dict(penalty=penalty), seq))
    for name, kw, seq in runs:
        total, n, _ = sequence_logprob(m, case["feats"], seq)
        score = f"{total / n ** kw['penalty']:.2f}" if "penalty" in kw else "—"
        rows.append(f"| {name} | {m.tokenizer.decode(seq, skip_special_tokens=True)} | {n} | {total:.2f} | {score} |")
    g_total, g_n, _ = sequence_logprob(m, case["feats"], case["greedy"].sequences[0])
    b_total, b_n, _ = sequence_logprob(m, case["feats"], case["beam"].sequences[0])
    assert g_total / g_n**FLIP_PENALTY < b_total / b_n**FLIP_PENALTY and g_total > b_total  # the flip, as the page tells it
    rows.append(f"\nUnder length_penalty {FLIP_PENALTY:+g} the greedy transcript would score "
                f"{g_total:.2f} × {g_n} = {g_total / g_n**FLIP_PENALTY:.2f}: more probable, but longer.")  # fmt: skip
    greedy, beam = case["greedy"].sequences[0], case["beam"].sequences[0]
    t = int(np.flatnonzero(greedy[: min(len(greedy), len(beam))] != beam[: min(len(greedy), len(beam))])[0])
    _, _, logp = sequence_logprob(m, case["feats"], greedy)
    top = np.argsort(-logp[t - 1])[:5]
    lines = [f"{case['file']}: \"{case['text']}\"",
             f"after {m.tokenizer.convert_ids_to_tokens(greedy[1:t].tolist())} the two searches part; the five most likely next pieces:",
             "  " + ", ".join(f"{p!r} {v:.2f}" for p, v in zip(m.tokenizer.convert_ids_to_tokens(top.tolist()), logp[t - 1][top]))]  # fmt: skip
    return example("greedy and beam search disagree", code(lines) + "\n\n" + "\n".join(rows))


# --- 10. tokenizer -----------------------------------------------------------------------


def tokenizer() -> str:
    tok = model().tokenizer
    text = "remind me to call maria at seven thirty"
    ids = tok.encode(text)
    pieces = tok.convert_ids_to_tokens(ids)
    odd = "remind me to call zbigniew"
    odd_ids = tok.encode(odd)
    lines = [
        f"text     \"{text}\"",
        f"pieces   {pieces}",
        f"ids      {ids}   ({len(ids)} ids for {len(text.split())} words; 2 is </s>)",
        f"decode   \"{tok.decode(ids, skip_special_tokens=True)}\"",
        f"with special tokens: \"{tok.decode(ids)}\"",
        f"a word the grammar never had: \"{odd}\" -> {tok.convert_ids_to_tokens(odd_ids)}",
        f"vocabulary: {len(tok)} ids, the first four {tok.convert_ids_to_tokens([0, 1, 2, 3])}",
    ]  # fmt: skip
    return example("the bundled model's tokenizer", code(lines))


def tokenizer_lattice() -> str:
    """One word segmented by hand: every piece of the lattice, the best score of each
    prefix, the path read back — from minis2t.reference.tokenizer, checked against the
    sentencepiece library."""
    import time

    import sentencepiece

    from minis2t.reference.tokenizer import load_unigram

    path = BUNDLED_MODEL / "sentencepiece.bpe.model"
    unigram, library = load_unigram(path), sentencepiece.SentencePieceProcessor(model_file=str(path))
    word = "remind"
    x = unigram.normalize(word)
    lattice = [(i, j, x[i:j], float(unigram.scores[unigram.index[x[i:j]]]))
               for i in range(len(x)) for j in range(i + 1, len(x) + 1) if x[i:j] in unigram.index]  # fmt: skip
    best, back = [0.0] + [None] * len(x), [None] * (len(x) + 1)
    for i, j, piece, score in sorted(lattice, key=lambda e: (e[1], e[0])):  # by end, as the table is filled
        if best[i] is not None and (best[j] is None or best[i] + score > best[j]):
            best[j], back[j] = best[i] + score, (i, piece)
    path_back, j = [], len(x)
    while j:
        path_back.append(back[j][1])
        j = back[j][0]
    pieces = unigram.encode_as_pieces(word)
    assert path_back[::-1] == pieces == library.encode_as_pieces(word)
    lines = [f'text "{word}" -> normalised "{x}" ({len(x)} characters, positions 0..{len(x)})',
             f"the lattice: {len(lattice)} pieces of the vocabulary occur in it (start, end, piece, log p):"]
    lines += [f"  {i}-{j}  {piece:<8} {score:7.2f}" for i, j, piece, score in lattice]
    lines += ["best[j], the best score of the first j characters, and the last piece of that path:"]
    lines += [f"  best[{j}] = {best[j]:7.2f}   last piece {back[j][1]!r}" for j in range(1, len(x) + 1) if best[j] is not None]
    letters = sum(float(unigram.scores[unigram.index[c]]) for c in x)
    lines += [f"letter by letter instead: {' + '.join(x)} = {letters:.2f}",
              f"read back from best[{len(x)}]: {pieces}  (the library: {library.encode_as_pieces(word)})"]
    sentences = [r["text"] for r in json.loads((BUNDLED_MODEL.parent / "samples" / "references.json").read_text())]
    timings = {}
    for name, encode in (("library", library.encode_as_pieces), ("reference", unigram.encode_as_pieces)):
        start = time.perf_counter()
        for _ in range(20):
            for sentence in sentences:
                encode(sentence)
        timings[name] = (time.perf_counter() - start) / (20 * len(sentences))
    lines += [f"encoding one test sentence: the library {1e6 * timings['library']:.0f} µs, "
              f"this module {1e6 * timings['reference']:.0f} µs ({timings['reference'] / timings['library']:.0f}x; "
              f"this build's machine)"]  # fmt: skip
    return example(f"the lattice of {word!r}, solved by hand", code(lines))


# --- the parity page ---------------------------------------------------------------------


def parity_bars() -> str:
    """The bars the tests assert, read from ``parity/bars.py`` (which the tests import)."""
    from parity import bars

    rows = [
        "| comparison | float64 | float32 |", "| --- | --: | --: |",
        f"| front end, NumPy vs twin, step by step (max \\(\\lvert\\Delta\\rvert\\)) | {sci(bars.FRONT_END_TWIN['float64'])} | "
        f"{sci(bars.FRONT_END_TWIN['float32'])} |",
        f"| model, NumPy vs twin, per layer (relative to the tensor's scale) | {sci(bars.MODEL_TWIN['float64'])} | "
        f"{sci(bars.MODEL_TWIN['float32'])} |",
        f"| model vs transformers: logits, hidden states, loss (relative) | {sci(bars.MODEL_TRANSFORMERS['float64'])} | "
        f"{sci(bars.MODEL_TRANSFORMERS['float32'])} |",
        f"| `fbank` vs kaldi-native-fbank (raw log-mel) | – | mean {sci(bars.KNF_MEAN)}, p99 {sci(bars.KNF_P99)} |",
        f"| `FeatureExtractor` vs transformers (after CMVN) | – | max {sci(bars.HF_FEATURES_MAX)} |",
        f"| beam-search sequence scores vs transformers (relative) | {sci(bars.SEQUENCE_SCORES)} | – |",
    ]  # fmt: skip
    return "\n".join(rows) + "\n"


# --- learning ----------------------------------------------------------------------------


def learning() -> str:
    """The bundled model in float64 on a test recording with its reference as labels: the
    loss, a few gradients, and a central-difference check of three of them."""
    from minis2t.train import loss_and_grads

    m = minis2t.Speech2Text.from_pretrained(dtype=np.float64)
    wave, text, _ = sample()
    feats = m.feature_extractor(wave)["input_features"].astype(np.float64)
    labels = np.array([m.tokenizer.encode(text)])
    loss, grads = loss_and_grads(m, feats, None, labels)
    lines = [f"labels {shape(labels)}: {labels[0].tolist()}",
             f"loss (mean cross-entropy over {labels.shape[1]} tokens) = {loss:.6f}",
             f"gradients: {len(grads)} arrays, one per weight name; for example"]  # fmt: skip
    for name in ("model.encoder.conv.conv_layers.0.weight", "model.encoder.layers.0.fc1.weight",
                 "model.decoder.layers.0.encoder_attn.k_proj.weight", "lm_head.weight"):  # fmt: skip
        g = grads[name]
        lines.append(f"  {name:52s} {shape(g):14s} |g| = {np.linalg.norm(g):.3e}")
    rng = np.random.default_rng(0)
    lines.append("central differences, h = 1e-5: (L(w + h) - L(w - h)) / 2h against the gradient")
    for name in CHECKED:
        w = m.weights[name]
        index = tuple(int(rng.integers(n)) for n in w.shape)
        old = w[index]
        w[index] = old + 1e-5
        plus = loss_and_grads(m, feats, None, labels)[0]
        w[index] = old - 1e-5
        minus = loss_and_grads(m, feats, None, labels)[0]
        w[index] = old
        numeric, analytic = (plus - minus) / 2e-5, grads[name][index]
        lines.append(f"  {name}{list(index)}: {numeric:+.8e} vs {analytic:+.8e}")
    return example("the bundled model's loss and gradients on one recording", code(lines))


def engine_devices() -> str:
    """The performance page's table of engine devices against the reference (timed now)."""
    from engine_devices import devices

    return devices()


# --- the transformers API page ---------------------------------------------------------------


def hf_api() -> str:
    """The transformers API page's tables, from minis2t.hf itself: each call and its
    minis2t equivalent, the signatures as the code has them, and every refusal with why."""
    from minis2t import hf

    def cell(text: str) -> str:
        return text.replace("|", "\\|") or "—"

    lines = ["| transformers | minis2t.hf | note |", "|---|---|---|"]
    lines += [f"| `{cell(a)}` | `{cell(b)}` | {cell(note)} |" for a, b, note in hf.CALLS]
    lines += ["", "The signatures, as the code has them:", "", "```text"]
    for name in ("Speech2TextForConditionalGeneration.forward", "Speech2TextForConditionalGeneration.generate",
                 "Speech2TextFeatureExtractor.__call__", "Speech2TextTokenizer.__call__"):  # fmt: skip
        cls, method = name.split(".")
        lines.append(f"{name}{hf.signature(getattr(getattr(hf, cls), method))}")
    lines += ["```", "", "Refused by name (a typed error that says why), never run differently:", "",
              "| transformers accepts | minis2t refuses because |", "|---|---|"]  # fmt: skip
    lines += [f"| `{cell(what)}` | {cell(why)} |" for what, why in hf.refused()]
    return "\n".join(lines) + "\n"


# --- translation -------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def st_model() -> minis2t.Speech2Text:
    return minis2t.Speech2Text.from_pretrained("bundled-st")


@functools.lru_cache(maxsize=1)
def st_samples() -> tuple[list[np.ndarray], list[dict]]:
    """The bundled translation model's sample recordings (synthetic English speech) and
    their references: the English text and its French, German and Spanish translations."""
    from minis2t.io.checkpoint import BUNDLED_MODELS

    directory = BUNDLED_MODELS["bundled-st"].parent / "samples_st"
    refs = json.loads((directory / "references.json").read_text())
    return [minis2t.load_audio(directory / r["file"]) for r in refs], refs


def translation() -> str:
    m = st_model()
    waves, refs = st_samples()
    feats = m.feature_extractor(waves[:1])["input_features"]
    lines = [f"recording  {refs[0]['file']} (synthetic English speech): \"{refs[0]['text']}\"",
             f"features   {shape(feats)} -> the same encoder states for every language"]  # fmt: skip
    for lang in m.languages:
        lang_id = m.tokenizer.language_id(lang)
        ids = m.generate(feats, forced_bos_token_id=lang_id)
        pieces = m.tokenizer.convert_ids_to_tokens(ids[0])
        lines.append(f"<lang:{lang}> = id {lang_id:2d}: ids {shape(ids)} {pieces[:6]} ... {pieces[-2:]}")
        lines.append(f"              -> \"{m.tokenizer.decode(ids[0], skip_special_tokens=True)}\"")
    return example("one English recording, each language forced", code(lines))


def translation_tokenizer() -> str:
    m = st_model()
    tok = m.tokenizer
    _, refs = st_samples()
    lines = [f"vocabulary {len(tok)} pieces; language codes {', '.join(f'<lang:{c}>={i}' for c, i in tok.lang_code_to_id.items())}",
             f"trained for {m.languages} (generation_config.json: languages)"]  # fmt: skip
    seen, before = {}, tok.tgt_lang
    for lang in m.languages:
        text = refs[0]["translations"][lang]
        tok.tgt_lang = lang  # a target text starts with its language's code
        pieces = tok.convert_ids_to_tokens(tok.encode(text))
        seen[lang] = set(pieces[1:-1])
        lines.append(f"{lang}: \"{text}\"")
        lines.append(f"    {len(pieces)} pieces: {pieces}")
    if before is None:
        tok._tgt_lang = None  # the setter refuses None; the tokenizer started without one
    else:
        tok.tgt_lang = before
    assert "▁factur" in seen["fr"] & seen["es"]  # the page's example of a shared piece
    for a, b in (("fr", "es"), ("fr", "de"), ("es", "de")):
        lines.append(f"pieces in both the {a} and the {b} sentence: {sorted(seen[a] & seen[b])}")
    return example("one vocabulary for three languages", code(lines))


def translation_bleu() -> str:
    """BLEU and chrF of the bundled translation model on its bundled samples, computed
    now with sacrebleu (the recipe's held-out scores follow on the page)."""
    import sacrebleu

    m = st_model()
    waves, refs = st_samples()
    rows = ["| target | BLEU | chrF | sentences | first output |", "| --- | --: | --: | --: | --- |"]
    for lang in m.languages:
        out = m.transcribe(waves, language=lang)
        truth = [r["translations"][lang] for r in refs]
        bleu, chrf = sacrebleu.corpus_bleu(out, [truth]).score, sacrebleu.corpus_chrf(out, [truth]).score
        rows.append(f"| {lang} | {bleu:.1f} | {chrf:.1f} | {len(refs)} | {out[0]} |")
    return "\n".join(rows) + f"\n\n*Computed when this page was built, sacrebleu {sacrebleu.__version__}.*\n"


# --- long form ---------------------------------------------------------------------------

JFK = SPEECH / "en_jfk_inaugural_1961_16k.wav"  # a person speaking, with pauses: public domain
SHORT_LIMIT = 1.5  # seconds: a stand-in for the model's limit, small enough to cut JFK's phrases


@functools.lru_cache(maxsize=4)
def pauses(max_seconds: float = 60.0) -> dict:
    """The segmenter on the JFK recording: energies, the statistics behind the threshold,
    the segments; and every cut that ``max_seconds`` forced."""
    from minis2t.app import longform as L

    wave = minis2t.load_audio(JFK)
    energies = L.frame_energies(wave)  # [T] dB, one per 10 ms
    segmenter = L.Segmenter(max_seconds=max_seconds)
    threshold = segmenter.threshold(energies)
    segments = segmenter.feed(wave) + segmenter.finish()
    return {"wave": wave, "energies": energies, "threshold": threshold, "segments": segments,
            "floor": float(np.percentile(energies, L.FLOOR_PERCENTILE)),
            "level": float(np.percentile(energies, L.SPEECH_PERCENTILE))}  # fmt: skip


def long_form_pauses() -> str:
    from minis2t.app import longform as L

    d = pauses()
    e = d["energies"]
    assert np.isclose(d["threshold"], d["floor"] + L.THRESHOLD_FRACTION * (d["level"] - d["floor"]))
    speech = e > d["threshold"]
    assert len(d["segments"]) == 4  # the page: "11 s with three pauses in it"
    lines = [f"recording   {JFK.name}: {d['wave'].shape[0]} samples = {d['wave'].shape[0] / 16000:.2f} s",
             f"energies    {shape(e)} dB, one per 25 ms frame every 10 ms; from {e.min():.1f} to {e.max():.1f}",
             f"floor       10th percentile  {d['floor']:.1f} dB",
             f"level       95th percentile  {d['level']:.1f} dB",
             f"threshold   {d['floor']:.1f} + 0.35 x ({d['level']:.1f} - ({d['floor']:.1f})) = {d['threshold']:.1f} dB",
             f"speech      {int(speech.sum())} of {e.shape[0]} frames above it",
             f"segments    {len(d['segments'])} (speech padded by 0.15 s, pauses under 0.3 s bridged):"]  # fmt: skip
    for s in d["segments"]:
        pause = "start" if math.isinf(s.pause_before) else f"after a pause of {s.pause_before:.2f} s"
        lines.append(f"  {s.start:5.2f} - {s.end:5.2f} s  ({s.end - s.start:.2f} s, {pause})")
    return example("the pause detector on a person's speech", code(lines))


def long_form_cut() -> str:
    d = pauses(SHORT_LIMIT)
    max_frames = int(SHORT_LIMIT * 100)
    lines = [f"max_seconds {SHORT_LIMIT} -> max_frames {max_frames}; a longer region is cut at the quietest frame",
             f"of its second half-window: frames a + {max_frames // 2} .. a + {max_frames - 1} after its start a"]  # fmt: skip
    segments = d["segments"]
    # a cut: a segment that starts where the previous one ended (a pause leaves a gap)
    cuts = [b.start for a, b in zip(segments, segments[1:]) if abs(b.start - a.end) < 1e-9]
    for s in segments:
        note = "  <- begins at a cut" if s.start in cuts else ""
        lines.append(f"  {s.start:5.2f} - {s.end:5.2f} s  ({s.end - s.start:.2f} s){note}")
    assert cuts and all(s.end - s.start <= SHORT_LIMIT + 1e-9 for s in segments)
    return example(f"a limit of {SHORT_LIMIT} s on the same recording", code(lines))


def dtw_toy() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small attention matrix (3 tokens x 6 frames) and timing.dtw's path through -A."""
    from minis2t.app import timing

    a = np.array([[0.1, 0.7, 0.5, 0.1, 0.0, 0.0],
                  [0.0, 0.1, 0.4, 0.6, 0.2, 0.1],
                  [0.0, 0.0, 0.1, 0.2, 0.5, 0.8]])  # fmt: skip
    rows, cols = timing.dtw(-a)
    return a, rows, cols


def long_form_dtw() -> str:
    a, rows, cols = dtw_toy()
    from minis2t.app import timing

    starts = timing.token_starts(a, free_start=False)
    chosen = list(zip(rows.tolist(), cols.tolist()))
    cost = round(-a[rows, cols].sum(), 9)
    tied = [path for path in monotone_paths(*a.shape) if round(-sum(a[i, j] for i, j in path), 9) == cost]
    assert chosen in tied and all(round(-sum(a[i, j] for i, j in p), 9) >= cost for p in monotone_paths(*a.shape))
    lines = ["A (token x frame):"] + ["  " + " ".join(f"{v:.1f}" for v in row) for row in a]
    lines += [f"path (token, frame): {chosen}",
              f"its cost: -({' + '.join(f'{a[i, j]:.1f}' for i, j in zip(rows, cols))}) = {-a[rows, cols].sum():.1f}"]
    lines += [f"paths of that cost: {len(tied)}"] + [f"  {path}{'  <- returned' if path == chosen else ''}" for path in tied]
    lines += [f"token starts (frame where the path enters each row): {starts.tolist()} "
              f"-> {', '.join(f'{40 * s} ms' for s in starts)} at 40 ms a frame"]  # fmt: skip
    return example("dynamic time warping on a 3 x 6 matrix", code(lines))


def monotone_paths(n: int, m: int, end=None):
    """Every path from (0, 0) to (n - 1, m - 1) with steps right, down or diagonal."""
    i, j = end if end is not None else (n - 1, m - 1)
    if (i, j) == (0, 0):
        yield [(0, 0)]
        return
    for di, dj in ((1, 1), (1, 0), (0, 1)):
        if i >= di and j >= dj:
            for path in monotone_paths(n, m, (i - di, j - dj)):
                yield path + [(i, j)]


# --- the home page -----------------------------------------------------------------------

PARTS = [("The front end: from a file to features", ["audio", "frames", "mel", "cmvn"]),
         ("The model: subsampling, positions, attention, encoder and decoder",
          ["subsampling", "positions", "attention", "encoder-decoder"]),
         ("Decoding: search and the tokenizer", ["search", "tokenizer"]),
         ("Learning: every gradient by hand", ["learning"]),
         ("Beyond one sentence: translation, recordings of any length", ["translation", "long-form"]),
         ("Checking it: parity, fairseq, the bundled model", ["parity", "fairseq", "bundled-model"])]  # fmt: skip
WORDS_PER_MINUTE, MINUTES_PER_EXERCISE = 120, 10


def reading_parts() -> list[tuple[str, list[str], int, int, float]]:
    """Each part of the reading order: (title, pages, words, exercises, minutes), from
    the pages themselves."""
    import re

    docs = ROOT / "docs"
    parts = []
    for title, pages in PARTS:
        words = exercises = 0
        for page in pages:
            text = (docs / f"{page}.md").read_text()
            prose = re.sub(r"```.*?```|<!--.*?-->|\\\[.*?\\\]", " ", text, flags=re.S)  # not code, directives, display math
            words += len(prose.split())
            exercises += text.count('??? question "')
        parts.append((title, pages, words, exercises, words / WORDS_PER_MINUTE + MINUTES_PER_EXERCISE * exercises))
    return parts


def reading_plan() -> str:
    """The reading order with each part's estimated time."""
    rows = ["| part | pages | words | exercises | about |", "| --- | --- | --: | --: | --: |"]
    for title, pages, words, exercises, minutes in reading_parts():
        links = ", ".join(f"[{page}]({page}.md)" for page in pages)
        rows.append(f"| {title} | {links} | {words:,} | {exercises} | {5 * round(minutes / 5):.0f} min |")
    return "\n".join(rows) + "\n"


def reading_hours() -> str:
    """The whole reading order's estimated time, in hours (to the half hour)."""
    hours = sum(part[-1] for part in reading_parts()) / 60
    return f"{round(2 * hours) / 2:g}"


def shape_letters() -> str:
    """The glossary of shape letters, with the sizes read from the models' configs."""
    from minis2t.io.config import S2T_SMALL

    small, bundled = minis2t.ModelConfig(**S2T_SMALL), model().config
    both = lambda f: f"{f(bundled)} / {f(small)}"  # noqa: E731
    rows = [
        ("`N`", "audio samples, 16 000 a second", "–"),
        ("`T`", "feature frames, one every 10 ms: `T = 1 + (N − 400) // 160`", "–"),
        ("`F`", "mel bands per frame", both(lambda c: c.input_feat_per_channel)),
        ("`B`", "items in a batch", "–"),
        ("`C`", "channels of a convolution", both(lambda c: c.conv_channels)),
        ("`S`", "encoder steps after subsampling, one every 40 ms: `S = ⌈T / 4⌉`",
         both(lambda c: f"at most {c.max_source_positions}")),
        ("`D`, `d`", "model width (`d_model`)", both(lambda c: c.d_model)),
        ("`H`", "attention heads; `d_h = D / H` is one head's width", both(lambda c: c.encoder_attention_heads)),
        ("`L`", "output tokens so far: the decoder's length", both(lambda c: f"at most {c.max_target_positions}")),
        ("`K`", "beams in beam search", "–"),
        ("`V`", "vocabulary size", both(lambda c: c.vocab_size)),
    ]  # fmt: skip
    out = ["| letter | means | bundled model / s2t-small |", "| --- | --- | --- |"]
    return "\n".join(out + [f"| {a} | {b} | {c} |" for a, b, c in rows]) + "\n"


# --- learning: one weight first -------------------------------------------------------------


def scalar_gradient() -> str:
    """``y = w x + b``, ``loss = (y - t)^2 / 2`` with one number each: the derivatives by
    hand, by central differences, and by ``minis2t.reference.grad.linear_backward`` on 1 x 1 arrays."""
    from minis2t.reference.grad import linear_backward

    x, w, b, t = 2.0, 0.5, 0.1, 1.5
    loss = lambda w_, b_, x_: 0.5 * (w_ * x_ + b_ - t) ** 2  # noqa: E731
    y = w * x + b
    dy = y - t  # d loss / d y
    by_hand = {"w": dy * x, "b": dy, "x": dy * w}
    h = 1e-4
    numeric = {"w": (loss(w + h, b, x) - loss(w - h, b, x)) / (2 * h),
               "b": (loss(w, b + h, x) - loss(w, b - h, x)) / (2 * h),
               "x": (loss(w, b, x + h) - loss(w, b, x - h)) / (2 * h)}  # fmt: skip
    dx, dw, db = linear_backward(np.array([[dy]]), np.array([[x]]), np.array([[w]]))
    code_ = {"w": float(dw[0, 0]), "b": float(db[0]), "x": float(dx[0, 0])}
    for k in by_hand:  # a quadratic: central differences are exact up to rounding
        assert abs(numeric[k] - by_hand[k]) < 1e-9 and abs(code_[k] - by_hand[k]) < 1e-15
    lines = [f"x = {x}, w = {w}, b = {b}, target t = {t}",
             f"forward   y = w x + b = {w} x {x} + {b} = {y:.1f};  loss = (y - t)^2 / 2 = {loss(w, b, x):.3f}",
             f"backward  dloss/dy = y - t = {dy:.1f}",
             f"          dloss/dw = dloss/dy x x = {dy:.1f} x {x} = {by_hand['w']:.1f}",
             f"          dloss/db = dloss/dy x 1 = {by_hand['b']:.1f}",
             f"          dloss/dx = dloss/dy x w = {dy:.1f} x {w} = {by_hand['x']:.1f}",
             f"central differences, h = {h:g}:  w {numeric['w']:.10f}, b {numeric['b']:.10f}, x {numeric['x']:.10f}",
             f"minis2t.reference.grad.linear_backward on 1 x 1 arrays:  dW {code_['w']:.1f}, db {code_['b']:.1f}, dx {code_['x']:.1f}",
             f"one gradient step, lr 0.1: w {w} -> {w - 0.1 * by_hand['w']:.2f}, b {b} -> {b - 0.1 * by_hand['b']:.2f}; "
             f"loss {loss(w, b, x):.3f} -> {loss(w - 0.1 * by_hand['w'], b - 0.1 * by_hand['b'], x):.4f}"]  # fmt: skip
    return example("one weight, one input", code(lines))

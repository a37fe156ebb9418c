"""Augmentation that moves clean synthetic speech toward real rooms and microphones.

Every function takes a 16 kHz float waveform and a seeded ``numpy.random.Generator`` and
returns a new waveform; :func:`augment` draws a random chain of them per utterance, and
:func:`vtlp_features` warps the frequency axis while computing features. What each one
imitates:

* ``speed`` — talkers' tempo and vocal-tract length together (Kaldi's speed perturbation:
  resampling by 0.85-1.15 moves formants and pitch with the tempo);
* ``vtlp_features`` — vocal-tract length alone: the power spectrum's frequency axis is
  stretched by 0.88-1.12 before the mel filters (Jaitly & Hinton's VTLP);
* ``reverberate`` — rooms: an impulse response from the image-source method
  (``pyroomacoustics``), shoebox rooms of 3-10 m with RT60 0.15-0.9 s, random source and
  microphone positions;
* ``add_background`` — real background: a random stretch of one of the licensed
  recordings shipped in ``tests/data/speech`` (a crowd, a far-field room, other talkers),
  at 5-30 dB SNR;
* ``add_noise`` — white, pink or brown noise at 5-35 dB SNR (electronics, fans, wind);
* ``band_limit`` — telephone (8 kHz sampling, 300-3400 Hz) or a cheap microphone (random
  high-pass 80-400 Hz and low-pass 2.5-7 kHz);
* ``gain_and_clip`` — level from -25 to +10 dB, and with it clipping at full scale;
* ``codec`` — a lossy round trip at a low bit rate, in process with PyAV: AAC (24-96
  kbit/s), Opus (8-48 kbit/s) or MP3 (24-96 kbit/s), as a phone, a messaging app or a
  podcast leaves speech.
"""

from __future__ import annotations

import functools
import io
import math
from pathlib import Path

import numpy as np
import scipy.signal

import minis2t
from minis2t.reference import features as F

RATE = 16000
BACKGROUND_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "speech"


def speed(wave, rng, low=0.85, high=1.15):
    factor = rng.uniform(low, high)
    up, down = 100, int(round(100 * factor))  # play `factor` times faster: fewer samples
    return scipy.signal.resample_poly(wave, up, down).astype(np.float32)


def reverberate(wave, rng):
    import pyroomacoustics as pra

    size = rng.uniform([3, 3, 2.4], [10, 8, 3.5])
    rt60 = rng.uniform(0.15, 0.9)
    absorption, max_order = pra.inverse_sabine(rt60, size)
    room = pra.ShoeBox(size, fs=RATE, materials=pra.Material(absorption), max_order=min(max_order, 12))
    margin = 0.4
    room.add_source(rng.uniform(margin, size - margin))
    room.add_microphone(rng.uniform(margin, size - margin))
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    wet = scipy.signal.fftconvolve(wave, rir)[: wave.shape[0] + RATE // 4]
    return (wet * (np.abs(wave).max() / max(np.abs(wet).max(), 1e-9))).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _backgrounds() -> tuple[np.ndarray, ...]:
    files = sorted(p for p in BACKGROUND_DIR.iterdir() if p.suffix in (".wav", ".flac"))
    return tuple(minis2t.load_audio(p) for p in files)


def _mix(wave, noise, snr_db):
    p_signal = np.mean(wave.astype(np.float64) ** 2) + 1e-12
    p_noise = np.mean(noise.astype(np.float64) ** 2) + 1e-12
    return (wave + noise * math.sqrt(p_signal / p_noise / 10 ** (snr_db / 10))).astype(np.float32)


def add_background(wave, rng, snr=(5, 30)):
    sources = _backgrounds()
    source = sources[rng.integers(len(sources))]
    reps = int(math.ceil(wave.shape[0] / source.shape[0])) + 1
    tiled = np.tile(source, reps)
    start = rng.integers(0, tiled.shape[0] - wave.shape[0])
    return _mix(wave, tiled[start : start + wave.shape[0]], rng.uniform(*snr))


def add_noise(wave, rng, snr=(5, 35)):
    n = wave.shape[0]
    white = rng.standard_normal(n)
    colour = rng.choice(["white", "pink", "brown"])
    if colour != "white":  # shape the spectrum: 1/f (pink) or 1/f^2 (brown) in power
        spectrum = np.fft.rfft(white)
        f = np.maximum(np.arange(spectrum.shape[0]), 1)
        spectrum /= np.sqrt(f) if colour == "pink" else f
        white = np.fft.irfft(spectrum, n)
    return _mix(wave, white, rng.uniform(*snr))


def band_limit(wave, rng):
    if rng.random() < 0.4:  # telephone
        narrow = scipy.signal.resample_poly(wave, 1, 2)
        sos = scipy.signal.butter(4, [300, 3400], "bandpass", fs=8000, output="sos")
        return scipy.signal.resample_poly(scipy.signal.sosfilt(sos, narrow), 2, 1).astype(np.float32)[: wave.shape[0]]
    high = scipy.signal.butter(2, rng.uniform(80, 400), "highpass", fs=RATE, output="sos")
    low = scipy.signal.butter(4, rng.uniform(2500, 7000), "lowpass", fs=RATE, output="sos")
    return scipy.signal.sosfilt(low, scipy.signal.sosfilt(high, wave)).astype(np.float32)


def gain_and_clip(wave, rng):
    peak = max(float(np.abs(wave).max()), 1e-9)
    level = 10 ** (rng.uniform(-25, 10) / 20)  # relative to full scale
    return np.clip(wave * (level / peak), -1.0, 1.0).astype(np.float32)


CODECS = {"aac": ("adts", "aac", (24, 96)), "opus": ("ogg", "libopus", (8, 48)), "mp3": ("mp3", "libmp3lame", (24, 96))}


def encode_decode(wave: np.ndarray, codec: str, kbps: int) -> np.ndarray:
    """``wave`` (16 kHz) through ``codec`` at ``kbps`` and back, in memory; the length is
    kept (the codec's priming delay trimmed, the end padded)."""
    import av

    fmt, encoder, _ = CODECS[codec]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as out:
        stream = out.add_stream(encoder, rate=RATE, layout="mono")
        stream.bit_rate = kbps * 1000
        pcm = np.clip(wave, -1, 1).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="flt", layout="mono")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buffer.seek(0)
    chunks = []
    with av.open(buffer, "r") as source:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        for frame in source.decode(audio=0):
            for piece in resampler.resample(frame):
                chunks.append(piece.to_ndarray().reshape(-1))
    decoded = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    # the codec's delay: align by cross-correlation over the first half second
    probe = min(wave.shape[0], RATE // 2)
    lags = np.arange(0, min(4096, max(decoded.shape[0] - probe, 1)))
    if decoded.shape[0] > probe and probe > 0:
        scores = [float(np.dot(decoded[k : k + probe], wave[:probe])) for k in lags[::16]]
        delay = int(lags[::16][int(np.argmax(scores))])
    else:
        delay = 0
    decoded = decoded[delay : delay + wave.shape[0]]
    return np.pad(decoded, (0, wave.shape[0] - decoded.shape[0])).astype(np.float32)


def codec(wave, rng):
    name = ["aac", "opus", "mp3"][rng.integers(3)]
    low, high = CODECS[name][2]
    return encode_decode(wave, name, int(rng.integers(low, high + 1)))


# (name, probability): each utterance gets each step with its probability, in this order.
CHAIN = (("speed", 0.5), ("reverberate", 0.4), ("add_background", 0.35), ("add_noise", 0.35),
         ("band_limit", 0.3), ("gain_and_clip", 0.3), ("codec", 0.25))  # fmt: skip
STEPS = {"speed": speed, "reverberate": reverberate, "add_background": add_background,
         "add_noise": add_noise, "band_limit": band_limit, "gain_and_clip": gain_and_clip,
         "codec": codec}  # fmt: skip
VTLP_PROBABILITY = 0.5


def augment(wave, rng, disabled=()) -> tuple[np.ndarray, list[str]]:
    """A random chain of the steps above (those not ``disabled``); returns the wave and
    the names of the steps applied."""
    applied = []
    for name, probability in CHAIN:
        if name not in disabled and rng.random() < probability:
            wave = STEPS[name](wave, rng)
            applied.append(name)
    return wave, applied


def vtlp_features(wave: np.ndarray, alpha: float) -> np.ndarray:
    """Normalised features ``[T, 80]`` as ``FeatureExtractor`` computes them, with the power
    spectrum's frequency axis scaled by ``alpha`` (bin k takes the power at k / alpha)."""
    x = wave.astype(np.float64)
    frames = F.frame_signal(F.scale_waveform(x))
    frames = F.preemphasize(F.remove_dc_offset(frames)) * F.povey_window(400, np.float64)
    power = F.power_spectrum(frames)  # [T, 257]
    bins = np.arange(power.shape[1])
    warped = np.stack([np.interp(bins / alpha, bins, row, right=row[-1]) for row in power])
    log_mel = F.log_mel(warped, F.mel_filterbank(80))
    return F.utterance_cmvn(log_mel.astype(np.float32))


def features(wave: np.ndarray, rng, use_vtlp: bool) -> np.ndarray:
    if use_vtlp and rng.random() < VTLP_PROBABILITY:
        return vtlp_features(wave, rng.uniform(0.88, 1.12))
    return minis2t.FeatureExtractor()(wave)["input_features"][0]

"""The PyTorch twin of ``minis2t/reference/features.py``: same functions, same names, same order.

Read it side by side with the NumPy module; each function is a line-for-line translation
(``np.fft.rfft`` -> ``torch.fft.rfft``, ``x.mean(axis=1)`` -> ``x.mean(dim=1)``). Tensors
stay on the device and in the dtype they arrive in (CPU or CUDA, float32 or float64).
Input validation is not repeated here: the twin exists to check the arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from minis2t.io.audio import FRAME_LENGTH, SAMPLING_RATE
from minis2t.reference.features import FFT_SIZE, FRAME_SHIFT, LOG_FLOOR, LOW_FREQ, MEL_BREAK_HZ, MEL_HIGH_Q, POVEY_EXPONENT, PREEMPHASIS, VARIANCE_FLOOR, WAVEFORM_SCALE, num_frames
from minis2t.io.features import padding_strategy


def scale_waveform(waveform: torch.Tensor) -> torch.Tensor:
    """``[N]`` in [-1, 1] -> ``[N]`` in 16-bit sample units."""
    return waveform * WAVEFORM_SCALE


def frame_signal(waveform: torch.Tensor) -> torch.Tensor:
    """``[N] -> [T, 400]``, one frame every 160 samples, snip edges."""
    t = num_frames(waveform.shape[0])
    return waveform.unfold(0, FRAME_LENGTH, FRAME_SHIFT)[:t].clone()  # [T, 400]


def add_dither(frames: torch.Tensor, dither: float, seed: int | None = None) -> torch.Tensor:
    """Same noise as NumPy: drawn from ``np.random.default_rng(seed)``, then moved over."""
    if dither == 0.0:
        return frames
    noise = np.random.default_rng(seed).standard_normal(tuple(frames.shape))  # [T, 400]
    return frames + (dither * torch.from_numpy(noise)).to(frames.dtype).to(frames.device)


def remove_dc_offset(frames: torch.Tensor) -> torch.Tensor:
    """``[T, 400] -> [T, 400]``, each frame minus its mean."""
    return frames - frames.mean(dim=1, keepdim=True)


def preemphasize(frames: torch.Tensor, coefficient: float = PREEMPHASIS) -> torch.Tensor:
    """``y[n] = x[n] - c x[n-1]``, ``y[0] = x[0] - c x[0]``."""
    out = torch.empty_like(frames)  # [T, 400]
    out[:, 1:] = frames[:, 1:] - coefficient * frames[:, :-1]
    out[:, 0] = frames[:, 0] - coefficient * frames[:, 0]
    return out


def povey_window(length: int = FRAME_LENGTH, dtype=torch.float32, device=None) -> torch.Tensor:
    """``(0.5 - 0.5 cos(2 pi n / (L - 1))) ** 0.85``, ``[L]``."""
    n = torch.arange(length, dtype=torch.float64, device=device)
    hann = 0.5 - 0.5 * torch.cos(2.0 * math.pi * n / (length - 1))
    return (hann**POVEY_EXPONENT).to(dtype)


def power_spectrum(frames: torch.Tensor, fft_size: int = FFT_SIZE) -> torch.Tensor:
    """``[T, 400] -> [T, fft/2+1]``, ``|rFFT|**2``."""
    spectrum = torch.fft.rfft(frames, n=fft_size, dim=1)  # [T, 257] complex
    return spectrum.real.square() + spectrum.imag.square()


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    return MEL_HIGH_Q * torch.log1p(hz / MEL_BREAK_HZ)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return MEL_BREAK_HZ * torch.expm1(mel / MEL_HIGH_Q)


def mel_filterbank(
    num_mel_bins: int = 80,
    fft_size: int = FFT_SIZE,
    sampling_rate: int = SAMPLING_RATE,
    low_freq: float = LOW_FREQ,
    high_freq: float | None = None,
    device=None,
) -> torch.Tensor:
    """Kaldi mel triangles ``[fft/2+1, F]`` in float64."""
    if high_freq is None:
        high_freq = sampling_rate / 2
    f64 = dict(dtype=torch.float64, device=device)
    low = MEL_HIGH_Q * math.log1p(low_freq / MEL_BREAK_HZ)
    high = MEL_HIGH_Q * math.log1p(high_freq / MEL_BREAK_HZ)
    edges = torch.linspace(low, high, num_mel_bins + 2, **f64)  # [F+2]
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]  # [F] each
    bin_hz = torch.arange(fft_size // 2 + 1, **f64) * (sampling_rate / fft_size)  # [257]
    mel = hz_to_mel(bin_hz)[:, None]  # [257, 1]
    rising = (mel - left) / (centre - left)  # [257, F]
    falling = (right - mel) / (right - centre)  # [257, F]
    banks = torch.clamp(torch.minimum(rising, falling), min=0.0)  # [257, F]
    banks[-1] = 0.0
    return banks


def log_mel(power: torch.Tensor, banks: torch.Tensor) -> torch.Tensor:
    """``[T, 257] @ [257, F] -> [T, F]``, then ``log(max(., eps))``."""
    energies = power @ banks.to(power.dtype)
    return torch.log(torch.clamp(energies, min=LOG_FLOOR))


def fbank(
    waveform: torch.Tensor, num_mel_bins: int = 80, dither: float = 0.0, seed: int | None = None
) -> torch.Tensor:
    """Raw Kaldi log-mel features ``[N] -> [T, F]`` in the waveform's dtype and device."""
    frames = frame_signal(scale_waveform(waveform))  # [N] -> [T, 400]
    frames = add_dither(frames, dither, seed)
    frames = remove_dc_offset(frames)
    frames = preemphasize(frames)
    frames = frames * povey_window(FRAME_LENGTH, frames.dtype, frames.device)
    power = power_spectrum(frames)  # [T, 257]
    return log_mel(power, mel_filterbank(num_mel_bins, device=frames.device))  # [T, F]


def utterance_cmvn(
    features: torch.Tensor, normalize_means: bool = True, normalize_vars: bool = True
) -> torch.Tensor:
    """Zero mean, unit (population) variance per channel, variance floored at 1e-10."""
    x = features
    if normalize_means:
        x = x - x.double().mean(dim=0).to(x.dtype)
    if normalize_vars:
        std = x.double().std(dim=0, correction=0)
        x = x / torch.clamp(std, min=math.sqrt(VARIANCE_FLOOR)).to(x.dtype)
    return x


def global_cmvn(features: torch.Tensor, mean, std) -> torch.Tensor:
    """fairseq's global CMVN, ``(x - mean) / std`` in float64, back in the features' dtype."""
    mean = torch.as_tensor(mean, dtype=torch.float64, device=features.device)
    std = torch.as_tensor(std, dtype=torch.float64, device=features.device)
    return ((features.double() - mean) / std).to(features.dtype)


def pad_batch(
    features: list[torch.Tensor],
    padding="longest",
    max_length: int | None = None,
    truncation: bool = False,
    pad_to_multiple_of: int | None = None,
    padding_value: float = 0.0,
):
    """``B x [T_i, F] -> [B, T, F]`` and an int32 mask ``[B, T]`` (see the NumPy docstring)."""
    strategy = padding_strategy(padding)
    if truncation:
        features = [x[:max_length] for x in features]
    lengths = [x.shape[0] for x in features]
    if strategy == "do_not_pad" and len(set(lengths)) > 1:
        return list(features), [torch.ones(n, dtype=torch.int32) for n in lengths]
    target = {"longest": max(lengths), "max_length": max_length, "do_not_pad": lengths[0]}[strategy]
    if pad_to_multiple_of and strategy != "do_not_pad":
        target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
    first = features[0]
    batch = torch.full(
        (len(features), max(target, *lengths), first.shape[1]), padding_value,
        dtype=first.dtype, device=first.device,
    )  # fmt: skip
    mask = torch.zeros(batch.shape[:2], dtype=torch.int32, device=first.device)
    for i, x in enumerate(features):
        batch[i, : x.shape[0]] = x
        mask[i, : x.shape[0]] = 1
    return batch, mask


class FeatureExtractor:
    """fbank (float64 DSP) -> float32 -> CMVN -> padding, on torch tensors."""

    def __init__(self, num_mel_bins=80, padding_value=0.0, do_ceptral_normalize=True,
                 normalize_means=True, normalize_vars=True, dither=0.0, device="cpu", global_cmvn=None,
                 **unused):  # fmt: skip
        self.num_mel_bins = num_mel_bins
        self.padding_value = padding_value
        self.do_ceptral_normalize = do_ceptral_normalize
        self.normalize_means = normalize_means
        self.normalize_vars = normalize_vars
        self.dither = dither
        self.device = device
        self.global_cmvn = global_cmvn  # {"mean": [F], "std": [F]} or None

    def __call__(self, raw_speech, padding="longest", max_length=None, truncation=False,
                 pad_to_multiple_of=None, seed=None, **unused) -> dict:  # fmt: skip
        waves = [raw_speech] if _is_single(raw_speech) else list(raw_speech)
        raw = [
            fbank(torch.as_tensor(np.asarray(w), device=self.device).to(torch.float64),
                  self.num_mel_bins, self.dither, None if seed is None else seed + i).float()
            for i, w in enumerate(waves)
        ]  # fmt: skip
        if truncation:
            raw = [x[:max_length] for x in raw]
        if self.do_ceptral_normalize:
            raw = [utterance_cmvn(x, self.normalize_means, self.normalize_vars) for x in raw]
        if self.global_cmvn is not None:
            raw = [global_cmvn(x, self.global_cmvn["mean"], self.global_cmvn["std"]) for x in raw]
        features, mask = pad_batch(
            raw, padding, max_length, False, pad_to_multiple_of, self.padding_value
        )
        return {"input_features": features, "attention_mask": mask}


def _is_single(raw_speech) -> bool:
    return getattr(raw_speech, "ndim", 2) == 1

"""The ``minis2t`` command.

    minis2t features [FILE ...]     load audio, extract features, print a summary

With no FILE, ``features`` uses the recording bundled with the package (a LibriSpeech
utterance, CC BY 4.0; see ``minis2t/assets/SOURCES.md``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .audio import SAMPLING_RATE, load_audio
from .errors import MiniS2TError
from .features import FeatureExtractor, fbank

ASSETS = Path(__file__).parent / "assets"
BUNDLED_RECORDING = ASSETS / "en_librispeech_dev-clean_1272-128104-0000.flac"
BUNDLED_TRANSCRIPT = (
    "MISTER QUILTER IS THE APOSTLE OF THE MIDDLE CLASSES AND WE ARE GLAD TO WELCOME HIS GOSPEL"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minis2t", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    feats = commands.add_parser("features", help="extract log-mel features and summarise them")
    feats.add_argument("files", nargs="*", help="audio files (default: the bundled recording)")
    feats.add_argument("--num-mel-bins", type=int, default=80)
    args = parser.parse_args(argv)
    return _features(args)


def _features(args) -> int:
    files = args.files or [str(BUNDLED_RECORDING)]
    if not args.files:
        print(f"bundled recording: {BUNDLED_RECORDING.name}")
        print(f"reference:         {BUNDLED_TRANSCRIPT}")
    extractor = FeatureExtractor(feature_size=args.num_mel_bins, num_mel_bins=args.num_mel_bins)
    failures = 0
    for path in files:
        try:
            wave = load_audio(path)
            raw = fbank(wave, args.num_mel_bins)  # [T, F]
            normalised = extractor(wave)["input_features"][0]  # [T, F]
        except MiniS2TError as e:
            print(f"{path}: error: {e}", file=sys.stderr)
            failures += 1
            continue
        print(f"{path}")
        print(f"  waveform   {wave.shape[0]} samples, {wave.shape[0] / SAMPLING_RATE:.2f} s at "
              f"16 kHz, peak {np.abs(wave).max():.3f}")  # fmt: skip
        print(f"  log-mel    {raw.shape[0]} frames x {raw.shape[1]} bins, "
              f"range [{raw.min():.2f}, {raw.max():.2f}], mean {raw.mean():.2f}")  # fmt: skip
        print(f"  after CMVN mean {normalised.mean():+.1e}, std {normalised.std():.3f}")
        print(f"  loudest frame {int(raw.sum(1).argmax())} "
              f"({raw.sum(1).argmax() * 0.01:.2f} s); mean log-mel per band, low -> high:")  # fmt: skip
        print("  " + _sparkline(raw.mean(axis=0)))
    return 1 if failures else 0


def _sparkline(values: np.ndarray) -> str:
    """A one-line bar chart of ``values`` (low -> high mel bins)."""
    bars = " ▁▂▃▄▅▆▇█"
    lo, hi = float(values.min()), float(values.max())
    scaled = (values - lo) / (hi - lo + 1e-12) * (len(bars) - 1)
    return "".join(bars[int(round(v))] for v in scaled)


if __name__ == "__main__":
    sys.exit(main())

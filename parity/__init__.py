"""The PyTorch twin of minis2t and the harness that compares it with NumPy and transformers.

``parity/`` mirrors ``minis2t/`` module for module and function for function. It needs
torch (and transformers for the comparisons): ``pip install -e ".[parity]"``.
"""

import torch


def default_device() -> str:
    """``"cuda"`` when a GPU is visible to torch, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"

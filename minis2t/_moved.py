"""The module names of the flat layout before the package had layers, kept importable:
``import minis2t.pipeline`` is ``minis2t.app.pipeline``, and so on. Scripts written
against the old names keep working; new code uses the new ones."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "audio": "io.audio", "checkpoint": "io.checkpoint", "config": "io.config", "fairseq": "io.fairseq",
    "features": "io.features", "tokenizer": "io.tokenizer", "nn": "reference.nn", "model": "reference.model",
    "generate": "reference.generate", "fairseq_search": "reference.fairseq_search", "grad": "reference.grad",
    "model_grad": "reference.model_grad", "pipeline": "app.pipeline", "longform": "app.longform",
    "timing": "app.timing", "formats": "app.formats", "corpus": "app.corpus", "cli": "app.cli",
    "onnx_export": "app.onnx_export", "onnx_runtime": "app.onnx_runtime", "onnx_graphs": "app.onnx_graphs",
}  # fmt: skip


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, package: str):
        self.package = package

    def find_spec(self, name, path=None, target=None):
        head, _, tail = name.rpartition(".")
        if head == self.package and tail in MOVED:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(f"{self.package}.{MOVED[spec.name.rpartition('.')[2]]}")

    def exec_module(self, module):
        pass  # the real module is already executed


def install(package: str) -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias(package))

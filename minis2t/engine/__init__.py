"""The engine: the reference made fast, and held to it.

``nn`` (primitives: the row-block pool, weight and key layouts, item-by-item attention,
``top_k``), ``features`` (fbank in cache-sized blocks), ``model`` (encoder and decoder
with beams sharing their utterance's keys), ``runtime`` (what ``Speech2Text`` runs: the
runtime protocol and the NumPy runtime). Each function equals its :mod:`minis2t.reference`
namesake — bit for bit, or within a stated rounding bound — by ``tests/test_engine.py``.

Beside the NumPy runtime, the second one: ``onnx_runtime`` (an exported directory in
onnxruntime sessions, held to the NumPy model by ``tests/test_onnx.py``) and
``onnx_format`` (the exported directory's names, shapes, manifest and checks, which the
export in :mod:`minis2t.app.onnx_export` writes and the runtime reads).
"""

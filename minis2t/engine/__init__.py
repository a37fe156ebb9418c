"""The engine: the reference made fast, and held to it.

``nn`` (primitives: the row-block pool, weight and key layouts, item-by-item attention),
``features`` (fbank in cache-sized blocks), ``model`` (encoder and decoder
with beams sharing their utterance's keys), ``runtime`` (what ``Speech2Text`` runs).
Each function equals its :mod:`minis2t.reference` namesake — bit for bit, or within a
stated rounding bound — by ``tests/test_engine.py``.
"""

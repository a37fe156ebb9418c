"""How audio, weights and text come in: where a user's data is read and checked, once.

``audio`` (files, bytes, arrays -> float32 [N] at 16 kHz, whole or in blocks; its checks
in ``audio_checks``, its decoders in ``decoders``, ``sndfile_decoder``, ``av_decoder``), ``features`` (``fbank`` and
``FeatureExtractor``: the checked front end), ``config`` (``ModelConfig``,
``GenerationConfig``), ``checkpoint`` (Hugging Face directories, torch-free),
``fairseq`` (fairseq S2T directories, torch-free), ``tokenizer`` (vocab.json +
SentencePiece, language codes).
"""

"""The public names the issues, docs and outside checks rely on stay where they are."""

import inspect

import minis2t


def test_contract_names():
    for name in ("load_audio", "fbank", "FeatureExtractor", "Tokenizer", "load_checkpoint",
                 "save_checkpoint", "Speech2Text", "ModelConfig", "GenerationConfig", "MiniS2TError"):  # fmt: skip
        assert hasattr(minis2t, name), name
    assert issubclass(minis2t.errors.MiniS2TError, ValueError)


def test_signatures():
    params = lambda f: list(inspect.signature(f).parameters)  # noqa: E731
    assert params(minis2t.load_audio)[:2] == ["path_or_array", "sampling_rate"]
    assert params(minis2t.fbank)[:2] == ["waveform", "num_mel_bins"]
    assert params(minis2t.load_checkpoint)[:2] == ["path", "dtype"]
    assert params(minis2t.Speech2Text.from_pretrained)[:2] == ["path", "dtype"]
    assert params(minis2t.Speech2Text.encode)[1:3] == ["input_features", "attention_mask"]
    assert {"decoder_input_ids"} <= set(params(minis2t.Speech2Text.forward))
    assert params(minis2t.Speech2Text.transcribe)[1:5] == ["audio", "sampling_rate", "language", "batch_size"]
    for arg in ("feature_size", "num_mel_bins", "sampling_rate", "padding_value", "do_ceptral_normalize",
                "normalize_means", "normalize_vars", "dither", "return_attention_mask"):  # fmt: skip
        assert arg in params(minis2t.FeatureExtractor), arg
    for arg in ("raw_speech", "sampling_rate", "padding", "max_length", "truncation", "pad_to_multiple_of"):
        assert arg in params(minis2t.FeatureExtractor.__call__), arg

"""What the documentation's *transformers API* page lists: each transformers call and its
``minis2t.hf`` counterpart (:data:`CALLS`), and what is refused by name, with the reason
(:func:`refused`)."""

from __future__ import annotations

import inspect

from .modeling import GENERATE_REFUSED

# (transformers call, minis2t.hf call, note)
CALLS = [
    ("Speech2TextConfig(**fields)", "Speech2TextConfig(**fields)", "every field; unknown keys kept in .extra"),
    ("Speech2TextConfig.from_pretrained(name)", "Speech2TextConfig.from_pretrained(dir or 'bundled-asr')", ""),
    ("Speech2TextFeatureExtractor.from_pretrained(name)", "Speech2TextFeatureExtractor.from_pretrained(...)", ""),
    ("feature_extractor(audio, sampling_rate=, padding=, max_length=, truncation=, pad_to_multiple_of=, "
     "return_attention_mask=, return_tensors='pt')", "the same, return_tensors='np'", "NumPy arrays"),
    ("Speech2TextTokenizer(vocab_file, spm_file, ...)", "Speech2TextTokenizer(vocab_file, spm_file, ...)",
     "sp_model_kwargs honoured"),
    ("tokenizer(text, padding=, truncation=, max_length=, return_attention_mask=, return_tensors=)",
     "the same", "return_tensors None or 'np'"),
    ("tokenizer.build_inputs_with_special_tokens / get_special_tokens_mask / "
     "create_token_type_ids_from_sequences / save_vocabulary / batch_decode / decode", "the same", ""),
    ("Speech2TextProcessor.from_pretrained(name)", "Speech2TextProcessor.from_pretrained(...)", ""),
    ("processor(audio, sampling_rate=, text=, ...)", "the same", "labels when both are given"),
    ("Speech2TextForConditionalGeneration.from_pretrained(name)", "the same (dir or bundled name)",
     "dtype=np.float32 or np.float64"),
    ("Speech2TextForConditionalGeneration(config)", "the same (seed=...)", "random weights, transformers' scheme"),
    ("model(input_features, attention_mask=, decoder_input_ids=, decoder_attention_mask=, labels=, "
     "encoder_outputs=, past_key_values=, use_cache=, output_hidden_states=, output_attentions=)",
     "the same", "past_key_values: per-layer (self_k, self_v, cross_k, cross_v) NumPy arrays"),
    ("model.get_encoder()(input_features, attention_mask=)", "the same", "last_hidden_state, hidden_states, attentions"),
    ("model.generate(inputs=, attention_mask=, num_beams=, max_length=, max_new_tokens=, min_length=, "
     "forced_bos_token_id=, eos_token_id=, length_penalty=, early_stopping=, no_repeat_ngram_size=, "
     "return_dict_in_generate=, output_scores=)", "the same", "greedy and beam search"),
    ("Speech2TextModel(...)(input_features, decoder_input_ids=...).last_hidden_state", "the same", ""),
    ("save_pretrained(dir)", "save_pretrained(dir)", "transformers reads it back"),
]


def refused() -> list[tuple[str, str]]:
    """``(what, why)`` for everything transformers accepts and minis2t refuses by name."""
    from ..reference.nn import ACTIVATIONS

    out = [("return_tensors='pt' / 'tf' / 'jax' / 'mlx'", "minis2t computes in NumPy and returns NumPy")]
    out += [(f"generate({name}=...)", why) for name, (_, why) in GENERATE_REFUSED.items()]
    out += [
        ("forward(decoder_inputs_embeds=...)", "positions come from decoder_input_ids; transformers fails "
                                               "without them too"),
        ("config activation_function outside " + ", ".join(sorted(ACTIVATIONS)), "not implemented (ConfigError)"),
        ("config conv_kernel_sizes with an even kernel", "the subsampled lengths then differ from the odd-kernel "
                                                         "formula the masks use (ConfigError)"),
        ("config with 0 encoder or decoder layers", "not a usable model (ConfigError)"),
        ("config token ids outside the vocabulary", "they would index past the embedding (ConfigError)"),
        ("config dtype other than float32/float64", "NumPy computes in those two"),
        ("Speech2TextTokenizer(bos_token=/eos_token=/pad_token=/unk_token= other than fairseq's, "
         "additional_special_tokens=)", "fairseq's dictionary layout is fixed"),
        ("from_pretrained(revision=, device_map=, ...)", "a local directory or bundled name is read as is"),
    ]
    return out


def signature(obj) -> str:
    """The call signature, for the documentation page."""
    return str(inspect.signature(obj))

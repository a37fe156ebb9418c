"""transformers' ``Speech2TextTokenizer`` (its ``tokenization_speech_to_text``), over
:class:`minis2t.Tokenizer`."""

from __future__ import annotations

from pathlib import Path

from ..errors import TokenizerError, UnsupportedError
from ..io.checkpoint import resolve_model_dir
from ..io.config import read_json
from ..io.tokenizer import Tokenizer
from .outputs import BatchEncoding


class Speech2TextTokenizer(Tokenizer):
    """transformers' ``Speech2TextTokenizer``: built from the two files
    (``Speech2TextTokenizer(vocab_file, spm_file, ...)``) or ``from_pretrained``, with
    transformers' methods and call options (:class:`minis2t.Tokenizer`)."""

    model_input_names = ["input_ids", "attention_mask"]
    bos_token, pad_token, eos_token, unk_token = "<s>", "<pad>", "</s>", "<unk>"

    def __init__(self, vocab_file, spm_file, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                 unk_token="<unk>", do_upper_case=False, do_lower_case=False, tgt_lang=None,
                 lang_codes=None, additional_special_tokens=None, sp_model_kwargs=None,
                 extra_config=None, **kwargs):  # fmt: skip
        given = {"bos_token": bos_token, "eos_token": eos_token, "pad_token": pad_token, "unk_token": unk_token}
        for name, value in given.items():
            if value != getattr(Speech2TextTokenizer, name):
                raise UnsupportedError(f"{name}={value!r}: minis2t keeps fairseq's special tokens "
                                       f"(<s>, <pad>, </s>, <unk> = 0, 1, 2, 3).")  # fmt: skip
        if additional_special_tokens:
            raise UnsupportedError("additional_special_tokens: minis2t's special tokens are fairseq's and "
                                   "the <lang:xx> codes of lang_codes.")  # fmt: skip
        vocab = read_json(Path(vocab_file), TokenizerError) if isinstance(vocab_file, (str, Path)) else vocab_file
        if isinstance(spm_file, (str, Path)):
            if not Path(spm_file).is_file():
                raise TokenizerError(f"{spm_file} not found: the tokenizer needs its SentencePiece model.")
            spm_file = Path(spm_file).read_bytes()
        super().__init__(vocab, spm_file, do_upper_case, do_lower_case, lang_codes, tgt_lang,
                         {**(extra_config or {}), **kwargs}, sp_model_kwargs)  # fmt: skip

    @classmethod
    def from_pretrained(cls, name, **overrides) -> "Speech2TextTokenizer":
        return super().from_pretrained(resolve_model_dir(name), **overrides)

    def __call__(self, text=None, text_pair=None, text_target=None, text_pair_target=None,
                 add_special_tokens: bool = True, **options) -> ModelOutput:  # fmt: skip
        """transformers' call: ``text`` (and ``text_target``, whose ids come back as
        ``labels``), with :meth:`minis2t.Tokenizer.__call__`'s options. Pairs are refused:
        Speech2Text encodes one text per item."""
        if text_pair is not None or text_pair_target is not None:
            raise UnsupportedError("text_pair / text_pair_target: Speech2Text encodes one text per item; "
                                   "join the texts, or call build_inputs_with_special_tokens.")  # fmt: skip
        if text is None and text_target is None:
            raise TokenizerError("give text (or text_target) to the tokenizer.")
        if text is None:
            return BatchEncoding(**super().__call__(text_target, add_special_tokens, **options))
        out = super().__call__(text, add_special_tokens, **options)
        if text_target is not None:
            out["labels"] = super().__call__(text_target, add_special_tokens, **options)["input_ids"]
        return BatchEncoding(**out)

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None,
               **kwargs) -> str:  # fmt: skip
        """Ids -> text (:meth:`minis2t.Tokenizer.decode`). ``clean_up_tokenization_spaces``
        is off for Speech2Text in transformers; turning it on is refused, not ignored."""
        if kwargs:
            raise TokenizerError(f"unknown argument(s) {', '.join(sorted(kwargs))} of decode.")
        if clean_up_tokenization_spaces:
            raise UnsupportedError("clean_up_tokenization_spaces=True: minis2t decodes as Speech2Text's "
                                   "tokenizer does by default, without the English clean-up.")  # fmt: skip
        return super().decode(token_ids, skip_special_tokens)

    def batch_decode(self, sequences, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None,
                     **kwargs) -> list[str]:  # fmt: skip
        return [self.decode(ids, skip_special_tokens, clean_up_tokenization_spaces, **kwargs) for ids in sequences]

    @property
    def prefix_tokens(self) -> list[int]:
        return self.prefix_ids

    @property
    def all_special_tokens(self) -> list[str]:
        return list(self.special_tokens)

    @property
    def all_special_ids(self) -> list[int]:
        return [self.vocab[t] if t in self.vocab else self.sp.PieceToId(t) for t in self.special_tokens]

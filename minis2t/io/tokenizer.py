"""Text <-> token ids, as fairseq's S2T recipes and transformers' ``Speech2TextTokenizer`` do it.

Two files make a vocabulary:

* ``sentencepiece.bpe.model`` — a SentencePiece model (unigram for the released models,
  despite the name) that cuts text into pieces: ``"hello world" -> ["▁hello", "▁world"]``;
* ``vocab.json`` — the fairseq dictionary, piece -> id. fairseq puts ``<s>``=0,
  ``<pad>``=1, ``</s>``=2, ``<unk>``=3 first and then the SentencePiece pieces in order, so
  the ids usually equal SentencePiece's; a piece missing from it becomes ``<unk>``.

Encoding appends ``</s>`` (there is no leading ``<s>``): the decoder starts from ``</s>``
instead. Multilingual translation models add ``<lang:xx>`` tokens; encoding a target text
then starts with the target language's token (``tgt_lang``).

Case: ``do_upper_case`` upper-cases decoded text. ``do_lower_case`` lower-cases text
*before* encoding, as fairseq and transformers 4 did (the released s2t-small sets it);
transformers 5 no longer does, so there ``"Hello"`` keeps its capital H and becomes
``<unk>`` pieces. minis2t follows the config file, i.e. transformers 4.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sentencepiece

from .config import read_json
from ..errors import TokenizerError, UnknownLanguageError, check_return_tensors

BOS, PAD, EOS, UNK = "<s>", "<pad>", "</s>", "<unk>"
SPECIAL_IDS = {BOS: 0, PAD: 1, EOS: 2, UNK: 3}  # fairseq's dictionary layout
LANGUAGE_SETS = {"mustc": ["pt", "fr", "ru", "nl", "ro", "it", "es", "de"]}  # MuST-C's order
VOCAB_FILE, SPM_FILE = "vocab.json", "sentencepiece.bpe.model"


class Tokenizer:
    """A Speech2Text vocabulary: ``encode``, ``decode``, ``batch_decode``, language codes."""

    def __init__(
        self,
        vocab: dict[str, int],
        sp_model: bytes,
        do_upper_case: bool = False,
        do_lower_case: bool = False,
        lang_codes: str | None = None,
        tgt_lang: str | None = None,
        extra_config: dict | None = None,
        sp_model_kwargs: dict | None = None,
    ):
        """
        Args:
            vocab: the fairseq dictionary, piece -> id (``vocab.json``).
            sp_model: the serialised SentencePiece model (bytes of ``sentencepiece.bpe.model``).
            do_upper_case: upper-case decoded text.
            do_lower_case: lower-case text before encoding.
            lang_codes: name of a language set (``"mustc"``) for multilingual models.
            tgt_lang: target language code; defaults to the set's first language.
            extra_config: other ``tokenizer_config.json`` keys, kept for saving.
            sp_model_kwargs: options of ``sentencepiece.SentencePieceProcessor`` (e.g.
                ``{"enable_sampling": True, "nbest_size": -1, "alpha": 0.1}`` for subword
                sampling), as transformers passes them.
        """
        for token, expected in SPECIAL_IDS.items():
            if vocab.get(token) != expected:
                raise TokenizerError(
                    f"vocab.json must map {token!r} to {expected} (fairseq's layout), "
                    f"found {vocab.get(token)!r}"
                )
        self.vocab = dict(vocab)
        self.id_to_piece = {i: p for p, i in self.vocab.items()}
        self.sp_model_proto = bytes(sp_model)
        self.sp_model_kwargs = dict(sp_model_kwargs or {})
        self.sp = _sentencepiece(self.sp_model_proto, self.sp_model_kwargs)
        self.do_upper_case = bool(do_upper_case)
        self.do_lower_case = bool(do_lower_case)
        self.extra_config = dict(extra_config or {})
        self.lang_codes = lang_codes
        if lang_codes is None:
            self.langs: list[str] = []
        elif lang_codes in LANGUAGE_SETS:
            self.langs = list(LANGUAGE_SETS[lang_codes])
        else:
            raise TokenizerError(
                f"unknown lang_codes {lang_codes!r}; known sets: {sorted(LANGUAGE_SETS)}"
            )
        # Like transformers, the language ids come from the SentencePiece model, where
        # fairseq declares "<lang:xx>" as user-defined symbols.
        self.lang_code_to_id = {lang: self.sp.PieceToId(f"<lang:{lang}>") for lang in self.langs}
        self.special_tokens = [BOS, PAD, EOS, UNK] + [f"<lang:{x}>" for x in self.langs]
        self.special_ids = {self.vocab[t] for t in (BOS, PAD, EOS, UNK)}
        self.special_ids |= set(self.lang_code_to_id.values())
        self._tgt_lang = None
        if self.langs:
            self.tgt_lang = tgt_lang if tgt_lang is not None else self.langs[0]
        elif tgt_lang is not None:
            raise UnknownLanguageError(
                f"tgt_lang={tgt_lang!r} given, but this vocabulary has no language codes "
                f"(a monolingual model)."
            )

    # --- ids of the special tokens ------------------------------------------------------
    bos_token_id, pad_token_id, eos_token_id, unk_token_id = 0, 1, 2, 3

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    # --- languages ------------------------------------------------------------------------

    @property
    def tgt_lang(self) -> str | None:
        return self._tgt_lang

    @tgt_lang.setter
    def tgt_lang(self, lang: str) -> None:
        self.language_id(lang)  # raises on an unknown code
        self._tgt_lang = lang

    def language_id(self, lang: str) -> int:
        """The id of ``<lang:xx>``; an :class:`UnknownLanguageError` lists the valid codes."""
        if lang not in self.lang_code_to_id:
            valid = ", ".join(self.langs) if self.langs else "none: this model is monolingual"
            raise UnknownLanguageError(f"unknown language code {lang!r}; valid codes: {valid}")
        return self.lang_code_to_id[lang]

    @property
    def prefix_ids(self) -> list[int]:
        """Ids that start every encoded text: ``[<lang:tgt>]`` or nothing."""
        return [self.lang_code_to_id[self._tgt_lang]] if self._tgt_lang else []

    # --- encoding ---------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """Text -> pieces. Special-token strings in the text (``"</s>"``) stay whole."""
        if not isinstance(text, str):
            raise TokenizerError(f"expected text (str), got {type(text).__name__}")
        pieces: list[str] = []
        for chunk, is_special in _split_on(text, self.special_tokens):
            if is_special:
                pieces.append(chunk)
            else:
                if self.do_lower_case:
                    chunk = chunk.lower()
                pieces.extend(self.sp.encode(chunk, out_type=str))
        return pieces

    def convert_tokens_to_ids(self, pieces: list[str]) -> list[int]:
        """Pieces -> ids through vocab.json; a piece it lacks becomes ``<unk>`` (3)."""
        unk = self.vocab[UNK]
        return [self.vocab.get(p, unk) for p in pieces]

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Text -> ids: ``[<lang:tgt>]? + pieces + [</s>]``."""
        ids = self.convert_tokens_to_ids(self.tokenize(text))
        return self.prefix_ids + ids + [self.eos_token_id] if add_special_tokens else ids

    def __call__(self, text, add_special_tokens: bool = True, padding=False, truncation=False,
                 max_length: int | None = None, return_attention_mask: bool = True,
                 return_tensors: str | None = None, **unknown) -> dict:  # fmt: skip
        """``{"input_ids": ids, "attention_mask": ones}`` for a text (lists of them for a
        list of texts), as transformers' tokenizer returns them.

        ``padding``: False (none), True / ``"longest"`` or ``"max_length"``, on the right
        with ``<pad>``; ``truncation`` cuts the text's tokens so that, with the special
        tokens, at most ``max_length`` remain; ``return_tensors``: None (lists) or ``"np"`` (arrays; ``[1, L]`` for one text, as
        transformers). Anything else is an error, never
        ignored: an unknown keyword is a :class:`TokenizerError`, ``"pt"`` an
        :class:`~minis2t.errors.UnsupportedError` (minis2t returns NumPy)."""
        if unknown:
            raise TokenizerError(f"unknown argument(s) {', '.join(sorted(unknown))} of the tokenizer's "
                                 f"call; it takes add_special_tokens, padding, truncation, max_length, "
                                 f"return_attention_mask, return_tensors.")  # fmt: skip
        check_return_tensors(return_tensors)
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        ids = [self.encode(t, add_special_tokens=False) for t in texts]
        if truncation:  # the text's tokens are cut, the special ones kept (as transformers)
            if max_length is None:
                raise TokenizerError("truncation=True needs max_length (a number of tokens).")
            room = max(0, max_length - (len(self.prefix_ids) + 1 if add_special_tokens else 0))
            ids = [x[:room] for x in ids]
        if add_special_tokens:
            ids = [self.build_inputs_with_special_tokens(x) for x in ids]
        ids, masks = _pad_ids(ids, padding, max_length, self.pad_token_id)
        out = {"input_ids": ids}
        if return_attention_mask:
            out["attention_mask"] = masks
        if return_tensors == "np":
            if len({len(x) for x in ids}) > 1:
                raise TokenizerError("return_tensors='np' needs texts of one length: pass padding=True.")
            return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}
        return {k: v[0] for k, v in out.items()} if single else out

    # --- the special tokens around a text, as transformers' methods name them ------------

    def build_inputs_with_special_tokens(self, token_ids_0: list[int],
                                         token_ids_1: list[int] | None = None) -> list[int]:  # fmt: skip
        """``[<lang:tgt>]? + ids (+ ids_1) + [</s>]``: what :meth:`encode` adds."""
        return self.prefix_ids + list(token_ids_0) + list(token_ids_1 or []) + [self.eos_token_id]

    def get_special_tokens_mask(self, token_ids_0: list[int], token_ids_1: list[int] | None = None,
                                already_has_special_tokens: bool = False) -> list[int]:  # fmt: skip
        """1 for a special token, 0 for a text token: of the ids as given
        (``already_has_special_tokens``) or of what :meth:`build_inputs_with_special_tokens`
        would make of them."""
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise TokenizerError("already_has_special_tokens=True takes one list of ids (token_ids_0).")
            return [1 if int(i) in self.special_ids else 0 for i in token_ids_0]
        text = len(token_ids_0) + len(token_ids_1 or [])
        return [1] * len(self.prefix_ids) + [0] * text + [1]

    def create_token_type_ids_from_sequences(self, token_ids_0: list[int],
                                             token_ids_1: list[int] | None = None) -> list[int]:  # fmt: skip
        """Segment ids over what :meth:`build_inputs_with_special_tokens` makes: 0 for the
        first sequence with its special tokens, 1 for the second's ids (transformers'
        rule). Speech2Text has no segment embedding; the method exists for the API."""
        first = len(self.build_inputs_with_special_tokens(token_ids_0))
        if token_ids_1 is None:
            return [0] * first
        return [0] * first + [1] * (len(self.build_inputs_with_special_tokens(token_ids_0, token_ids_1)) - first)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    # --- decoding ---------------------------------------------------------------------------

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False) -> list[str]:
        """Ids -> pieces; ids vocab.json lacks become ``"<unk>"``."""
        return [self.id_to_piece.get(int(i), UNK) for i in ids
                if not (skip_special_tokens and int(i) in self.special_ids)]  # fmt: skip

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """Ids -> text. Runs of ordinary pieces are joined by SentencePiece; a special token
        is written as itself followed by a space (``"</s> <lang:fr> text</s>"``)."""
        special = set(self.special_tokens)
        out, run = [], []
        for piece in self.convert_ids_to_tokens(ids, skip_special_tokens):
            if piece in special:
                out.append(self._join(run) + piece + " ")
                run = []
            else:
                run.append(piece)
        out.append(self._join(run))
        return "".join(out).strip()

    def batch_decode(self, sequences, skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(ids, skip_special_tokens) for ids in sequences]

    def _join(self, pieces: list[str]) -> str:
        text = self.sp.decode(pieces)
        return text.upper() if self.do_upper_case else text

    # --- files ------------------------------------------------------------------------------

    def save_vocabulary(self, save_directory, filename_prefix: str | None = None) -> tuple[str, str]:
        """Write ``vocab.json`` and ``sentencepiece.bpe.model`` (names prefixed by
        ``filename_prefix-`` when given) into an existing directory; returns their paths."""
        directory = Path(save_directory)
        if not directory.is_dir():
            raise TokenizerError(f"{directory} is not a directory: save_vocabulary writes into one.")
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        vocab_path, spm_path = directory / f"{prefix}{VOCAB_FILE}", directory / f"{prefix}{SPM_FILE}"
        vocab_path.write_text(json.dumps(self.vocab, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        spm_path.write_bytes(self.sp_model_proto)
        return str(vocab_path), str(spm_path)

    @classmethod
    def from_pretrained(cls, directory, sp_model_kwargs: dict | None = None, **overrides) -> "Tokenizer":
        """Read ``vocab.json``, ``sentencepiece.bpe.model`` and ``tokenizer_config.json``.

        ``overrides`` (``do_upper_case``, ``do_lower_case``, ``lang_codes``, ``tgt_lang``)
        win over the config file; ``sp_model_kwargs`` go to SentencePiece."""
        directory = Path(directory)
        bad = sorted(set(overrides) - {"do_upper_case", "do_lower_case", "lang_codes", "tgt_lang"})
        if bad:
            raise TokenizerError(f"unknown tokenizer option(s) {', '.join(bad)}; it takes do_upper_case, "
                                 f"do_lower_case, lang_codes, tgt_lang and sp_model_kwargs.")  # fmt: skip
        missing = [n for n in (VOCAB_FILE, SPM_FILE) if not (directory / n).is_file()]
        if missing:
            raise TokenizerError(
                f"{directory} lacks {', '.join(missing)}; a Speech2Text tokenizer needs "
                f"{VOCAB_FILE} and {SPM_FILE}."
            )
        vocab = read_json(directory / VOCAB_FILE, TokenizerError)
        bad = next(((p, i) for p, i in vocab.items()
                    if isinstance(i, bool) or not isinstance(i, int) or i < 0), None)  # fmt: skip
        if bad is not None:
            raise TokenizerError(
                f"{directory / VOCAB_FILE} must map pieces to non-negative integer ids; "
                f"{bad[0]!r} maps to {bad[1]!r}."
            )
        config_path = directory / "tokenizer_config.json"
        config = read_json(config_path, TokenizerError) if config_path.is_file() else {}
        config = {**config, **overrides}
        if sp_model_kwargs is None:
            sp_model_kwargs = config.get("sp_model_kwargs") or None
        known = ("do_upper_case", "do_lower_case", "lang_codes", "tgt_lang")
        for key in ("do_upper_case", "do_lower_case"):
            if config.get(key) is not None and not isinstance(config[key], bool):
                raise TokenizerError(f"{config_path}: '{key}' must be true or false, got {config[key]!r}.")
        for key in ("lang_codes", "tgt_lang"):
            if config.get(key) is not None and not isinstance(config[key], str):
                raise TokenizerError(f"{config_path}: '{key}' must be a string, got {config[key]!r}.")
        proto = (directory / SPM_FILE).read_bytes()
        try:
            return cls(vocab, proto, **{k: config.get(k) for k in known if config.get(k) is not None},
                       extra_config={k: v for k, v in config.items() if k not in known + ("sp_model_kwargs",)},
                       sp_model_kwargs=sp_model_kwargs)  # fmt: skip
        except RuntimeError as e:  # sentencepiece's parse error
            raise TokenizerError(f"{directory / SPM_FILE} is not a SentencePiece model ({e}).") from None

    def save_pretrained(self, directory) -> None:
        """Write the tokenizer files in the released layout (transformers reads them back)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / VOCAB_FILE).write_text(
            json.dumps(self.vocab, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (directory / SPM_FILE).write_bytes(self.sp_model_proto)
        lang_tokens = [f"<lang:{x}>" for x in self.langs]
        config = {
            **{k: v for k, v in self.extra_config.items() if k not in ("added_tokens_decoder",)},
            "tokenizer_class": "Speech2TextTokenizer",
            "bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "unk_token": UNK,
            "do_upper_case": self.do_upper_case,
            "do_lower_case": self.do_lower_case,
            "lang_codes": self.lang_codes,
            "tgt_lang": self._tgt_lang,
            **({"sp_model_kwargs": self.sp_model_kwargs} if self.sp_model_kwargs else {}),
        }  # fmt: skip
        config.pop("additional_special_tokens", None)
        config.pop("extra_special_tokens", None)
        config.pop("special_tokens_map_file", None)
        (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        special_map = {"bos_token": BOS, "eos_token": EOS, "unk_token": UNK, "pad_token": PAD}
        if lang_tokens:
            special_map["additional_special_tokens"] = lang_tokens
        (directory / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2) + "\n")


def _sentencepiece(proto: bytes, kwargs: dict):
    """A SentencePiece processor with transformers' ``sp_model_kwargs``; an option
    SentencePiece does not take is a :class:`TokenizerError` that names it."""
    if not isinstance(kwargs, dict):
        raise TokenizerError(f"sp_model_kwargs must be a dict, got {type(kwargs).__name__}.")
    try:
        return sentencepiece.SentencePieceProcessor(model_proto=proto, **kwargs)
    except TypeError as e:
        raise TokenizerError(f"sp_model_kwargs {sorted(kwargs)}: SentencePiece refuses them ({e}).") from None


def _pad_ids(ids: list[list[int]], padding, max_length, pad_id: int):
    """Right-pad id lists: ``padding`` False/"do_not_pad", True/"longest" or
    "max_length". Returns ``(ids, attention masks)`` as lists."""
    if padding is True:
        padding = "longest"
    if padding in (False, None):
        padding = "do_not_pad"
    if padding not in ("do_not_pad", "longest", "max_length"):
        raise TokenizerError(f"padding={padding!r}: choose False, True, 'longest' or 'max_length'.")
    if padding == "max_length" and max_length is None:
        raise TokenizerError("padding='max_length' needs max_length (a number of tokens).")
    target = {"do_not_pad": 0, "longest": max(map(len, ids), default=0), "max_length": max_length or 0}[padding]
    masks = [[1] * len(x) + [0] * max(0, target - len(x)) for x in ids]
    return [list(x) + [pad_id] * max(0, target - len(x)) for x in ids], masks


def _split_on(text: str, tokens: list[str]):
    """Yield ``(chunk, is_special)`` pieces of ``text``, special tokens cut out whole
    (the longest one wins where two start at the same place)."""
    by_length = sorted(tokens, key=len, reverse=True)
    start = i = 0
    while i < len(text):
        match = next((t for t in by_length if text.startswith(t, i)), None) if text[i] == "<" else None
        if match is None:
            i += 1
            continue
        if i > start:
            yield text[start:i], False
        yield match, True
        i = start = i + len(match)
    if start < len(text):
        yield text[start:], False


"""The tokenizer from scratch: a SentencePiece *unigram* model cuts text into pieces.

A unigram model is a list of pieces, each with a score ``log p(piece)``. It treats a text
as pieces drawn one after another, independently, so a segmentation ``x = p1 p2 … pm``
has probability ``p(p1) · p(p2) ⋯ p(pm)`` — its log, the sum of the pieces' scores. The
tokenizer picks the segmentation with the highest sum. There are exponentially many
(every cut point is in or out), but the best one is found in one pass over the text
(Viterbi, i.e. dynamic programming on the *lattice* of all pieces that occur in it)::

    best[0] = 0
    best[j] = max over pieces x[i:j] of  best[i] + score(x[i:j])      j = 1 … n

and the pieces are read back from the end, each one's start remembered. ``n`` is the
text's length in characters; each ``j`` looks back at most ``max_piece`` characters, so the
work is ``n · max_piece`` dictionary look-ups.

Four rules turn this into exactly what the ``sentencepiece`` library computes:

* **normalise first**: the model's character map (``nmt_nfkc``: Unicode NFKC plus a few
  rules, e.g. tabs and no-break spaces become spaces) is applied outside the user
  symbols; runs of spaces become one, spaces at the ends go, one space is put in front
  ("dummy prefix": "world" alone and in "hello world" start the same way), and every space
  is written ``▁`` so that a piece can say "starts a word";
* **a character no piece covers** becomes an unknown piece, scored ``min score − 10``, and
  a run of unknown characters is returned as one piece;
* **user symbols** (``<lang:fr>``) are never cut and never normalised: their score
  ``(length in bytes) · max score − 0.1`` is above any segmentation of their letters;
* **ties** go to the path found first (the earlier cut), and the sums are kept in float32,
  the library's type, so that near-ties break the same way.

The application still runs the library (:class:`minis2t.io.tokenizer.Tokenizer`): it is the
same segmentation, written in C++. This module is what the tokenizer page teaches, and a
property test holds it to the library piece for piece.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORD = "\u2581"  # "▁": a space, as pieces write it (the start of a word)
UNK_PENALTY = 10.0  # an unknown character costs the rarest piece's score minus this
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6  # the model file's piece types
UNKNOWN_SURFACE = " \u2047 "  # what decoding writes for the literal "<unk>" piece: " ⁇ "


@dataclass
class Unigram:
    """A unigram vocabulary: ``pieces[i]`` with score ``scores[i]`` and type ``types[i]``."""

    pieces: list[str]  # [V]
    scores: np.ndarray  # [V] float32, log-probabilities of the pieces
    types: np.ndarray  # [V] int, NORMAL / UNKNOWN / CONTROL / USER_DEFINED / UNUSED / BYTE
    char_map: object  # the model's character normaliser (``str -> str``), from the library
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True

    def __post_init__(self):
        usable = (self.types == NORMAL) | (self.types == USER_DEFINED)  # control and unused pieces never match text
        self.index = {p: i for i, p in enumerate(self.pieces) if usable[i]}  # piece -> id, the pieces text can match
        self.ids = {p: i for i, p in enumerate(self.pieces)}  # piece -> id, all of them
        self.max_piece = max(len(p) for p in self.index)  # characters: how far back Viterbi looks
        normal = self.scores[self.types == NORMAL]
        self.min_score, self.max_score = normal.min(), normal.max()
        self.unk_id = int(np.flatnonzero(self.types == UNKNOWN)[0])
        self.user_symbols = sorted((p for i, p in enumerate(self.pieces) if self.types[i] == USER_DEFINED),
                                   key=len, reverse=True)  # longest first: the longest one matches  # fmt: skip

    # --- text -> pieces --------------------------------------------------------------------

    def normalize(self, text: str) -> str:
        """The text the lattice is built on: character map, spaces tidied, ``▁`` for spaces."""
        out = "".join(chunk if chunk in self.user_symbols else self.char_map(chunk)
                      for chunk in split_user_symbols(text, self.user_symbols))  # fmt: skip
        if self.remove_extra_whitespaces:
            out = " ".join(word for word in out.split(" ") if word)  # no run of spaces, none at the ends
        if out and self.add_dummy_prefix:
            out = " " + out
        return out.replace(" ", WORD)

    def piece_score(self, piece_id: int, piece: str) -> np.float32:
        if self.types[piece_id] == USER_DEFINED:  # above any way of spelling it in smaller pieces
            return np.float32(np.float64(len(piece.encode()) * self.max_score) - 0.1)  # float, then a double
        return self.scores[piece_id]

    def viterbi(self, x: str) -> list[tuple[int, int, int]]:
        """The best segmentation of the normalised text ``x``: ``(start, end, id)`` per piece,
        ``id`` the unknown piece's where no piece covers a character."""
        n = len(x)
        best = np.full(n + 1, -np.inf, dtype=np.float32)  # [n+1] best score of x[:j]
        back = [(0, 0, -1)] * (n + 1)  # [n+1] the last piece of that best path: (start, end, id)
        best[0] = 0.0
        unk_score = np.float32(self.min_score - UNK_PENALTY)
        for i in range(n):  # every start; ends are filled left to right, so best[i] is final here
            covered = False  # is there a one-character piece at i?
            for j in range(i + 1, min(n, i + self.max_piece) + 1):
                piece_id = self.index.get(x[i:j])
                if piece_id is None:
                    continue
                covered |= j == i + 1
                score = best[i] + self.piece_score(piece_id, x[i:j])
                if score > best[j]:  # strictly: on a tie the earlier path stays
                    best[j], back[j] = score, (i, j, piece_id)
            if not covered:  # an unknown character: one piece, so the text can always be spelled
                score = best[i] + unk_score
                if score > best[i + 1]:
                    best[i + 1], back[i + 1] = score, (i, i + 1, self.unk_id)
        path, j = [], n
        while j > 0:  # read the best path back from the end
            path.append(back[j])
            j = back[j][0]
        return path[::-1]

    def encode_as_pieces(self, text: str) -> list[str]:
        """``"turn on" -> ["▁turn", "▁on"]``: the pieces of the best segmentation, a run of
        unknown characters as one piece (as the library returns them)."""
        x = self.normalize(text)
        pieces, last_unknown = [], False
        for start, end, piece_id in self.viterbi(x):
            unknown = piece_id == self.unk_id
            if unknown and last_unknown:
                pieces[-1] += x[start:end]  # one piece for the run
            else:
                pieces.append(x[start:end])
            last_unknown = unknown
        return pieces

    # --- pieces -> text --------------------------------------------------------------------

    def decode_pieces(self, pieces: list[str]) -> str:
        """The way back: join the pieces, ``▁`` becomes a space, the dummy prefix goes.

        A control piece (``<s>``, ``</s>``) writes nothing, the literal ``<unk>`` writes
        ``" ⁇ "``, and a piece the vocabulary lacks (a run of unknown characters from
        :meth:`encode_as_pieces`) is copied as it is."""
        out, at_start = [], True  # nothing written yet: the prefix space may still come
        for piece in pieces:
            kind = self.types[self.ids[piece]] if piece in self.ids else UNKNOWN
            if kind == CONTROL:
                continue
            if kind == UNKNOWN:
                out.append(UNKNOWN_SURFACE if piece == self.pieces[self.unk_id] else piece)
            else:
                if at_start and (self.add_dummy_prefix or self.remove_extra_whitespaces):
                    piece = piece.removeprefix(WORD)  # the space the encoder put in front
                out.append(piece.replace(WORD, " "))
            at_start = at_start and not out[-1]  # a piece that wrote nothing ("▁" alone) leaves it there
        return "".join(out)


def split_user_symbols(text: str, symbols: list[str]) -> list[str]:
    """``"<lang:fr>bonjour" -> ["<lang:fr>", "bonjour"]``: user symbols (longest first) cut
    out of the text, left to right, so that they are never normalised."""
    chunks, start, i = [], 0, 0
    while i < len(text):
        symbol = next((s for s in symbols if text.startswith(s, i)), None)
        if symbol is None:
            i += 1
            continue
        chunks += [text[start:i], symbol]
        i = start = i + len(symbol)
    return [c for c in chunks + [text[start:]] if c]


def load_unigram(path) -> Unigram:
    """A ``sentencepiece.bpe.model`` file as a :class:`Unigram`.

    The file is a protocol buffer; reading it is not the lesson, so the library reads it:
    the pieces, their scores and types, the whitespace options, and the model's character
    map (``nmt_nfkc`` for the released and bundled models: a precompiled table, kept as
    the library's normaliser with its whitespace options switched off — this module does
    those itself)."""
    import sentencepiece
    import sentencepiece.sentencepiece_model_pb2 as model_pb2

    model = model_pb2.ModelProto()
    with open(path, "rb") as file:
        model.ParseFromString(file.read())
    char_map = sentencepiece.SentencePieceNormalizer(
        model_file=str(path), add_dummy_prefix=False, escape_whitespaces=False, remove_extra_whitespaces=False
    ).normalize
    spec = model.normalizer_spec
    return Unigram(
        pieces=[p.piece for p in model.pieces],
        scores=np.array([p.score for p in model.pieces], dtype=np.float32),  # [V]
        types=np.array([p.type for p in model.pieces]),  # [V]
        char_map=char_map,
        add_dummy_prefix=spec.add_dummy_prefix,
        remove_extra_whitespaces=spec.remove_extra_whitespaces,
    )

"""Word times from cross-attention (experimental).

The decoder finds each output token's evidence in the audio through cross-attention:
some heads look, token after token, at the stretch of encoder frames where the token is
spoken. Word times follow from that in four steps (the idea of whisper's ``timing.py``,
written for Speech2Text's 40 ms encoder frames):

1. **teacher forcing** (:meth:`minis2t.Speech2Text.score`, read by :func:`attention_of`):
   the decoder runs once more over the tokens the search chose — one pass that also gives
   the confidence signals (:mod:`minis2t.app.confidence`) — and the cross-attention
   weights ``[H, L, S]`` of the chosen heads (``alignment_heads``) and each token's
   log-probability are kept; a token's row is that of the position that predicts it
   (measured: the position whose input it is times words later, by about one token);
2. **normalise** (:func:`alignment_matrix`): standardise each head's weights over the
   tokens (a head that attends to the same frames for every token carries no timing),
   smooth along time with a short median filter (measured: its width hardly matters at
   40 ms frames), and average the heads;
3. **dynamic time warping** (:func:`dtw`): the cheapest monotonic path through
   ``-matrix`` to the last token at the last frame, starting with the first token at any
   frame (the segment's leading pause belongs to no token) — each token gets a run of
   frames, in order;
4. **words** (:func:`words_of`): SentencePiece marks a word's first piece with ``▁``; a
   word starts where the path enters its first token's row and ends where it enters the
   next word's (or the end-of-sentence token's).

Which heads align best is a property of a trained model, found by measurement
(``recipes/long_form/word_times.py``) and stored as ``alignment_heads`` (``[[layer,
head], ...]``) in its ``generation_config.json``; without it, every head of the upper
half of the decoder layers is used (whisper's default for models without a measurement).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

# Measured (recipes/long_form/word_times.py, results/word_times.json): the row that
# stands for a token — 0, the position whose input is the token; 1, the position that
# predicts it — the width of the median filter along time (1: none), and whether the
# first token may start after the first frame (the segment's leading pause).
ROW_SHIFT, MEDIAN_WIDTH, FREE_START = 1, 3, True


def alignment_heads(model) -> list[tuple[int, int]]:
    """``(layer, head)`` pairs whose cross-attention times words: the model's measured
    ``alignment_heads``, or all heads of the decoder's upper half."""
    chosen = model.generation_config.extra.get("alignment_heads")
    if chosen:
        return [(int(layer), int(head)) for layer, head in chosen]
    c = model.config
    return [(layer, head) for layer in range(c.decoder_layers // 2, c.decoder_layers)
            for head in range(c.decoder_attention_heads)]  # fmt: skip


def frame_seconds(config) -> float:
    """Seconds per encoder frame: 10 ms feature frames, halved ``num_conv_layers`` times."""
    return 0.01 * 2**config.num_conv_layers


def cross_attention(model, encoder_states, encoder_mask, sequences, heads) -> dict:
    """Teacher forcing over ``sequences [B, L]`` (decoder start token first, padding
    after end-of-sentence) given the encoder's output (:meth:`Speech2Text.encode`), read
    by :func:`attention_of`."""
    sequences = np.asarray(sequences)
    return attention_of(model.score(sequences, (encoder_states, encoder_mask), output_attentions=True),
                        sequences, heads)  # fmt: skip


def attention_of(scored, sequences: np.ndarray, heads) -> dict:
    """What word times read from a teacher-forced pass (:meth:`Speech2Text.score` with
    ``output_attentions``) over ``sequences [B, L]``: ``weights [B, len(heads), L, S]`` —
    row ``i`` is the position whose input is token ``i`` — and ``logprobs [B, L - 1]`` of
    tokens ``1..L-1``."""
    weights = np.stack([scored["cross_attentions"][layer][:, head] for layer, head in heads], axis=1)
    logprobs = np.take_along_axis(scored["log_probs"], sequences[:, 1:, None], axis=-1)[..., 0]  # [B, L - 1]
    return {"weights": weights, "logprobs": logprobs}


def text_positions(model, targets: np.ndarray) -> np.ndarray:
    """Where the ordinary pieces are among the predicted tokens ``targets``
    (``sequences[b, 1:]``): not padding, end-of-sentence, a language code or another
    special token."""
    return np.flatnonzero((targets != model.config.pad_token_id) & ~np.isin(targets, list(model.tokenizer.special_ids)))


def token_rows(text: np.ndarray, ended: bool, shift: int = ROW_SHIFT) -> np.ndarray:
    """The attention rows of the text tokens at ``text`` (indices into the predicted
    tokens, ``sequences[:, 1:]``), then, if the sequence ``ended`` with end-of-sentence
    right after them, that token's row."""
    rows = text + 1 - shift  # predicted token k is sequence token k + 1
    return np.concatenate([rows, [rows[-1] + 1]]) if ended else rows


def alignment_matrix(weights: np.ndarray, width: int = MEDIAN_WIDTH) -> np.ndarray:
    """Heads' weights ``[H, N, S]`` (N tokens, S real frames) -> one matrix ``[N, S]``:
    each head standardised over the tokens, median-filtered along time, then averaged."""
    w = weights.astype(np.float64)
    w = (w - w.mean(axis=1, keepdims=True)) / (w.std(axis=1, keepdims=True) + 1e-10)
    if width > 1 and w.shape[-1] >= width:
        w = scipy.ndimage.median_filter(w, size=(1, 1, width), mode="nearest")
    return w.mean(axis=0)


def dtw(cost: np.ndarray, free_start: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest monotonic path through ``cost [N, M]`` from ``(0, 0)`` to
    ``(N - 1, M - 1)`` with steps right, down or diagonal: ``(rows, cols)``, one entry per
    step. With ``free_start`` the path may begin at any ``(0, j)`` (the frames before it
    belong to no row). The table is filled one anti-diagonal at a time (its cells depend
    only on the two diagonals before), then walked back."""
    n, m_ = cost.shape
    total = np.full((n + 1, m_ + 1), np.inf)
    total[0, : m_ if free_start else 1] = 0.0  # entering row 0 at column j costs nothing before it
    for d in range(2, n + m_ + 1):  # cells (i, j) of the padded table with i + j = d
        i = np.arange(max(1, d - m_), min(n, d - 1) + 1)
        j = d - i
        best = np.minimum(np.minimum(total[i - 1, j - 1], total[i - 1, j]), total[i, j - 1])
        total[i, j] = cost[i - 1, j - 1] + best
    rows, cols = [], []
    i, j = n, m_
    while i > 0 and j > 0:
        rows.append(i - 1)
        cols.append(j - 1)
        if i == 1 and (free_start or j == 1) and total[1, j] == cost[0, j - 1]:
            break  # the path entered here
        step = int(np.argmin([total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]]))
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    return np.array(rows[::-1]), np.array(cols[::-1])


def token_starts(matrix: np.ndarray, free_start: bool = FREE_START) -> np.ndarray:
    """The frame at which the best path through ``-matrix [N, S]`` enters each row: ``[N]``."""
    rows, cols = dtw(-matrix, free_start)
    first = np.flatnonzero(np.diff(np.concatenate([[-1], rows])))  # where each row begins
    return cols[first]


def words_of(pieces: list[str]) -> list[list[int]]:
    """Indices of the pieces of each word: a piece beginning with ``▁`` starts a word."""
    words: list[list[int]] = []
    for i, piece in enumerate(pieces):
        if piece.startswith("\u2581") or not words:
            words.append([i])
        else:
            words[-1].append(i)
    return words


def word_timestamps(model, encoder_states, encoder_mask, sequences,
                    heads: list[tuple[int, int]] | None = None, scored=None) -> list[dict]:  # fmt: skip
    """For each row of ``sequences`` (what :meth:`Speech2Text.generate` returned for the
    audio that :meth:`Speech2Text.encode` turned into ``encoder_states`` and
    ``encoder_mask``): ``{"words": [{"word", "start", "end",
    "probability"}], "avg_logprob"}``, times in seconds from the start of its audio,
    ``probability`` the mean of the word's token probabilities, ``avg_logprob`` the mean
    log-probability of the row's tokens (end-of-sentence included). ``scored``: the
    teacher-forced pass over ``sequences`` (:meth:`Speech2Text.score` with
    ``output_attentions``) when the caller has it already; else it is run here."""
    tok = model.tokenizer
    heads = alignment_heads(model) if heads is None else heads
    sequences = np.asarray(sequences)
    if scored is None:
        scored = model.score(sequences, (encoder_states, encoder_mask), output_attentions=True)
    att = attention_of(scored, sequences, heads)
    step = frame_seconds(model.config)
    out = []
    for b in range(sequences.shape[0]):
        targets = sequences[b, 1:]
        real = targets != model.config.pad_token_id  # tokens 1.. up to end-of-sentence
        text = text_positions(model, targets)
        avg = float(att["logprobs"][b][real].mean()) if real.any() else None
        if text.size == 0:
            out.append({"words": [], "avg_logprob": avg})
            continue
        frames = int(np.asarray(encoder_mask)[b].sum())
        # the text tokens' rows, then the end-of-sentence token's when the search stopped there
        ended = bool(text[-1] + 1 < real.size and real[text[-1] + 1])
        rows = token_rows(text, ended)
        matrix = alignment_matrix(att["weights"][b][:, rows, :frames])
        starts = token_starts(matrix) * step
        if not ended:
            starts = np.concatenate([starts, [frames * step]])
        pieces = tok.convert_ids_to_tokens(targets[text])
        words = []
        for idx in words_of(pieces):
            following = idx[-1] + 1  # the next word's first token, or end-of-sentence
            probability = float(np.exp(att["logprobs"][b][text[idx]]).mean())
            words.append({"word": tok.decode(targets[text[idx]]), "start": round(float(starts[idx[0]]), 3),
                          "end": round(float(starts[following]), 3), "probability": round(probability, 4)})  # fmt: skip
        out.append({"words": words, "avg_logprob": avg})
    return out

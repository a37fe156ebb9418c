"""From encoder states to token ids: greedy search and beam search.

Both follow transformers' ``generate`` exactly (version 5), so the same model gives the
same tokens. The decoder is driven through one function, ``step(tokens, cache) ->
(logits, cache)``; the cache is data (see :class:`minis2t.reference.model.KVCache`), and beam
search reorders it explicitly when beams swap places.

Three rules shape the scores, as in transformers (its "logits processors"), applied in
this order to every step's scores:

* ``no_repeat_ngram_size = n``: a token that would repeat an n-gram already in the
  sequence (the start token included) gets -inf;
* ``min_length``: EOS (every id of ``eos_token_ids``) gets -inf while the sequence
  (start token included) is shorter;
* ``forced_bos_token_id``: at the first step every token but this one gets -inf and it
  gets 0 (multilingual translation: the target language's ``<lang:xx>`` token).

Scores are float32, whatever the model's dtype: transformers casts the logits to
float32 before searching, and so do we.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .nn import log_softmax

NEG_INF = np.float32(-np.inf)
DEAD = np.float32(-1.0e9)  # transformers' "impossible" score: finite, so sums stay ordered


@dataclass(frozen=True)
class GenerateOutput:
    """What a search returns.

    ``sequences [B, L]``: ids starting with the decoder start token, finished rows padded
    with ``pad_token_id``, cropped to the longest row. ``sequences_scores [B]``: beam
    search's length-normalised log-probability of each returned sequence (None for
    greedy). ``scores``: per step, the processed scores ``[B or B*K, V]`` (if asked).
    ``steps`` (beam searches; None for greedy): one dict per step, for drawing the search:
    the candidates' source beams ``beam``, tokens ``token`` and running scores ``score``
    ``[B, 2K]``, which of them ended ``ends [B, 2K]``, and the live beams' positions among
    the candidates ``live [B, K]``.
    """

    sequences: np.ndarray
    sequences_scores: np.ndarray | None = None
    scores: list | None = None
    steps: list | None = None


def max_length_of(options, prompt_length: int = 1) -> int:
    """The longest output in tokens: ``max_new_tokens`` counts after the prompt (the
    decoder start token) and wins; ``max_length`` counts the prompt."""
    if options.max_new_tokens is not None:
        return prompt_length + options.max_new_tokens
    return options.max_length


# --- the score rules -------------------------------------------------------------------


def process_scores(sequences: np.ndarray, scores: np.ndarray, options):
    """Apply the score rules to ``scores [N, V]`` for ``sequences [N, cur_len]``."""
    cur_len = sequences.shape[1]
    scores = scores.copy()
    n = options.no_repeat_ngram_size
    if n and cur_len + 1 >= n:
        for row, banned in enumerate(banned_ngram_tokens(sequences, n)):
            scores[row, banned] = NEG_INF
    if options.min_length > 0 and cur_len < options.min_length:
        scores[:, list(options.eos_token_ids)] = NEG_INF  # every stop id
    if options.forced_bos_token_id is not None and cur_len == 1:
        scores[:] = NEG_INF
        scores[:, options.forced_bos_token_id] = 0.0
    return scores


def banned_ngram_tokens(sequences: np.ndarray, n: int) -> list[list[int]]:
    """For each row, the tokens that would complete an n-gram the row already holds."""
    banned = []
    for row in sequences.tolist():
        prefix = tuple(row[len(row) - n + 1 :]) if n > 1 else ()
        seen = [gram[-1] for gram in zip(*[row[i:] for i in range(n)]) if gram[:-1] == prefix]
        banned.append(seen)
    return banned


def top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest of each row ``[N, M]`` (no NaN), largest first: ``(values [N, k],
    indices [N, k])``, ties to the lower index — what a stable sort of ``-x`` puts first.

    Picked one at a time: ``argmax`` returns the first of the largest values, which is then
    set aside (-inf). Once only -inf is left in a row, the first index not yet picked.
    ``k`` scans of a row cost less than sorting it: beam search asks for ``2K`` of ``K V``.
    """
    rows = np.arange(x.shape[0])
    rest = x.copy()  # [N, M]: the values not picked yet, the picked ones -inf
    left = np.ones(x.shape, dtype=bool)  # [N, M]: not picked yet
    idx = np.empty((x.shape[0], k), dtype=np.int64)
    for j in range(k):
        pick = rest.argmax(axis=-1)  # [N]
        spent = rest[rows, pick] == -np.inf  # only -inf left: in index order
        pick[spent] = left[spent].argmax(axis=-1)
        idx[:, j] = pick
        rest[rows, pick] = -np.inf
        left[rows, pick] = False
    return np.take_along_axis(x, idx, axis=-1), idx


# --- greedy search -----------------------------------------------------------------------


def greedy_search(step, cache, batch: int, options, output_scores: bool = False) -> GenerateOutput:
    """Take the most likely token each step, until every row has ended.

    A row ends with EOS (any of ``eos_token_ids``) or at ``max_length``; ended rows are padded with ``pad_token_id``
    while the others go on.
    """
    max_length = max_length_of(options)
    sequences = np.full((batch, 1), options.decoder_start_token_id, dtype=np.int64)  # [B, 1]
    unfinished = np.ones(batch, dtype=bool)  # [B]
    all_scores = []
    while True:
        logits, cache = step(sequences[:, -1:], cache)  # [B, V]
        scores = process_scores(sequences, logits.astype(np.float32), options)  # [B, V]
        if output_scores:
            all_scores.append(scores)
        tokens = np.where(unfinished, scores.argmax(axis=-1), options.pad_token_id)  # [B]
        sequences = np.concatenate([sequences, tokens[:, None]], axis=1)  # [B, L + 1]
        unfinished &= ~np.isin(tokens, options.eos_token_ids) & (sequences.shape[1] < max_length)
        if not unfinished.any():
            return GenerateOutput(sequences, None, all_scores if output_scores else None)


# --- beam search ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BeamState:
    """Everything beam search knows between two steps, for ``B`` items with ``K`` beams.

    running:          [B, K, max_len] the live hypotheses (filled with pad past cur_len)
    running_scores:   [B, K] their summed log-probabilities (-1e9 for dead slots)
    finished:         [B, K, max_len] the best hypotheses that have ended so far
    finished_scores:  [B, K] their length-normalised scores, best first
    finished_lengths: [B, K] their lengths, start token included
    is_finished:      [B, K] whether a slot of ``finished`` holds a real hypothesis
    improvable:       [B] whether a live beam could still beat the worst finished one
    """

    running: np.ndarray
    running_scores: np.ndarray
    finished: np.ndarray
    finished_scores: np.ndarray
    finished_lengths: np.ndarray
    is_finished: np.ndarray
    improvable: np.ndarray


def init_beams(batch: int, options, max_length: int) -> BeamState:
    """All beams start as the lone start token; only beam 0 is live (score 0), the others
    are -1e9 so the first step does not pick K copies of the same continuation."""
    k = options.num_beams
    fill = options.pad_token_id if options.pad_token_id else options.eos_token_id
    running = np.full((batch, k, max_length), fill, dtype=np.int64)
    running[:, :, 0] = options.decoder_start_token_id
    running_scores = np.zeros((batch, k), dtype=np.float32)
    running_scores[:, 1:] = DEAD
    return BeamState(
        running,
        running_scores,
        running.copy(),
        np.full((batch, k), DEAD),
        np.ones((batch, k), dtype=np.int64),
        np.zeros((batch, k), dtype=bool),
        np.ones(batch, dtype=bool),
    )


def beam_search(step, cache, batch: int, options, output_scores: bool = False) -> GenerateOutput:
    """Keep the ``K = num_beams`` best partial hypotheses of each item at every step.

    ``cache`` holds ``B * K`` rows (item-major: the beams of item 0, then of item 1, ...).
    Each step, in order:

    1. score every continuation of every live beam: running score + log p(token);
    2. keep the best ``2K`` candidates per item (enough that K survive even if K end);
    3. mark the candidates that end here (EOS, or ``max_length`` reached);
    4. the best K candidates that did *not* end become the live beams;
    5. the ending candidates among the best K become finished hypotheses, scored
       ``sum log p / generated_length ** length_penalty``; an item keeps its K best;
    6. reorder the cache rows to follow each live beam's source beam;
    7. decide whether each item can still improve (the early-stopping rule).

    The output's ``steps`` record each step's candidates and live beams (see
    :class:`GenerateOutput`).
    """
    k, max_length = options.num_beams, max_length_of(options)
    state = init_beams(batch, options, max_length)
    all_scores, steps = [], []
    cur_len = 1
    while True:
        # 1. score every continuation --------------------------------------------------
        last = state.running[:, :, cur_len - 1].reshape(batch * k, 1)  # [B*K, 1]
        logits, cache = step(last, cache)  # [B*K, V]
        log_probs = log_softmax(logits.astype(np.float32))  # [B*K, V]
        flat_running = state.running[:, :, :cur_len].reshape(batch * k, cur_len)
        log_probs = process_scores(flat_running, log_probs, options)  # [B*K, V]
        if output_scores:
            all_scores.append(log_probs)
        vocab = log_probs.shape[-1]
        totals = log_probs.reshape(batch, k, vocab) + state.running_scores[:, :, None]  # [B, K, V]

        # 2. the best 2K candidates ---------------------------------------------------------
        cand_scores, flat_index = top_k(totals.reshape(batch, k * vocab), 2 * k)  # [B, 2K]
        cand_beam, cand_token = flat_index // vocab, flat_index % vocab  # [B, 2K]
        cand_seqs = np.take_along_axis(state.running, cand_beam[:, :, None], axis=1)  # [B, 2K, max_len]
        cand_seqs[:, :, cur_len] = cand_token

        # 3. which candidates end here ------------------------------------------------------
        ends = np.isin(cand_token, options.eos_token_ids) | (cur_len + 1 >= max_length)  # [B, 2K]

        # 4. the live beams: best K that did not end ---------------------------------------
        live_scores = cand_scores + ends.astype(np.float32) * DEAD  # [B, 2K]
        live_scores, pick = top_k(live_scores, k)  # [B, K]
        running = np.take_along_axis(cand_seqs, pick[:, :, None], axis=1)  # [B, K, max_len]
        source_beam = np.take_along_axis(cand_beam, pick, axis=1)  # [B, K]
        steps.append({"beam": cand_beam, "token": cand_token, "score": cand_scores, "ends": ends, "live": pick})

        # 5. the finished hypotheses ----------------------------------------------------------
        state = _update_finished(state, cand_seqs, cand_scores, ends, cur_len, options)
        state = replace(state, running=running, running_scores=live_scores)

        # 6. the cache follows the beams --------------------------------------------------------
        rows = (np.arange(batch)[:, None] * k + source_beam).reshape(-1)  # [B*K]
        cache = cache.reorder(rows)
        cur_len += 1

        # 7. can each item still improve? -------------------------------------------------------
        state = _check_improvable(state, cur_len, max_length, options)
        if _should_stop(state, ends, options):
            return _beam_output(state, options, all_scores if output_scores else None, steps)


def _update_finished(state: BeamState, cand_seqs, cand_scores, ends, cur_len: int, options) -> BeamState:
    """Step 5: merge the candidates that just ended into each item's K best finished."""
    k = options.num_beams
    in_top_k = np.zeros(ends.shape[1], dtype=bool)
    in_top_k[:k] = True  # only the best K of the 2K may finish; the rest are spares
    just_finished = ends & in_top_k[None, :]  # [B, 2K]
    generated = cur_len  # tokens after the start token, the ending one included
    normalised = cand_scores / np.float32(generated**options.length_penalty)  # [B, 2K]
    full = state.is_finished.all(axis=1, keepdims=True) & (options.early_stopping is True)
    normalised = normalised + full.astype(np.float32) * DEAD  # no more room once full
    normalised = normalised + (~state.improvable[:, None]).astype(np.float32) * DEAD
    normalised = normalised + (~just_finished).astype(np.float32) * DEAD
    merged_scores = np.concatenate([state.finished_scores, normalised], axis=1)  # [B, 3K]
    best_scores, pick = top_k(merged_scores, k)  # [B, K]
    merged_seqs = np.concatenate([state.finished, cand_seqs], axis=1)  # [B, 3K, max_len]
    lengths = np.full(ends.shape, cur_len + 1, dtype=np.int64)
    merged_lengths = np.concatenate([state.finished_lengths, lengths], axis=1)
    merged_is_finished = np.concatenate([state.is_finished, just_finished], axis=1)
    return replace(
        state,
        finished=np.take_along_axis(merged_seqs, pick[:, :, None], axis=1),
        finished_scores=best_scores,
        finished_lengths=np.take_along_axis(merged_lengths, pick, axis=1),
        is_finished=np.take_along_axis(merged_is_finished, pick, axis=1),
    )


def _check_improvable(state: BeamState, cur_len: int, max_length: int, options) -> BeamState:
    """Step 7: transformers' early-stop heuristic.

    The best live beam, normalised as if it ended now (or, for ``early_stopping="never"``
    with a positive length penalty, as if it ended at ``max_length``), is compared with
    the worst finished hypothesis; once it cannot beat it, the item stops improving for good.
    """
    lp = options.length_penalty
    if options.early_stopping == "never" and lp > 0.0:
        best_length = max_length - 1
    else:
        best_length = cur_len - 1
    best_possible = state.running_scores[:, :1] / np.float32(best_length**lp)  # [B, 1]
    worst_finished = np.where(state.is_finished, state.finished_scores.min(axis=1, keepdims=True), DEAD)
    improvable = state.improvable & (best_possible > worst_finished).any(axis=1)  # [B]
    return replace(state, improvable=improvable)


def _should_stop(state: BeamState, ends: np.ndarray, options) -> bool:
    """Stop when no item can improve, or (early_stopping=True) every item has K finished
    hypotheses, or every candidate has ended (max_length)."""
    if not state.improvable.any():
        return True
    if state.is_finished.all() and options.early_stopping is True:
        return True
    return bool(ends.all())


def _beam_output(state: BeamState, options, scores, steps) -> GenerateOutput:
    """Each item's best finished hypothesis, cropped to the longest of them."""
    length = int(state.finished_lengths[:, 0].max())
    return GenerateOutput(state.finished[:, 0, :length].copy(), state.finished_scores[:, 0].copy(), scores, steps)

"""fairseq's beam search (``SequenceGenerator`` with ``BeamSearch``), in NumPy.

The WERs published for fairseq's S2T models come from this search, not from
transformers' ``generate``. The two keep ``2K`` candidates per step and let only the best
``K`` of them end, but differ in the rules around that:

* **length normalisation** — fairseq divides a finished hypothesis's summed
  log-probability by ``(tokens generated, EOS included) ** lenpen``; transformers by the
  same count (its ``generated_len``), so the scores agree, but:
* **when an item stops** — fairseq stops an item as soon as ``K`` hypotheses have ended
  (transformers' ``early_stopping=True``), and never compares a live beam with the
  finished ones; the best of the ``K`` finished is returned, whatever might have come later;
* **length limits** — at most ``max_len = min(max_len_a * src_len + max_len_b,
  max_target_positions - 1)`` tokens before EOS (``src_len`` counts input *frames*); at
  step ``max_len`` only EOS is allowed, so every live beam ends there;
* **score rules** — ``<pad>`` is never chosen, ``<unk>`` pays ``unk_penalty``, EOS is
  forbidden for the first ``min_len`` steps (1 by default: no empty transcripts);
* **ties** — candidates with equal scores keep the lower index (the order
  ``torch.topk`` gives on CPU for the sizes here), final hypotheses the higher score.

:func:`beam_search` takes the same ``step(tokens, cache) -> (logits, cache)`` function as
:func:`minis2t.reference.generate.beam_search` and returns a
:class:`~minis2t.reference.generate.GenerateOutput` in the same layout (start token first, padded),
its ``steps`` recording each step's candidates and live beams.
"""

from __future__ import annotations

import numpy as np

from .generate import GenerateOutput, top_k
from .nn import log_softmax

NEG_INF = np.float32(-np.inf)


def beam_search(
    step,
    cache,
    batch: int,
    beam: int,
    max_len: int,
    vocab_size: int,
    min_len: int = 1,
    len_penalty: float = 1.0,
    unk_penalty: float = 0.0,
    eos: int = 2,
    pad: int = 1,
    unk: int = 3,
) -> GenerateOutput:
    """fairseq's beam search over ``batch`` items of ``beam`` beams each (the cache holds
    ``batch * beam`` rows, item-major). The decoder starts from EOS, as in fairseq."""
    k = min(beam, vocab_size - 1)
    tokens = np.full((batch * k, max_len + 2), pad, dtype=np.int64)  # [B*K, max_len + 2]
    tokens[:, 0] = eos
    scores = np.zeros((batch * k, max_len + 1), dtype=np.float32)  # running sums per step
    finalized: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    finished = np.zeros(batch, dtype=bool)
    ignore = np.zeros((batch, k), dtype=bool)  # live slots holding no real candidate
    offsets = (np.arange(batch) * k)[:, None]  # [B, 1]
    steps = []  # per step, as transformers' search records them (GenerateOutput.steps)
    for t in range(max_len + 1):
        logits, cache = step(tokens[:, t : t + 1], cache)  # [B*K, V]
        lprobs = log_softmax(logits.astype(np.float32))
        lprobs[np.isnan(lprobs)] = NEG_INF
        lprobs[:, pad] = NEG_INF
        lprobs[:, unk] -= np.float32(unk_penalty)
        if t >= max_len:  # only EOS from here
            eos_column = lprobs[:, eos].copy()
            lprobs[:] = NEG_INF
            lprobs[:, eos] = eos_column
        if t < min_len:
            lprobs[:, eos] = NEG_INF
        totals = lprobs.reshape(batch, k, -1)
        if t == 0:  # every beam is the lone start token: look at one
            totals = totals[:, :1]
        else:
            totals = totals + scores.reshape(batch, k, -1)[:, :, t - 1 : t]
        flat = totals.reshape(batch, -1)
        n_cand = min(2 * k, flat.shape[1] - 1)  # (fairseq: -1 so that pad is never needed)
        cand_scores, index = top_k(flat, n_cand)  # [B, 2K], best first
        cand_beams, cand_tokens = index // vocab_size, index % vocab_size
        cand_rows = cand_beams + offsets  # [B, 2K] rows of tokens/scores

        # Candidates among the best K that end with EOS are finalised (K per item at most).
        ends = (cand_tokens == eos) & (cand_scores != NEG_INF)  # [B, 2K]
        ends[:, :k] &= ~ignore
        newly = []
        for b in np.flatnonzero(ends[:, :k].any(axis=1) & ~finished):
            for i in np.flatnonzero(ends[b, :k]):
                if len(finalized[b]) < k:
                    hypothesis = tokens[cand_rows[b, i], 1 : t + 1].tolist() + [eos]
                    score = cand_scores[b, i] / np.float32((t + 1) ** len_penalty)
                    finalized[b].append((float(score), hypothesis))
            if len(finalized[b]) == k or t == max_len:
                newly.append(b)
        finished[newly] = True

        # The live beams: the best K candidates that did not end (ranks, EOS ones last).
        blocked = ends.copy()
        blocked[:, :k] |= ignore
        rank = blocked.astype(np.int64) * n_cand + np.arange(n_cand)  # [B, 2K]
        active = np.argsort(rank, axis=1, kind="stable")[:, :k]  # [B, K]
        steps.append({"beam": cand_beams, "token": cand_tokens, "score": cand_scores, "ends": ends, "live": active})
        if finished.all() or t >= max_len:
            break
        ignore = np.take_along_axis(rank, active, axis=1) >= n_cand
        rows = np.take_along_axis(cand_rows, active, axis=1).reshape(-1)  # [B*K]
        tokens[:, : t + 1] = tokens[rows, : t + 1]
        tokens[:, t + 1] = np.take_along_axis(cand_tokens, active, axis=1).reshape(-1)
        scores[:, :t] = scores[rows, :t]
        scores[:, t] = np.take_along_axis(cand_scores, active, axis=1).reshape(-1)
        cache = cache.reorder(rows)
    return _output(finalized, eos, pad, steps)


def _output(finalized, eos: int, pad: int, steps: list) -> GenerateOutput:
    """Each item's best finalised hypothesis (the first of equal scores), start token first."""
    best = [max(enumerate(hyps), key=lambda x: (x[1][0], -x[0]))[1] for hyps in finalized]
    length = 1 + max(len(tokens) for _, tokens in best)
    sequences = np.full((len(best), length), pad, dtype=np.int64)
    for row, (_, tokens) in enumerate(best):
        sequences[row, 0] = eos  # fairseq's decoder starts from EOS
        sequences[row, 1 : 1 + len(tokens)] = tokens
    return GenerateOutput(sequences, np.array([s for s, _ in best], dtype=np.float32), steps=steps)

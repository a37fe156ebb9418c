"""The PyTorch twin of ``minis2t/reference/generate.py``: same functions, same names, same order.

Scores are float32 torch tensors; ``step(tokens, cache) -> (logits, cache)`` drives the
twin decoder (``parity.model.decode``). Comments and shapes are in the NumPy module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from minis2t.io.config import GenerationConfig
from minis2t.reference.generate import max_length_of

from .nn import log_softmax

DEAD = -1.0e9


@dataclass(frozen=True)
class GenerateOutput:
    sequences: torch.Tensor
    sequences_scores: torch.Tensor | None = None
    scores: list | None = None


def process_scores(sequences, scores, options: GenerationConfig):
    cur_len = sequences.shape[1]
    scores = scores.clone()
    n = options.no_repeat_ngram_size
    if n and cur_len + 1 >= n:
        for row, banned in enumerate(banned_ngram_tokens(sequences, n)):
            scores[row, banned] = -torch.inf
    if options.min_length > 0 and cur_len < options.min_length:
        scores[:, options.eos_token_id] = -torch.inf
    if options.forced_bos_token_id is not None and cur_len == 1:
        scores[:] = -torch.inf
        scores[:, options.forced_bos_token_id] = 0.0
    return scores


def banned_ngram_tokens(sequences, n: int) -> list[list[int]]:
    banned = []
    for row in sequences.tolist():
        prefix = tuple(row[len(row) - n + 1 :]) if n > 1 else ()
        banned.append([gram[-1] for gram in zip(*[row[i:] for i in range(n)]) if gram[:-1] == prefix])
    return banned


def top_k(x, k: int):
    idx = torch.argsort(-x, dim=-1, stable=True)[:, :k]
    return torch.gather(x, -1, idx), idx


def greedy_search(step, cache, batch: int, options: GenerationConfig, output_scores=False,
                  device="cpu") -> GenerateOutput:  # fmt: skip
    max_length = max_length_of(options)
    sequences = torch.full((batch, 1), options.decoder_start_token_id, dtype=torch.int64, device=device)
    unfinished = torch.ones(batch, dtype=torch.bool, device=device)
    all_scores = []
    while True:
        logits, cache = step(sequences[:, -1:], cache)
        scores = process_scores(sequences, logits.float(), options)
        if output_scores:
            all_scores.append(scores)
        tokens = torch.where(unfinished, scores.argmax(dim=-1), options.pad_token_id)
        sequences = torch.cat([sequences, tokens[:, None]], dim=1)
        unfinished &= (tokens != options.eos_token_id) & (sequences.shape[1] < max_length)
        if not unfinished.any():
            return GenerateOutput(sequences, None, all_scores if output_scores else None)


@dataclass(frozen=True)
class BeamState:
    running: torch.Tensor
    running_scores: torch.Tensor
    finished: torch.Tensor
    finished_scores: torch.Tensor
    finished_lengths: torch.Tensor
    is_finished: torch.Tensor
    improvable: torch.Tensor


def init_beams(batch: int, options: GenerationConfig, max_length: int, device="cpu") -> BeamState:
    k = options.num_beams
    fill = options.pad_token_id if options.pad_token_id else options.eos_token_id
    running = torch.full((batch, k, max_length), fill, dtype=torch.int64, device=device)
    running[:, :, 0] = options.decoder_start_token_id
    running_scores = torch.zeros((batch, k), dtype=torch.float32, device=device)
    running_scores[:, 1:] = DEAD
    return BeamState(running, running_scores, running.clone(),
                     torch.full((batch, k), DEAD, dtype=torch.float32, device=device),
                     torch.ones((batch, k), dtype=torch.int64, device=device),
                     torch.zeros((batch, k), dtype=torch.bool, device=device),
                     torch.ones(batch, dtype=torch.bool, device=device))  # fmt: skip


def beam_search(step, cache, batch: int, options: GenerationConfig, output_scores=False,
                device="cpu") -> GenerateOutput:  # fmt: skip
    k, max_length = options.num_beams, max_length_of(options)
    state = init_beams(batch, options, max_length, device)
    all_scores = []
    cur_len = 1
    while True:
        # 1. score every continuation
        last = state.running[:, :, cur_len - 1].reshape(batch * k, 1)
        logits, cache = step(last, cache)
        log_probs = log_softmax(logits.float())
        flat_running = state.running[:, :, :cur_len].reshape(batch * k, cur_len)
        log_probs = process_scores(flat_running, log_probs, options)
        if output_scores:
            all_scores.append(log_probs)
        vocab = log_probs.shape[-1]
        totals = log_probs.reshape(batch, k, vocab) + state.running_scores[:, :, None]

        # 2. the best 2K candidates
        cand_scores, flat_index = top_k(totals.reshape(batch, k * vocab), 2 * k)
        cand_beam, cand_token = flat_index // vocab, flat_index % vocab
        cand_seqs = torch.gather(state.running, 1, cand_beam[:, :, None].expand(-1, -1, max_length)).clone()
        cand_seqs[:, :, cur_len] = cand_token

        # 3. which candidates end here
        ends = (cand_token == options.eos_token_id) | (cur_len + 1 >= max_length)

        # 4. the live beams
        live_scores = cand_scores + ends.float() * DEAD
        live_scores, pick = top_k(live_scores, k)
        running = torch.gather(cand_seqs, 1, pick[:, :, None].expand(-1, -1, max_length))
        source_beam = torch.gather(cand_beam, 1, pick)

        # 5. the finished hypotheses
        state = _update_finished(state, cand_seqs, cand_scores, ends, cur_len, options)
        state = replace(state, running=running, running_scores=live_scores)

        # 6. the cache follows the beams
        rows = (torch.arange(batch, device=device)[:, None] * k + source_beam).reshape(-1)
        cache = cache.reorder(rows)
        cur_len += 1

        # 7. can each item still improve?
        state = _check_improvable(state, cur_len, max_length, options)
        if _should_stop(state, ends, options):
            return _beam_output(state, options, all_scores if output_scores else None)


def _update_finished(state, cand_seqs, cand_scores, ends, cur_len, options) -> BeamState:
    k = options.num_beams
    in_top_k = torch.zeros(ends.shape[1], dtype=torch.bool, device=ends.device)
    in_top_k[:k] = True
    just_finished = ends & in_top_k[None, :]
    normalised = cand_scores / (cur_len**options.length_penalty)
    full = state.is_finished.all(dim=1, keepdim=True) & (options.early_stopping is True)
    normalised = normalised + full.float() * DEAD
    normalised = normalised + (~state.improvable[:, None]).float() * DEAD
    normalised = normalised + (~just_finished).float() * DEAD
    merged_scores = torch.cat([state.finished_scores, normalised], dim=1)
    best_scores, pick = top_k(merged_scores, k)
    merged_seqs = torch.cat([state.finished, cand_seqs], dim=1)
    lengths = torch.full(ends.shape, cur_len + 1, dtype=torch.int64, device=ends.device)
    merged_lengths = torch.cat([state.finished_lengths, lengths], dim=1)
    merged_is_finished = torch.cat([state.is_finished, just_finished], dim=1)
    return replace(
        state,
        finished=torch.gather(merged_seqs, 1, pick[:, :, None].expand(-1, -1, merged_seqs.shape[2])),
        finished_scores=best_scores,
        finished_lengths=torch.gather(merged_lengths, 1, pick),
        is_finished=torch.gather(merged_is_finished, 1, pick),
    )


def _check_improvable(state, cur_len, max_length, options) -> BeamState:
    lp = options.length_penalty
    best_length = max_length - 1 if options.early_stopping == "never" and lp > 0.0 else cur_len - 1
    best_possible = state.running_scores[:, :1] / (best_length**lp)
    worst_finished = torch.where(state.is_finished, state.finished_scores.amin(dim=1, keepdim=True), DEAD)
    improvable = state.improvable & (best_possible > worst_finished).any(dim=1)
    return replace(state, improvable=improvable)


def _should_stop(state, ends, options) -> bool:
    if not state.improvable.any():
        return True
    if state.is_finished.all() and options.early_stopping is True:
        return True
    return bool(ends.all())


def _beam_output(state, options, scores) -> GenerateOutput:
    length = int(state.finished_lengths[:, 0].max())
    return GenerateOutput(state.finished[:, 0, :length].clone(), state.finished_scores[:, 0].clone(), scores)


@torch.no_grad()
def generate(params, config, features, attention_mask, options: GenerationConfig,
             output_scores=False, positions=None) -> GenerateOutput:  # fmt: skip
    """Encode, then search: the twin of ``minis2t.reference.run.generate``. ``positions``
    may give ``{"encoder": table, "decoder": table}`` in place of the computed tables."""
    from . import model as tm

    device = features.device
    positions = positions or {}
    enc = tm.encode(params, config, features, attention_mask, positions.get("encoder"))
    batch, k = features.shape[0], options.num_beams
    states = enc["last_hidden_state"].repeat_interleave(k, dim=0)
    mask = enc["mask"].repeat_interleave(k, dim=0)

    def step(tokens, cache):
        out = tm.decode(params, config, tokens, cache, mask, positions=positions.get("decoder"))
        return out["logits"][:, -1], out["cache"]

    cache = tm.init_cache(params, config, states)

    search = greedy_search if k == 1 else beam_search
    return search(step, cache, batch, options, output_scores, device)

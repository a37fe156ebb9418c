"""The one door to the searches: which search runs, and how long its output may be.

    options.num_beams == 1          -> greedy search            (transformers' rules)
    options.num_beams  > 1          -> beam search              (transformers' rules)
    rules == "fairseq"              -> fairseq's beam search    (its SequenceGenerator)

The reference run, the application and its transformers-style API all search through
:func:`search`, so they choose the same way. Its ``step(tokens, cache) -> (logits, cache)``
is the decoder, whichever code computes it (see :func:`minis2t.reference.generate.beam_search`).
"""

from __future__ import annotations

from . import fairseq_search
from .generate import GenerateOutput, beam_search, greedy_search, max_length_of

RULES = ("transformers", "fairseq")  # whose search: transformers' generate, fairseq's SequenceGenerator


def search(
    step, cache, batch: int, options, vocab_size: int, rules: str = "transformers", output_scores: bool = False
) -> GenerateOutput:
    """Token ids for ``batch`` items (the cache holds ``batch * num_beams`` rows) under
    ``options`` (a :class:`~minis2t.io.config.GenerationConfig`).

    fairseq's search runs ``num_beams`` beams with ``length_penalty`` as its ``lenpen``,
    at most ``max_length - 2`` tokens before EOS (its output, start token and EOS
    included, is then as long as transformers' at most) and at least
    ``max(1, min_length - 1)``; it gives no per-step ``scores``."""
    if rules == "fairseq":
        return fairseq_search.beam_search(
            step,
            cache,
            batch,
            options.num_beams,
            max(1, max_length_of(options) - 2),
            vocab_size,
            min_len=max(1, options.min_length - 1),
            len_penalty=options.length_penalty,
            eos=options.eos_token_id,
            pad=options.pad_token_id,
        )
    if options.num_beams == 1:
        return greedy_search(step, cache, batch, options, output_scores)
    return beam_search(step, cache, batch, options, output_scores)

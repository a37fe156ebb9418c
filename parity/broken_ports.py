"""Ports with one stage done wrong, each a mistake a porter can make, for ``minis2t golden check`` to find.

Each is the twin port (:class:`parity.port.TwinPort`) with one method overridden; the check
must name the stage where the mistake first shows (``tests/test_golden.py``, and the
worked examples of docs/porting.md, which include this file). ``DEFECTS`` lists them with
that stage and the searches they need to run.
"""

from __future__ import annotations

import torch

from . import features as tf
from .port import TwinPort


class InterleavedPositions(TwinPort):
    """"Attention Is All You Need"'s layout: sin and cos alternating, not all sines first."""

    def positions(self, rows):
        table = super().positions(rows)
        half = table.shape[1] // 2
        out = torch.empty_like(table)
        out[:, 0::2], out[:, 1::2] = table[:, :half], table[:, half:]
        return out


class UnbiasedCMVN(TwinPort):
    """The sample standard deviation (divided by T - 1) instead of the population's (T)."""

    def cmvn(self, log_mel):
        x = log_mel - log_mel.double().mean(dim=0).to(log_mel.dtype)
        return x / x.double().std(dim=0, correction=1).to(x.dtype)


class PreemphasisFirst(TwinPort):
    """Pre-emphasis before DC removal (Kaldi removes the DC offset first)."""

    def dc_and_preemphasis(self, frames, dump):
        dump.put("frontend.preemphasized", frames := tf.preemphasize(frames))
        dump.put("frontend.dc_removed", frames := tf.remove_dc_offset(frames))
        return frames


class NoEmbedScale(TwinPort):
    """No sqrt(d_model) on the embeddings (the config's scale_embedding ignored)."""

    def embed_scale(self):
        return 1.0


class RawScoreRanking(TwinPort):
    """Finished hypotheses ranked by their summed log-probability, not normalised by length."""

    def search_options(self, options):
        return options.replace(length_penalty=0.0)


# (port, the stage the check must name first ("*": any step), the searches it needs)
DEFECTS = [
    (InterleavedPositions, "encoder.positions", ()),
    (UnbiasedCMVN, "frontend.features", ()),
    (PreemphasisFirst, "frontend.dc_removed", ()),
    (NoEmbedScale, "encoder.input", ()),
    (RawScoreRanking, "search.transformers.step.*.finished", ("transformers",)),
]

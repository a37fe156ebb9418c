"""Train a small Speech2Text model with the PyTorch twin (``parity.model``).

The twin's ``encode`` / ``decode`` are plain differentiable torch functions over a dict of
weights, so training is: weights as leaf tensors, a forward pass through the twin, a loss,
Adam. What the recipe adds to make attention learn to align quickly on a 2-core CPU:

* an auxiliary CTC loss on the encoder (training only: its projection is not shipped),
  which forces the encoder frames to carry the tokens in order;
* label-smoothed cross-entropy (0.1), as fairseq's S2T recipe;
* Adam with a linear warm-up and a cosine decay;
* SpecAugment (frequency and time masks) once the model has started to learn.
"""

from __future__ import annotations

import math
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

import minis2t
import parity.model as tm


def init_weights(config: minis2t.ModelConfig, seed: int) -> dict[str, np.ndarray]:
    """transformers' initialisation of this architecture, as a NumPy weights dict."""
    from transformers import Speech2TextConfig, Speech2TextForConditionalGeneration

    torch.manual_seed(seed)
    hf_config = Speech2TextConfig(**{k: v for k, v in config.to_dict().items()
                                     if k not in ("architectures", "model_type")})  # fmt: skip
    model = Speech2TextForConditionalGeneration(hf_config)
    return minis2t.checkpoint.prepare_weights(
        config, {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}, np.float32
    )


def make_batches(lengths: list[int], max_frames: int, rng: random.Random) -> list[list[int]]:
    """Group utterances of similar length so that B x T_max <= max_frames."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i] + rng.random())
    batches, current = [], []
    for i in order:
        if current and (len(current) + 1) * lengths[i] > max_frames:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def spec_augment(x: torch.Tensor, lengths: list[int], rng: random.Random) -> torch.Tensor:
    """Two frequency masks (<= 8 bins) and two time masks (<= 10 % of the frames)."""
    x = x.clone()
    for b, t in enumerate(lengths):
        for _ in range(2):
            f = rng.randint(0, 8)
            f0 = rng.randint(0, x.shape[2] - f)
            x[b, :t, f0 : f0 + f] = 0.0
            w = rng.randint(0, max(1, t // 10))
            t0 = rng.randint(0, max(0, t - w))
            x[b, t0 : t0 + w, :] = 0.0
    return x


def train(config: minis2t.ModelConfig, features: list[np.ndarray], targets: list[list[int]],
          steps: int, seed: int = 0, max_frames: int = 12000, peak_lr: float = 2e-3,
          warmup: int = 400, ctc_weight: float = 0.3, smoothing: float = 0.1,
          spec_augment_from: int = 1500, log=print) -> dict[str, np.ndarray]:  # fmt: skip
    """Train for ``steps`` updates; returns the weights (NumPy, float32, no CTC head)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    torch.set_num_threads(2)
    weights = init_weights(config, seed)
    # One leaf tensor per distinct array (the tied head shares the embedding's).
    leaves: dict[int, torch.Tensor] = {}
    named = {}
    for name, array in weights.items():
        if id(array) not in leaves:
            leaves[id(array)] = torch.from_numpy(array.copy()).requires_grad_(True)
        named[name] = leaves[id(array)]
    ctc_head = torch.nn.Linear(config.d_model, config.vocab_size)  # training only
    parameters = list(leaves.values()) + list(ctc_head.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=peak_lr, betas=(0.9, 0.98), weight_decay=0.01)
    lengths = [f.shape[0] for f in features]
    batches: list[list[int]] = []
    start, running = time.time(), None
    for step in range(1, steps + 1):
        if not batches:
            batches = make_batches(lengths, max_frames, rng)
        batch = batches.pop()
        lr = learning_rate(step, steps, peak_lr, warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, parts = _loss(config, named, ctc_head, features, targets, batch, ctc_weight, smoothing,
                            rng if step >= spec_augment_from else None)  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 5.0)
        optimizer.step()
        running = parts if running is None else {k: 0.98 * running[k] + 0.02 * v for k, v in parts.items()}
        if step % 100 == 0 or step == steps:
            log(f"step {step:5d}/{steps}  lr {lr:.2e}  ce {running['ce']:.3f}  ctc {running['ctc']:.3f}  "
                f"{time.time() - start:6.0f} s")  # fmt: skip
    return {name: named[name].detach().numpy().copy() for name in weights}


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up to ``peak``, then a cosine decay to 2 % of it at the last step."""
    if step <= warmup:
        return peak * step / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def _loss(config, named, ctc_head, features, targets, batch, ctc_weight, smoothing, augment_rng):
    lengths = [features[i].shape[0] for i in batch]
    t_max = max(lengths)
    x = torch.zeros((len(batch), t_max, features[batch[0]].shape[1]))
    mask = torch.zeros((len(batch), t_max), dtype=torch.int64)
    for b, i in enumerate(batch):
        x[b, : lengths[b]] = torch.from_numpy(features[i].astype(np.float32))
        mask[b, : lengths[b]] = 1
    if augment_rng is not None:
        x = spec_augment(x, lengths, augment_rng)
    l_max = max(len(targets[i]) for i in batch)
    labels = torch.full((len(batch), l_max), -100, dtype=torch.int64)
    for b, i in enumerate(batch):
        labels[b, : len(targets[i])] = torch.tensor(targets[i])
    params = tm.nest(named)
    enc = tm.encode(params, config, x, mask)
    decoder_input = tm.shift_tokens_right(labels, config.pad_token_id, config.decoder_start_token_id)
    cache = tm.init_cache(params, config, enc["last_hidden_state"])
    out = tm.decode(params, config, decoder_input, cache, enc["mask"])  # trailing pads: causal mask
    ce = F.cross_entropy(out["logits"].reshape(-1, config.vocab_size), labels.reshape(-1),
                         ignore_index=-100, label_smoothing=smoothing)  # fmt: skip
    # CTC over the encoder frames; blank is <s> (id 0), which never occurs in a target.
    log_probs = F.log_softmax(ctc_head(enc["last_hidden_state"]), dim=-1).transpose(0, 1)  # [S, B, V]
    ctc_targets = [torch.tensor([t for t in targets[i] if t != config.eos_token_id]) for i in batch]
    ctc = F.ctc_loss(log_probs, torch.cat(ctc_targets), enc["mask"].sum(1),
                     torch.tensor([len(t) for t in ctc_targets]), blank=0, zero_infinity=True)  # fmt: skip
    loss = (1 - ctc_weight) * ce + ctc_weight * ctc
    return loss, {"ce": ce.item(), "ctc": ctc.item()}

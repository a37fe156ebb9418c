"""The reference: Speech2Text as the math, to be read.

Read in this order — the data path, waveform to tokens:

* :mod:`~minis2t.reference.features` — frames, window, power spectrum, mel filter bank,
  log and CMVN: ``[N] -> [T, F]``;
* :mod:`~minis2t.reference.nn` — the primitives: linear, layer norm, activations, GLU,
  softmax, 1-D convolution, sinusoidal positions, masks, attention;
* :mod:`~minis2t.reference.model` — conv subsampler, encoder, decoder with its KV cache,
  LM head: ``[B, T, F] -> [B, S, D] -> [B, L, V]``;
* :mod:`~minis2t.reference.generate` — greedy and beam search with transformers' rules,
  :mod:`~minis2t.reference.fairseq_search` — beam search with fairseq's,
  :mod:`~minis2t.reference.search` — the one door that picks among them;
* :mod:`~minis2t.reference.run` — the line above in one function;
* :mod:`~minis2t.reference.tokenizer` — text to pieces and back: the unigram model's
  segmentation (Viterbi over the pieces' log-probabilities);

and the way back, loss to gradients: :mod:`~minis2t.reference.grad` (each primitive's
backward) and :mod:`~minis2t.reference.model_grad` (each block's).

Nothing here is there for speed, and nothing checks its inputs: both live elsewhere
(:mod:`minis2t.engine`, :mod:`minis2t.io`). This package imports only NumPy and SciPy
(and the ``sentencepiece`` library, to read a vocabulary file in ``tokenizer.load_unigram``).
"""

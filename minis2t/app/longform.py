"""Recordings of any length: read in blocks, cut at pauses, decode segment by segment.

A Speech2Text encoder takes at most ``max_source_positions`` subsampled frames (60 s for
the bundled model, 4 minutes for s2t-small), and the bundled model was trained on one
sentence at a time. So a long recording is cut where the speaker pauses:

1. **read in blocks** (:func:`blocks`): ``BLOCK_SECONDS`` of audio at a time, mixed to
   mono and resampled to 16 kHz as it streams, so memory does not grow with the file;
2. **frame energies** (:func:`frame_energies`): the log energy of every 25 ms frame,
   10 ms apart — the frames the front end uses;
3. **speech or pause** (:class:`Segmenter`): a frame is speech when its energy is
   above a threshold set between the recording's noise floor and its speech level (low
   and high percentiles of the energies so far); pauses of at least ``min_pause`` seconds
   end a segment; segments longer than the model allows are cut at their quietest frame;
4. each segment is decoded like a short clip; two neighbours apart by a short pause are
   also decoded as one, and kept as one sentence when the model is clearly surer of that
   reading (``JOIN_MARGIN``); the texts are joined;
5. one teacher-forced pass over each segment's tokens (:meth:`minis2t.Speech2Text.score`,
   on the encoder states the search used) gives its words' times from cross-attention
   (:mod:`minis2t.app.timing`) and its confidence signals (:mod:`minis2t.app.confidence`).

Each segment keeps its start and end time in the recording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..io.audio import (
    SAMPLING_RATE,
    AudioCheck,
    _describe,
    is_encoded,
    load_audio,
    open_decoder,
    resample,
)
from . import confidence as conf
from . import timing

BLOCK_SECONDS = 30.0  # audio read per step
# What the command and the corpus lines say of a recording in which the model finds no words.
NO_WORDS = "the model produced no words for this recording (an empty transcript)."
HOP, WINDOW = 160, 400  # 10 ms hop, 25 ms frames (as fbank)
FLOOR_PERCENTILE, SPEECH_PERCENTILE = 10, 95  # of the frame energies (dB)
THRESHOLD_FRACTION = 0.35  # threshold = floor + this x (speech level - floor)
MIN_RANGE_DB = 12.0  # below this floor-to-speech range a block is all speech or all silence
SILENCE_DB = -70.0  # digital silence: never speech, whatever the statistics say
PAD_SECONDS = 0.15  # kept before and after each speech region (onsets, fading endings)
# The threshold follows the recording: statistics of the last HISTORY blocks only (about a
# minute), so that a noisy stretch is judged against its own noise floor, not against the
# digital silence of a clean stretch minutes earlier.
HISTORY = 2
# Sentences have pauses inside them too; a stretch of speech shorter than this is taken
# for a fragment of its neighbour when the pause between them is shorter than BRIDGE.
FRAGMENT_SECONDS, BRIDGE_SECONDS = 1.2, 0.7


def frame_energies(wave: np.ndarray) -> np.ndarray:
    """Log energy (dB relative to full scale) of each 25 ms frame, 10 ms apart:
    ``[N] -> [1 + (N - 400) // 160]`` (as many as fbank gives)."""
    n = 1 + (wave.shape[0] - WINDOW) // HOP if wave.shape[0] >= WINDOW else 0
    squares = np.concatenate([[0.0], np.cumsum(wave.astype(np.float64) ** 2)])
    starts = np.arange(n) * HOP
    power = (squares[starts + WINDOW] - squares[starts]) / WINDOW
    return 10 * np.log10(np.maximum(power, 1e-12))


class _Resampler:
    """:func:`minis2t.resample` of a stream, block by block, equal to resampling the whole.

    Polyphase resampling by ``up/down`` is shift-invariant for input shifts of ``down``
    samples (the output shifts by ``up``). So the stream is resampled in pieces that
    start at multiples of ``down`` and carry ``reach`` samples of context on each side,
    the filter's half-length; only outputs whose whole filter support lies inside the
    piece (or beyond the stream's ends, where both see zeros) are kept."""

    def __init__(self, rate: int):
        g = math.gcd(rate, SAMPLING_RATE)
        self.rate, self.up, self.down = rate, SAMPLING_RATE // g, rate // g
        self.reach = 10 * max(self.up, self.down) // self.up + 2  # input samples (resample_poly's half-length)
        self.buffer = np.zeros(0, np.float32)
        self.base = 0  # global index of buffer[0], a multiple of down
        self.emitted = 0  # output samples given so far

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        self.buffer = np.concatenate([self.buffer, block])
        end_in = self.base + self.buffer.shape[0]
        total_out = -(-end_in * self.up // self.down)  # ceil: resample_poly's length
        # outputs j whose input support (j * down / up +- reach) ends inside the buffer
        ready = total_out if last else max(0, ((end_in - self.reach) * self.up) // self.down)
        if ready <= self.emitted:
            return np.zeros(0, np.float32)
        out = resample(self.buffer, self.rate, SAMPLING_RATE)
        first = self.base * self.up // self.down  # global index of out[0]
        samples = out[self.emitted - first : ready - first]
        self.emitted = ready
        drop = max(0, (self.emitted * self.down) // self.up - self.reach - self.base)
        drop -= drop % self.down
        self.buffer, self.base = self.buffer[drop:], self.base + drop
        return samples.astype(np.float32)


def blocks(source, block_seconds: float = BLOCK_SECONDS, sampling_rate: int | None = None):
    """16 kHz mono float32 blocks of encoded audio — a path, the bytes of a file or a
    binary file object — decoded as it streams (:func:`minis2t.io.audio.open_decoder`:
    libsndfile, or FFmpeg through PyAV). Every block goes through the same
    :class:`minis2t.io.audio.AudioCheck` as :func:`minis2t.load_audio` (NaN or infinite
    samples, range; at the end: empty, too short, silence), so a recording gets the same
    typed error here as from ``Speech2Text.transcribe``. ``sampling_rate``, if given, must
    be the file's."""
    name = _describe(source)
    with open_decoder(source, name, sampling_rate) as decoder:
        rate = decoder.rate
        check = AudioCheck(name, rate)
        resampler = None if rate == SAMPLING_RATE else _Resampler(rate)
        size = max(WINDOW, int(block_seconds * rate))
        while True:
            data = decoder.read(size)  # [n, C] at the file's rate
            last = data.shape[0] < size
            mono = check.take(data)  # [n]
            if resampler is not None:
                mono = resampler(mono, last)
            if mono.shape[0]:
                yield mono
            if last:
                break
        decoder.check_complete(check.count)
    check.finish()


@dataclass
class Segment:
    """A stretch of the recording decoded on its own: times in seconds."""

    start: float
    end: float
    audio: np.ndarray = field(repr=False)
    text: str = ""
    avg_logprob: float | None = None
    # seconds from the previous segment's speech to this one's (inf for the first, 0 for
    # a cut made where there was no pause)
    pause_before: float = math.inf
    words: list | None = None
    ids: np.ndarray | None = field(default=None, repr=False)  # the output tokens, start token first
    confidence: float | None = None  # the calibrated probability the text is right (minis2t.app.confidence)
    understood: bool = True
    signals: dict | None = field(default=None, repr=False)  # what the confidence was computed from

    @property
    def tokens(self) -> int:
        """Output tokens after the start token (end-of-sentence included)."""
        return 0 if self.ids is None else self.ids.shape[0] - 1

    def to_dict(self) -> dict:
        out = {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
               "avg_logprob": self.avg_logprob}  # fmt: skip
        out.update(confidence=self.confidence, understood=self.understood)
        if self.words is not None:
            out["words"] = self.words
        return out


class Segmenter:
    """Cuts a stream of 16 kHz blocks into segments at pauses (see the module's steps).

    ``feed(block)`` returns the segments the block completes; ``finish()`` the rest.
    Audio is kept only from the start of the current speech region, so memory is one
    block plus one segment."""

    def __init__(self, max_seconds: float, min_pause: float = 0.3, min_speech: float = 0.15):
        self.max_frames = int(max_seconds * SAMPLING_RATE / HOP)
        self.min_pause = max(1, int(round(min_pause * SAMPLING_RATE / HOP)))
        self.min_speech = max(1, int(round(min_speech * SAMPLING_RATE / HOP)))
        self.pad = int(PAD_SECONDS * SAMPLING_RATE / HOP)
        self.fragment = int(FRAGMENT_SECONDS * SAMPLING_RATE / HOP)
        self.bridge = int(BRIDGE_SECONDS * SAMPLING_RATE / HOP)
        self.buffer = np.zeros(0, np.float32)  # audio from sample self.offset on
        self.offset = 0
        self.history: list[np.ndarray] = []  # recent energies (last HISTORY passes), for the threshold
        self.speech_end: int | None = None  # frame (from the stream's start) where the last speech ended

    def threshold(self, energies: np.ndarray) -> float:
        seen = np.concatenate(self.history + [energies])
        floor, level = np.percentile(seen, FLOOR_PERCENTILE), np.percentile(seen, SPEECH_PERCENTILE)
        if level - floor < MIN_RANGE_DB:  # one kind of sound throughout: speech unless silent
            return SILENCE_DB if level > SILENCE_DB else level + 1.0
        return max(SILENCE_DB, floor + THRESHOLD_FRACTION * (level - floor))

    def feed(self, block: np.ndarray) -> list[Segment]:
        self.buffer = np.concatenate([self.buffer, block])
        return self._cut(final=False)

    def finish(self) -> list[Segment]:
        return self._cut(final=True)

    def _cut(self, final: bool) -> list[Segment]:
        energies = frame_energies(self.buffer)
        if energies.size == 0:
            if final:
                self.buffer = np.zeros(0, np.float32)
            return []
        self.history = self.history[-(HISTORY - 1) :] + [energies[-int(BLOCK_SECONDS * 100) :]]
        speech = energies > self.threshold(energies)
        regions = _regions(speech, self.min_pause, self.min_speech, self.fragment, self.bridge)
        out, consumed = [], 0

        def is_open(a: int, b: int) -> bool:  # the pause after it may still be too short to end it
            return energies.shape[0] - b < (self.bridge if b - a < self.fragment else self.min_pause)

        here = self.offset // HOP  # frames before the buffer
        for i, (a, b) in enumerate(regions):
            if not final and is_open(a, b):
                break
            for k, (s, e) in enumerate(self._split(energies, a, b)):
                lo = max(s - self.pad, consumed)
                hi = min(e + self.pad, regions[i + 1][0] if i + 1 < len(regions) else energies.shape[0])
                out.append(self._segment(lo, hi, self._pause(here + s) if k == 0 else 0.0))
                self.speech_end = here + e
                consumed = hi
        if final:
            keep_from = self.buffer.shape[0]
        else:  # keep the open region (or the last frames of the pause before it)
            open_start = next((a for a, b in regions if is_open(a, b)),
                              max(consumed, energies.shape[0] - self.pad - self.min_pause))  # fmt: skip
            keep_from = max(consumed, open_start - self.pad) * HOP
            if energies.shape[0] - keep_from // HOP > self.max_frames:  # too long without a pause
                for s, e in self._split(energies, keep_from // HOP, energies.shape[0] - self.min_pause):
                    out.append(self._segment(s, e, 0.0))
                    self.speech_end = here + e
                    keep_from = e * HOP
        self.offset += keep_from
        self.buffer = self.buffer[keep_from:]
        return out

    def _split(self, energies: np.ndarray, a: int, b: int) -> list[tuple[int, int]]:
        """``[a, b)`` cut at its quietest frames into pieces of at most ``max_frames``."""
        pieces = []
        while b - a > self.max_frames:
            window = energies[a + self.max_frames // 2 : a + self.max_frames]
            cut = a + self.max_frames // 2 + int(np.argmin(window))
            pieces.append((a, cut))
            a = cut
        pieces.append((a, b))
        return pieces

    def _pause(self, frame: int) -> float:
        """Seconds from the end of the last speech to ``frame``."""
        return math.inf if self.speech_end is None else (frame - self.speech_end) * HOP / SAMPLING_RATE

    def _segment(self, lo: int, hi: int, pause_before: float) -> Segment:
        """Frames ``[lo, hi)`` of the buffer: times from the frames' hops (so neighbouring
        segments do not overlap), audio to the last frame's end."""
        start, end = lo * HOP, min(self.buffer.shape[0], hi * HOP)
        audio = self.buffer[start : min(self.buffer.shape[0], hi * HOP + WINDOW - HOP)].copy()
        return Segment((self.offset + start) / SAMPLING_RATE, (self.offset + end) / SAMPLING_RATE, audio,
                       pause_before=pause_before)  # fmt: skip


def _regions(speech: np.ndarray, min_pause: int, min_speech: int, fragment: int = 0,
             bridge: int = 0) -> list[tuple[int, int]]:  # fmt: skip
    """Runs of speech frames ``[start, end)``, gaps shorter than ``min_pause`` bridged,
    runs shorter than ``min_speech`` dropped; a run shorter than ``fragment`` (a few words
    cut off by a pause inside a sentence) joins its nearer neighbour when the gap between
    them is under ``bridge``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(np.int8), [0]])))
    runs = list(zip(edges[::2].tolist(), edges[1::2].tolist()))
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < min_pause:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    runs = [(a, b) for a, b in merged if b - a >= min_speech]
    i = 0
    while i < len(runs):
        a, b = runs[i]
        gaps = [(runs[i][0] - runs[i - 1][1], i - 1) if i > 0 else (None, None),
                (runs[i + 1][0] - b, i + 1) if i + 1 < len(runs) else (None, None)]
        gaps = [(g, j) for g, j in gaps if g is not None and g < bridge]
        if b - a < fragment and gaps:
            _, j = min(gaps)
            lo, hi = min(i, j), max(i, j)
            runs[lo : hi + 1] = [(runs[lo][0], runs[hi][1])]
            i = max(0, lo - 1)  # the merged run may now be long enough, or still short
            continue
        i += 1
    return runs


def _sources(audio, sampling_rate, block_seconds: float):
    """16 kHz blocks of one recording: encoded audio (files, bytes, file objects) streams;
    samples (already in memory) are loaded whole, without a length limit, and cut into
    blocks. Both get the checks of :class:`minis2t.io.audio.AudioCheck`, silence included."""
    if is_encoded(audio):
        yield from blocks(audio, block_seconds, sampling_rate)
        return
    wave = load_audio(audio, sampling_rate, max_seconds=None, refuse_silence=True)
    size = int(block_seconds * SAMPLING_RATE)
    for start in range(0, wave.shape[0], size):
        yield wave[start : start + size]


def segment_seconds(model) -> float:
    """The longest segment (or joined pair of segments) sent to ``model``: its encoder's
    limit with 5 % headroom below it. One definition for transcribe_long and the recipe
    that tunes the joining rule."""
    return 0.95 * model.max_seconds


def transcribe_long(model, audio, sampling_rate: int | None = None, batch_size: int = 8,
                    block_seconds: float = BLOCK_SECONDS, on_segment=None, on_progress=None,
                    min_pause: float = 0.3, search: str = "transformers", word_timestamps: bool = True,
                    min_confidence: float | None = None, keep_signals: bool = False, **options) -> dict:  # fmt: skip
    """``{"text", "segments": [{"start", "end", "text", "avg_logprob"(, "words")}]}`` for a
    recording of any length (see the module's steps). ``model`` is a
    :class:`minis2t.Speech2Text`; ``options`` go to its ``generate`` (``num_beams``, ...).
    ``on_segment(dict)`` is called for each segment as it is decoded,
    ``on_progress(seconds)`` with the seconds of audio read so far. Segments in which
    the model finds no words are left out. With ``word_timestamps`` each segment has
    ``words`` (:mod:`minis2t.app.timing`). Each segment has ``confidence`` and ``understood``
    (:mod:`minis2t.app.confidence`; ``min_confidence`` replaces the model's threshold;
    ``keep_signals`` adds the ``signals`` the confidence came from, for calibration); the
    result's ``confidence`` is the recording's (:func:`minis2t.app.confidence.file_confidence`)."""
    min_confidence = conf.check_min_confidence(min_confidence)
    max_seconds = segment_seconds(model)
    segmenter = Segmenter(max_seconds, min_pause=min_pause)
    done: list[Segment] = []
    held: list[Segment] = []  # the last decoded segment: the next one may continue its sentence

    signals = keep_signals or model.calibration is not None

    def generate(waves: list[np.ndarray]) -> list[tuple]:
        return decode_waves(model, waves, batch_size, search, word_timestamps, signals, **options)

    def emit(segments: list[Segment]) -> None:
        segments = [s for s in segments if s.text]
        conf.assess(model, segments, min_confidence)
        for segment in segments:
            if segment.words is not None:  # times in the recording, within the segment
                segment.words = [{**w, "start": round(min(w["start"] + segment.start, segment.end), 3),
                                  "end": round(min(w["end"] + segment.start, segment.end), 3)}
                                 for w in segment.words]  # fmt: skip
            segment.audio = None  # not kept
            done.append(segment)
            if on_segment is not None:
                on_segment(segment.to_dict())

    def decode(segments: list[Segment], final: bool) -> None:
        for segment, (text, score, ids, words, found) in zip(segments, generate([s.audio for s in segments])):
            segment.text, segment.avg_logprob, segment.ids, segment.words, segment.signals = text, score, ids, words, found
        run = held + segments
        held.clear()
        pairs = joinable_pairs(run, max_seconds)
        out = stitch(run, dict(zip(pairs, generate([_joined_audio(run[i - 1], run[i]) for i in pairs]))))
        if not final and out:
            held.append(out.pop())
        emit(out)

    pending: list[Segment] = []
    read = 0
    for block in _sources(audio, sampling_rate, block_seconds):
        pending += segmenter.feed(block)
        if len(pending) >= batch_size:
            decode(pending, final=False)
            pending = []
        read += block.shape[0]
        if on_progress is not None:
            on_progress(read / SAMPLING_RATE)
    decode(pending + segmenter.finish(), final=True)
    segments = [s.to_dict() | ({"signals": s.signals} if keep_signals else {}) for s in done]
    return {"text": " ".join(s["text"] for s in segments), "segments": segments,
            "confidence": conf.file_confidence(segments)}


# Segments apart by a pause shorter than the segmenter's bridge may be one sentence
# (speakers pause mid-sentence too): they are also decoded as one, and kept as one when
# the model finds that reading better by JOIN_MARGIN (mean log-probability per token) —
# chosen by recipes/long_form/tune.py on recordings of its own, not those it reports.
JOIN_PAUSE_SECONDS, JOIN_MARGIN = BRIDGE_SECONDS, 0.175


def decode_waves(model, waves: list[np.ndarray], batch_size: int, search: str = "transformers",
                 word_timestamps: bool = False, signals: bool = False, **options) -> list[tuple]:  # fmt: skip
    """``(text, score, token ids without padding, words or None, confidence signals or
    None)`` for each wave, decoded ``batch_size`` at a time. The batch's encoder output
    serves the search and then one teacher-forced pass over the chosen tokens
    (:meth:`Speech2Text.score`), run when ``word_timestamps`` or ``signals`` asks for it,
    which gives the word times and the signals alike."""
    out = []
    for i in range(0, len(waves), batch_size):
        chunk = waves[i : i + batch_size]
        batch = model.feature_extractor(chunk)
        encoded = model.encode(batch["input_features"], batch["attention_mask"])
        result = model.generate(None, search=search, return_dict=True, encoder_outputs=encoded, **options)
        texts = model.tokenizer.batch_decode(result.sequences, skip_special_tokens=True)
        lengths = 1 + (result.sequences[:, 1:] != model.config.pad_token_id).sum(axis=1)
        ids = [result.sequences[k, : lengths[k]] for k in range(len(chunk))]
        scores = result.sequences_scores
        scored = None
        if word_timestamps or signals:
            scored = model.score(result.sequences, encoded, output_attentions=word_timestamps)
        timed = timing.word_timestamps(model, *encoded, result.sequences, scored=scored) if word_timestamps else None
        found = conf.signals(scored.log_probs, ids, [w.shape[0] / SAMPLING_RATE for w in chunk]) if signals else None
        out += [(t.strip(), None if scores is None else round(float(scores[k]), 4), ids[k],
                 None if timed is None else timed[k]["words"], None if found is None else found[k])
                for k, t in enumerate(texts)]  # fmt: skip
    return out


def joinable_pairs(run: list[Segment], max_seconds: float) -> list[int]:
    """Indices ``i`` of the segments of ``run`` that may continue the sentence of segment
    ``i - 1``: a short pause between them, both scored, together within the model's limit."""
    return [i for i in range(1, len(run)) if _joinable(run[i - 1], run[i], max_seconds)]


def stitch(run: list[Segment], joined: dict[int, tuple], margin: float | None = None) -> list[Segment]:
    """``run`` with each pair ``(i - 1, i)`` of ``joined`` (its joint reading, as
    :func:`decode_waves` gives it) merged where the model is surer of one sentence by
    ``margin`` (default ``JOIN_MARGIN``); a merged segment is not merged again."""
    margin = JOIN_MARGIN if margin is None else margin
    out: list[Segment] = []
    for i, segment in enumerate(run):
        if i in joined and out and out[-1] is run[i - 1] and _one_sentence(run[i - 1], segment, joined[i], margin):
            out[-1] = _merge(run[i - 1], segment, *joined[i])
        else:
            out.append(segment)
    return out


def _joinable(first: Segment, second: Segment, max_seconds: float) -> bool:
    return (0 < second.pause_before < JOIN_PAUSE_SECONDS and first.avg_logprob is not None
            and second.avg_logprob is not None and bool(first.text) and bool(second.text)
            and second.end - first.start <= max_seconds)  # fmt: skip


def _joined_audio(first: Segment, second: Segment) -> np.ndarray:
    """The two segments' audio at their places, what lies between them (a pause) as zeros."""
    gap = int(round((second.start - first.start) * SAMPLING_RATE)) - first.audio.shape[0]
    if gap >= 0:
        return np.concatenate([first.audio, np.zeros(gap, np.float32), second.audio])
    return np.concatenate([first.audio[: first.audio.shape[0] + gap], second.audio])


def _one_sentence(first: Segment, second: Segment, joined: tuple, margin: float) -> bool:
    """Read as one, is the speech more probable per token, by ``margin``, than read in two?"""
    text, score = joined[:2]
    apart = (first.avg_logprob * first.tokens + second.avg_logprob * second.tokens) / (first.tokens + second.tokens)
    return bool(text) and score is not None and score > apart + margin


def _merge(first: Segment, second: Segment, text: str, score: float, ids: np.ndarray, words, signals) -> Segment:
    return Segment(first.start, second.end, _joined_audio(first, second), text, score,
                   first.pause_before, words, ids, signals=signals)  # fmt: skip

"""Speech with true word times: espeak-ng's library (``libespeak-ng``, through ctypes)
reports, while it synthesises, the sample at which each word begins.

The command-line ``espeak-ng`` used by the synthetic-speech recipe calls the same
library with the same voice, rate and pitch settings; the library's callback also hands
over word events (``espeakEVENT_WORD``) and the end of the sentence
(``espeakEVENT_END``). A word's start is its event's sample; its end is the next word's
start, or the sentence's end for the last word (so a word's end includes any pause
espeak-ng makes after it). Where espeak-ng speaks two words as one ("in the") it reports
only the first: the second's start and the first's end are unknown (None).
"""

from __future__ import annotations

import os

os.environ.setdefault("MINIS2T_RUNTIME", "numpy")  # the recipes run (and train) the NumPy engine

import ctypes
import ctypes.util

import numpy as np

import minis2t

WORD, END, TERMINATED = 1, 5, 0  # espeak_EVENT_TYPE values
SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: the callback gets the samples, nothing plays
RATE, PITCH = 1, 3  # espeak_PARAMETER values


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]  # fmt: skip


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


def _seconds(sample: int | None, rate: int) -> float | None:
    return None if sample is None else sample / rate


class Espeak:
    """One initialised library; :meth:`say` synthesises one sentence."""

    def __init__(self):
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        self.lib = ctypes.CDLL(name)
        self.rate = self.lib.espeak_Initialize(SYNCHRONOUS, 0, None, 0)
        if self.rate <= 0:
            raise RuntimeError("libespeak-ng did not initialise (is espeak-ng-data installed?)")
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int]] = []
        self._callback = _CALLBACK(self._receive)  # kept alive as long as the library may call it
        self.lib.espeak_SetSynthCallback(self._callback)

    def _receive(self, wav, count, events) -> int:
        if wav and count > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != TERMINATED:
            e = events[i]
            self.events.append((e.type, e.text_position, e.sample))
            i += 1
        return 0

    def has_voice(self, voice: str) -> bool:
        return self.lib.espeak_SetVoiceByName(voice.encode()) == 0

    def say(self, text: str, settings: dict) -> tuple[np.ndarray, list[dict]]:
        """``(16 kHz float32 wave, [{"word", "start", "end"}])`` for ``text`` spoken with the
        synthetic recipe's espeak-ng ``settings`` (voice, speed, pitch)."""
        self.chunks, self.events = [], []
        if self.lib.espeak_SetVoiceByName(settings["voice"].encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {settings['voice']}")
        self.lib.espeak_SetParameter(RATE, settings["speed"], 0)
        self.lib.espeak_SetParameter(PITCH, settings["pitch"], 0)
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 0, None, None)  # position in characters
        self.lib.espeak_Synchronize()
        wave = np.concatenate(self.chunks).astype(np.float32) / 32768
        # word events carry the (1-based) character position of their word; espeak-ng
        # speaks some pairs as one ("in the") and reports only the first: the second
        # word's start, and so the first's end, are then unknown (None)
        at = {position: sample for kind, position, sample in self.events if kind == WORD and position > 0}
        end = next(sample for kind, _, sample in self.events if kind == END)
        words, offsets, k = text.split(), [], 0
        for w in words:
            k = text.index(w, k)
            offsets.append(k + 1)
            k += len(w)
        if offsets[0] not in at or not set(at) <= set(offsets):
            raise RuntimeError(f"espeak-ng's word events do not match the words of {text!r}")
        starts = [at.get(o) for o in offsets] + [end]
        times = [{"word": w, "start": _seconds(starts[i], self.rate), "end": _seconds(starts[i + 1], self.rate)}
                 for i, w in enumerate(words)]  # fmt: skip
        return minis2t.resample(wave, self.rate, 16000), times

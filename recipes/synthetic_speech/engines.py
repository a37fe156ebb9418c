"""Three speech synthesisers from Debian's packages, behind one interface.

Each engine turns ``(text, voice settings)`` into a WAV file. Voices and prosody are drawn
per utterance from a seeded generator (:func:`draw_settings`). The engines, their voices
and the Debian packages they come from (licences in ``ENGINES.md``):

* **espeak-ng** (formant synthesis): 10 English accents x 6 voice variants, speed 130-200
  words per minute, pitch 30-70 (of 0-99). MBROLA voices are not in Debian 12's main
  archive, so none are used.
* **festival** (diphone and HMM synthesis): ``kal_diphone`` (US male),
  ``ked_diphone`` (US male), ``cmu_us_slt_arctic_hts`` (US female); duration stretch
  0.8-1.25, mean pitch shifted for the diphone voices.
* **flite** (Festival-lite; clustergen/diphone): ``kal``, ``kal16``, ``awb`` (Scottish
  male), ``rms`` (US male), ``slt`` (US female); duration stretch 0.8-1.25, pitch
  mean 80-180 Hz for the male voices.

flite's ``kal`` and ``slt`` are built from the same speakers' recordings as festival's
``kal_diphone`` and ``cmu_us_slt_arctic_hts`` (a different synthesis method, the same
person): a leave-one-engine-out test on flite or festival therefore still meets a known
speaker in those voices. ``awb`` and ``rms`` are speakers no other engine has; the
evaluation reports them on their own.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

ESPEAK_VOICES = ["en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan",
                 "en-gb-x-gbcwmd", "en-029", "en-us-nyc", "en-gb", "en-uk"]  # fmt: skip
ESPEAK_VARIANTS = ["", "+m3", "+f2", "+m5", "+f4", "+klatt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
ENGINES = {"espeak-ng": ESPEAK_VOICES, "festival": FESTIVAL_VOICES, "flite": FLITE_VOICES}
PROGRAMS = {"espeak-ng": "espeak-ng", "festival": "festival", "flite": "flite"}
PACKAGES = "espeak-ng festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts flite"


def check_engines(names) -> None:
    missing = [n for n in names if shutil.which(PROGRAMS[n]) is None]
    if missing:
        raise SystemExit(f"{', '.join(missing)} not installed: `apt-get install {PACKAGES}` (Debian).")


# Voices never used in training, to measure unseen voices of seen engines.
HELD_OUT = {"espeak-ng": ["en-029", "en-gb-x-gbcwmd"], "festival": ["ked_diphone"], "flite": ["rms"]}


def voices(engine: str, held_out: bool) -> list[str]:
    """The engine's training voices, or its held-out ones."""
    return [v for v in ENGINES[engine] if (v in HELD_OUT[engine]) == held_out]


def draw_settings(engine: str, rng: random.Random, held_out: bool = False) -> dict:
    """One utterance's voice and prosody, from the training voices or the held-out ones."""
    if engine == "espeak-ng":
        return {"engine": engine, "voice": rng.choice(voices(engine, held_out)) + rng.choice(ESPEAK_VARIANTS),
                "speed": rng.randint(130, 200), "pitch": rng.randint(30, 70)}  # fmt: skip
    voice = rng.choice(voices(engine, held_out))
    settings = {"engine": engine, "voice": voice, "stretch": round(rng.uniform(0.8, 1.25), 3)}
    if voice not in ("cmu_us_slt_arctic_hts", "slt"):  # male voices: move the mean pitch
        settings["f0"] = rng.randint(80, 160)
    return settings


def speak(texts: list[str], settings: list[dict], directory: Path) -> list[Path]:
    """Synthesise each text with its settings into ``directory``; returns the WAV paths.

    festival runs once for the whole list (its start-up, loading a voice, costs more than
    an utterance); espeak-ng and flite once per utterance."""
    paths = [directory / f"{i:06d}.wav" for i in range(len(texts))]
    by_engine: dict[str, list[int]] = {}
    for i, s in enumerate(settings):
        by_engine.setdefault(s["engine"], []).append(i)
    for engine, items in by_engine.items():
        if engine == "festival":
            _festival([texts[i] for i in items], [settings[i] for i in items], [paths[i] for i in items])
        else:
            for i in items:
                _one(engine, texts[i], settings[i], paths[i])
    return paths


def _one(engine: str, text: str, s: dict, path: Path) -> None:
    if engine == "espeak-ng":
        command = ["espeak-ng", "-v", s["voice"], "-s", str(s["speed"]), "-p", str(s["pitch"]),
                   "-w", str(path), text]  # fmt: skip
    else:
        command = ["flite", "-voice", s["voice"], "--setf", f"duration_stretch={s['stretch']}",
                   "-t", text, "-o", str(path)]  # fmt: skip
        if "f0" in s:
            command[5:5] = ["--setf", f"int_f0_target_mean={s['f0']}"]
    subprocess.run(command, check=True, capture_output=True)


def _festival(texts, settings, paths) -> None:
    """One festival process, one Scheme script: select the voice, set duration stretch and
    pitch, synthesise, save — for every utterance."""
    lines = []
    for text, s, path in zip(texts, settings, paths):
        quoted = text.replace("\\\\", " ").replace('"', " ")
        lines.append(f"(voice_{s['voice']})")
        lines.append(f"(Parameter.set 'Duration_Stretch {s['stretch']})")
        if "f0" in s:
            lines.append(f"(set! int_lr_params (list '(target_f0_mean {s['f0']}) '(target_f0_std 12)"
                         f" '(model_f0_mean 170) '(model_f0_std 34)))")  # fmt: skip
        lines.append(f'(set! u (Utterance Text "{quoted}"))')
        lines.append("(utt.synth u)")
        lines.append(f"(utt.save.wave u \"{path}\" 'riff)")
    with tempfile.NamedTemporaryFile("w", suffix=".scm", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        subprocess.run(["festival", "-b", f.name], check=True, capture_output=True)
    finally:
        os.unlink(f.name)

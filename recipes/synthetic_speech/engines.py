"""Four speech synthesisers from Debian's packages, behind one interface.

Each engine turns ``(text, voice settings)`` into a WAV file. Voices and prosody are drawn
per utterance from a seeded generator (:func:`draw_settings`). The engines, their voices
and the Debian packages they come from (licences in ``ENGINES.md``):

* **espeak-ng** (formant synthesis): 10 English accents x every one of the 101 voice
  variants Debian's package ships (``espeak-ng --voices=variant``) and the plain voice, speed
  110-230 words per minute, pitch 20-80 (of 0-99). MBROLA voices are not in Debian 12's
  main archive, so none are used.
* **festival** (diphone and HMM synthesis): ``kal_diphone`` (US male),
  ``ked_diphone`` (US male), ``cmu_us_slt_arctic_hts`` (US female); duration stretch
  0.8-1.25, mean pitch shifted for the diphone voices. (Debian's 8 kHz festival voices,
  ``festvox-kallpc8k`` / ``festvox-kdlpc8k``, replace the 16 kHz ones when installed, so
  the 8 kHz telephone voices come from flite's ``kal`` and FreeTTS's ``kevin``.)
* **flite** (Festival-lite; clustergen/diphone): ``kal``, ``kal16``, ``awb`` (Scottish
  male), ``rms`` (US male), ``slt`` (US female); duration stretch 0.8-1.25, pitch
  mean 80-180 Hz for the male voices.
* **FreeTTS** (Debian's ``freetts``: Sun's Java re-implementation of flite, its own signal
  processing): ``kevin`` (8 kHz) and ``kevin16``; no prosody options on its command line,
  so tempo and pitch come from the augmentation's speed perturbation. Runs once per chunk
  (``-lines`` with ``-dumpMultiAudio``): its Java start-up costs two seconds.

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
# every variant of Debian 12's espeak-ng-data (espeak-ng --voices=variant), and none
ESPEAK_VARIANTS = [""] + ["+" + v for v in """adam Alex Alicia Andrea Andy Annie antonio aunty belinda benjamin boris
    caleb david Demonic Denis Diogo ed edward edward2 Gene Gene2 gustave announcer Henrique Hugo iven iven2 iven3
    iven4 Jacky john kaukovalta Lee linda marcelo Marco Mario max Michael michel miguel Mike Mr Nguyen pablo paul
    pedro quincy RicishayMax RicishayMax2 RicishayMax3 rob robert robosoft robosoft2 robosoft3 robosoft4 robosoft5
    robosoft6 robosoft7 robosoft8 steph steph2 steph3 Storm Tweaky UniRobot zac anika anikaRobot AnxiousAndy fast
    f2 f3 f4 f5 whisperf grandpa klatt klatt2 klatt3 klatt4 klatt5 klatt6 m2 m3 m4 m5 m6 m7 norbert sandro shelby
    travis victor whisper m8 f1 croak m1 grandma""".split()]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FREETTS_VOICES = ["kevin", "kevin16"]
ENGINES = {"espeak-ng": ESPEAK_VOICES, "festival": FESTIVAL_VOICES, "flite": FLITE_VOICES,
           "freetts": FREETTS_VOICES}  # fmt: skip
# Training shares: FreeTTS has two voices of a speaker festival and flite already have.
SHARES = {"espeak-ng": 3, "festival": 3, "flite": 3, "freetts": 1}
PROGRAMS = {"espeak-ng": "espeak-ng", "festival": "festival", "flite": "flite", "freetts": "java"}
PACKAGES = "espeak-ng festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts flite freetts"
FREETTS_JARS = ["freetts", "en_us", "cmu_us_kal", "cmulex", "cmudict04"]


def check_engines(names) -> None:
    missing = [n for n in names if shutil.which(PROGRAMS[n]) is None
               or (n == "freetts" and not Path("/usr/share/java/freetts.jar").is_file())]  # fmt: skip
    if missing:
        raise SystemExit(f"{', '.join(missing)} not installed: `apt-get install {PACKAGES}` (Debian).")


# Voices never used in training, to measure unseen voices of seen engines.
HELD_OUT = {"espeak-ng": ["en-029", "en-gb-x-gbcwmd"], "festival": ["ked_diphone"], "flite": ["rms"],
            "freetts": []}  # fmt: skip


def voices(engine: str, held_out: bool) -> list[str]:
    """The engine's training voices, or its held-out ones."""
    return [v for v in ENGINES[engine] if (v in HELD_OUT[engine]) == held_out]


def draw_settings(engine: str, rng: random.Random, held_out: bool = False) -> dict:
    """One utterance's voice and prosody, from the training voices or the held-out ones."""
    if engine == "espeak-ng":
        return {"engine": engine, "voice": rng.choice(voices(engine, held_out)) + rng.choice(ESPEAK_VARIANTS),
                "speed": rng.randint(110, 230), "pitch": rng.randint(20, 80)}  # fmt: skip
    voice = rng.choice(voices(engine, held_out))
    if engine == "freetts":
        return {"engine": engine, "voice": voice}
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
        elif engine == "freetts":
            for voice in sorted({settings[i]["voice"] for i in items}):
                mine = [i for i in items if settings[i]["voice"] == voice]
                _freetts([texts[i] for i in mine], voice, [paths[i] for i in mine])
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


def _freetts(texts, voice, paths) -> None:
    """One Java process per voice and chunk: ``-lines`` says each line of a file into its
    own numbered WAV (``-dumpMultiAudio``), which is then renamed."""
    directory = paths[0].parent
    lines = directory / f"freetts_{voice}.txt"
    lines.write_text("".join(t.replace("\n", " ") + "\n" for t in texts))
    prefix = directory / f"freetts_{voice}_.wav"
    classpath = ":".join(f"/usr/share/java/{jar}.jar" for jar in FREETTS_JARS)
    subprocess.run(["java", "-cp", classpath, "com.sun.speech.freetts.FreeTTS", "-voice", voice,
                    "-dumpMultiAudio", str(prefix), "-lines", str(lines)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=600)  # fmt: skip
    for k, path in enumerate(paths):
        (directory / f"freetts_{voice}_{k}.wav").rename(path)

"""Fit the bundled models' confidence calibrations on material new to them, and measure it.

The bundled recogniser answers anything — noise, German, a story — with a fluent grammar
sentence. This recipe makes material the model never trained on, *new in the ways a
user's audio is new*, runs it through ``transcribe_long`` exactly as the command does, and
fits a logistic regression from the decoder's signals (:mod:`minis2t.app.confidence`) to
"the segment's text is exactly right":

* **in-grammar speech from voices the model never heard** (``grammar``): grammar
  sentences (digit strings included) drawn with a seed of their own (none is a training
  or test sentence of ``run.py``), said by the voices held out of training altogether
  (espeak-ng's ``en-029`` and ``en-gb-x-gbcwmd`` accents, festival's ``ked_diphone``,
  flite's ``rms``) and by training's voices moved outside anything training did — sox
  pitch shifts of 3-6 semitones, tempo 0.7x or 1.35x, a formant-like timbre change
  (sox ``bass``/``treble`` tilts and an ``overdrive``);
* the same sentences **through codecs** (``grammar_codec``): AAC, Opus and MP3 round trips
  at 16-64 kbit/s, so that a compressed copy is judged as its original;
* **real people** (``human_digits``): digit strings spliced from the FSDD speakers' takes
  0-4, which training never used (:mod:`humans`), clean and through the codecs;
* **in-grammar speech in training's voices** (``grammar_seen_voices``), new sentences;
* **speech the model must reject**: English outside the grammar (``open_english``,
  synthetic), real people outside it (``human_open``: pieces of the six licensed
  recordings in ``tests/data/speech/``, which training used only as background noise),
  eight other languages (``other_language``);
* **non-speech it must reject**: noise (white, pink, brown), music, tones and sweeps, hum.

Each clip is a unit of the split: half the clips (stratified by kind) fit the calibration
and choose its threshold, the other half measure it — overall, per kind and per engine
(the acceptance of right transcripts and the calibration error of each). ``--model st``
does the same for the translation model (``bundled-st``): the reference is the rule
translation (:mod:`translate`) of the English, each clip in one of the three languages
in turn. Writes ``minis2t/assets/model[_st]/confidence.json`` and
``results/confidence[_st].json``. Clips are cached in ``work/confidence/`` (git-ignored).

    python recipes/synthetic_speech/confidence.py              # the recogniser
    python recipes/synthetic_speech/confidence.py --model st   # the translation model
"""

from __future__ import annotations

import os

os.environ.setdefault("MINIS2T_RUNTIME", "numpy")  # the recipes run (and train) the NumPy engine

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT)]

import augment  # noqa: E402
import engines  # noqa: E402
import grammar  # noqa: E402
import humans  # noqa: E402
import minis2t  # noqa: E402
from minis2t.app import confidence as conf  # noqa: E402

WORK = HERE / "work" / "confidence"
MODELS = {"asr": ROOT / "minis2t" / "assets" / "model", "st": ROOT / "minis2t" / "assets" / "model_st"}
RESULTS = {"asr": HERE / "results" / "confidence.json", "st": HERE / "results" / "confidence_st.json"}
RATE = 16000
SEED = 31
ST_LANGUAGES = ("fr", "de", "es")

HELD_OUT_ACCENTS = engines.HELD_OUT["espeak-ng"]  # held out of training altogether
TRAINED_ACCENTS = engines.voices("espeak-ng", held_out=False)
SPEECH_DIR = ROOT / "tests" / "data" / "speech"  # real people, outside the grammar

OPEN_ENGLISH = """the committee will publish its findings early next spring
my grandmother used to bake bread every sunday morning
scientists discovered a new species of frog in the rainforest
he forgot his umbrella on the train again
the quarterly report shows a modest increase in revenue
can you explain how photosynthesis works
she learned to play the violin when she was seven
the bridge was closed for repairs after the storm
our neighbours are painting their fence bright green
the museum exhibition opens to the public on saturday
i think the movie was much better than the book
please submit your application before the end of the month
the children built a snowman in the front yard
this recipe calls for two cups of chopped walnuts
the professor asked us to read three chapters by friday
a strong wind knocked over the old oak tree
we watched the sunset from the top of the hill
the software update fixed several security problems
he has been working as a nurse for twenty years
the library will extend its opening hours next term
they travelled across the country by train
the price of vegetables has gone up this year
my laptop battery does not last very long anymore
the orchestra performed a symphony by beethoven
she always drinks green tea before going to bed
the football match was postponed because of heavy rain
our flight was delayed by almost three hours
the garden is full of roses and tulips in may
he wrote a letter to the editor of the local paper
the new restaurant downtown serves excellent noodles
i would like to open a savings account
the detective examined the footprints near the window
most birds migrate south before the winter
the company hired fifty new engineers last quarter
we need to talk about the budget for next year
the river flooded the fields after days of rain
her brother is studying architecture in glasgow
the train to edinburgh leaves from platform four
my cat likes to sleep in the sunny spot by the door
the lecture on ancient history was surprisingly interesting
you should back up your files regularly
the mountains were covered in fresh snow this morning
an apple a day keeps the doctor away
the bakery on the corner sells delicious croissants
i am not sure whether the shop is open on holidays
the election results will be announced tomorrow night
they planted a hundred trees along the river bank
ask not what your country can do for you
the quick brown fox jumps over the lazy dog
four score and seven years ago our fathers brought forth a new nation""".splitlines()

OTHER_LANGUAGES = {
    "de": ["das wetter ist heute sehr schön", "ich möchte eine tasse kaffee bestellen",
           "wo ist der nächste bahnhof", "mach bitte das licht in der küche an",
           "morgen fahren wir nach berlin", "wie spät ist es jetzt"],
    "fr": ["je voudrais réserver une table pour deux", "il fait très beau aujourd'hui",
           "où se trouve la boulangerie la plus proche", "allume la lumière de la cuisine",
           "nous partons en vacances demain", "quelle heure est-il maintenant"],
    "es": ["me gustaría pedir un café con leche", "mañana vamos a madrid en tren",
           "dónde está la farmacia más cercana", "enciende las luces del salón por favor",
           "hace mucho calor esta tarde", "qué tiempo hará el fin de semana"],
    "it": ["vorrei prenotare un tavolo per stasera", "dove si trova la stazione",
           "accendi la luce in cucina per favore", "domani andiamo al mare",
           "che ore sono adesso", "il tempo oggi è molto bello"],
    "nl": ["ik wil graag een kopje thee", "waar is het dichtstbijzijnde station",
           "doe het licht in de keuken aan", "morgen gaan we naar amsterdam",
           "het regent al de hele dag", "hoe laat is het nu"],
    "pt": ["eu gostaria de um café por favor", "onde fica a farmácia mais próxima",
           "acende a luz da cozinha", "amanhã vamos para lisboa",
           "o tempo está muito bom hoje", "que horas são agora"],
    "pl": ["chciałbym zamówić kawę", "gdzie jest najbliższa apteka", "włącz światło w kuchni",
           "jutro jedziemy do warszawy", "jaka jest dzisiaj pogoda", "która jest godzina"],
    "sv": ["jag skulle vilja ha en kopp kaffe", "var ligger närmaste station",
           "tänd lampan i köket", "i morgon åker vi till stockholm",
           "vädret är fint i dag", "vad är klockan nu"],
}  # fmt: skip
# --- material ------------------------------------------------------------------------


def held_out_sentences(n: int) -> list[str]:
    """Grammar sentences (spoken forms) whose words are neither a training nor a test
    sentence of ``run.py``."""
    import run  # the training split, as the bundled model's run made it

    train, test = run.split_sentences(16000, 300, 0)
    seen = {grammar.label(s) for s in train + test} | set((HERE / "test_sentences.txt").read_text().splitlines())
    fresh = {grammar.label(s): s for s in grammar.sentences(20 * n, SEED) if grammar.label(s) not in seen}
    return list(fresh.values())[:n]


def speech_plan(rng: random.Random, n_grammar: int, n_seen: int) -> list[dict]:
    """``{"kind", "text", "reference", "engine", ...}`` for every synthesised clip."""
    items = []
    sentences = held_out_sentences(n_grammar + n_seen)
    for i, text in enumerate(sentences[:n_grammar]):
        items.append({"kind": "grammar", "text": text, "reference": grammar.label(text), **unheard_voice(rng, i)})
    for i, text in enumerate(sentences[n_grammar:]):
        items.append({"kind": "grammar_seen_voices", "text": text, "reference": grammar.label(text),
                      **engines.draw_settings(["espeak-ng", "festival", "flite", "freetts"][i % 4], rng)})  # fmt: skip
    for i, text in enumerate(OPEN_ENGLISH):
        items.append({"kind": "open_english", "text": text, "reference": text,
                      **engines.draw_settings(["espeak-ng", "festival", "flite"][i % 3], rng, held_out=i % 2 == 0)})  # fmt: skip
    for lang, texts in OTHER_LANGUAGES.items():
        for text in texts:
            items.append({"kind": "other_language", "text": text, "reference": None, "engine": "espeak-ng",
                          "voice": lang + rng.choice(["", "+m1", "+f1", "+m3", "+f2"]), "speed": rng.randint(130, 190),
                          "pitch": 50})  # fmt: skip
    return items


def unheard_voice(rng: random.Random, i: int) -> dict:
    """A voice the model never trained on: a held-out voice of each engine in turn, or a
    training voice moved by sox beyond anything training did."""
    kind = i % 6
    if kind < 4:
        engine = ["espeak-ng", "festival", "flite", "espeak-ng"][kind]
        return {**engines.draw_settings(engine, rng, held_out=True), "voices": "held-out"}
    settings = engines.draw_settings(rng.choice(["espeak-ng", "festival", "flite", "freetts"]), rng)
    effect = rng.choice([["pitch", str(rng.choice([-600, -450, -300, 300, 450, 600]))],
                         ["tempo", "-s", str(rng.choice([0.7, 1.35]))],
                         ["bass", "+12", "treble", "-10"], ["treble", "+12", "bass", "-12"],
                         ["overdrive", "12", "gain", "-8"]])  # fmt: skip
    return {**settings, "sox": effect, "voices": "moved by sox"}


def synthesise(item: dict, path: Path) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        (raw,) = engines.speak([item["text"]], [item], Path(tmp))
        if item.get("sox"):
            moved = Path(tmp) / "moved.wav"
            subprocess.run(["sox", "-D", "-R", str(raw), str(moved), *item["sox"]], check=True, capture_output=True)
            raw = moved
        wave = minis2t.load_audio(raw)  # 16 kHz mono float32
    sf.write(path, wave, RATE)
    return wave


CODEC_RATES = {"aac": (16, 64), "opus": (16, 48), "mp3": (16, 64)}


def codec_copy(wave: np.ndarray, rng: random.Random) -> tuple[np.ndarray, dict]:
    codec = rng.choice(sorted(CODEC_RATES))
    kbps = rng.randint(*CODEC_RATES[codec])
    return augment.encode_decode(wave, codec, kbps), {"codec": codec, "kbps": kbps}


def human_clips(n: int) -> list[tuple[dict, np.ndarray]]:
    """Digit strings spliced from the real speakers' kept-aside takes (never trained on);
    a third of them through a codec."""
    rng, nprng = random.Random(SEED + 1), np.random.default_rng(SEED + 1)
    out = []
    for k, (speaker, label, groups) in enumerate(humans.strings(n, SEED + 1, takes=humans.ASIDE)):
        wave = humans.splice(groups, speaker, humans.ASIDE, nprng)
        item = {"kind": "human_digits", "text": label, "reference": label, "engine": "human", "voice": speaker}
        if k % 3 == 2:
            wave, extra = codec_copy(wave, rng)
            item.update(extra)
        out.append((item, wave))
    return out


def human_open_clips(rng: random.Random) -> list[tuple[dict, np.ndarray]]:
    """Real people outside the grammar: 2-6 s pieces of each licensed recording, some
    through a codec."""
    out = []
    for path in sorted(p for p in SPEECH_DIR.iterdir() if p.suffix in (".wav", ".flac")):
        wave = minis2t.load_audio(path)
        start = 0
        while start + 2 * RATE <= wave.shape[0]:
            piece = wave[start : start + int(rng.uniform(2, 6) * RATE)]
            item = {"kind": "human_open", "text": None, "reference": None, "engine": "human", "voice": path.stem}
            if rng.random() < 0.3:
                piece, extra = codec_copy(piece, rng)
                item.update(extra)
            out.append((item, piece))
            start += piece.shape[0]
    return out


def non_speech(rng: np.random.Generator, n_each: int = 16) -> list[tuple[dict, np.ndarray]]:
    """Noise, music, tones and hum, 1.5-6 s at 16 kHz, at levels from quiet to loud."""
    out = []
    for kind in ("noise", "music", "tone", "hum"):
        for i in range(n_each):
            seconds = rng.uniform(1.5, 6.0)
            n = int(seconds * RATE)
            t = np.arange(n) / RATE
            if kind == "noise":
                wave = colored_noise(rng, n, ["white", "pink", "brown"][i % 3])
            elif kind == "music":
                wave = music(rng, t)
            elif kind == "tone":
                if i % 2 == 0:
                    wave = np.sin(2 * np.pi * rng.uniform(100, 4000) * t)
                else:  # a sweep
                    f0, f1 = rng.uniform(100, 1000), rng.uniform(1000, 6000)
                    wave = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds)))
            else:  # mains hum and its harmonics over faint noise
                mains = rng.choice([50.0, 60.0])
                wave = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 6.3)) for k in (1, 2, 3, 5))
                wave = wave + 0.02 * rng.standard_normal(n)
            wave = wave / (np.abs(wave).max() + 1e-9) * 10 ** rng.uniform(-2.0, -0.2)  # peak -40 to -4 dBFS
            out.append(({"kind": kind, "text": None, "reference": None, "engine": "none"}, wave.astype(np.float32)))
    return out


def colored_noise(rng: np.random.Generator, n: int, color: str) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    f[0] = f[1]
    power = {"white": 0.0, "pink": 1.0, "brown": 2.0}[color]
    return np.fft.irfft(spectrum / f ** (power / 2), n)


def music(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """A melody of harmonic notes (a few partials, decaying envelopes) over a held chord."""
    wave = np.zeros_like(t)
    note = 0.25 + 0.25 * rng.random()
    root = rng.uniform(110, 330)
    for start in np.arange(0, t[-1], note):
        pitch = root * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
        on = (t >= start) & (t < start + note * 1.5)
        env = np.exp(-(t[on] - start) * rng.uniform(3, 8))
        wave[on] += env * sum(np.sin(2 * np.pi * pitch * k * t[on]) / k for k in (1, 2, 3, 4))
    for ratio in (1.0, 1.26, 1.5):  # a major chord underneath
        wave += 0.3 * np.sin(2 * np.pi * root / 2 * ratio * t)
    return wave


def material(n_grammar: int, n_seen: int) -> list[tuple[dict, Path]]:
    """Every clip, made once and cached in ``WORK`` (under a name that says what it is)."""
    WORK.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    items = speech_plan(rng, n_grammar, n_seen)
    clips = []
    for i, item in enumerate(items):
        path = WORK / f"{item['kind']}_{i:04d}.wav"
        if not path.exists():
            synthesise(item, path)
        clips.append((item, path))
    made = []
    codec_rng = random.Random(SEED + 2)
    for item, path in [c for c in clips if c[0]["kind"] == "grammar"][::2]:  # half the unheard clips, compressed
        copy, extra = codec_copy(minis2t.load_audio(path), codec_rng)
        made.append(({**item, "kind": "grammar_codec", "original": path.name, **extra}, copy))
    made += human_clips(n_grammar // 2)
    made += human_open_clips(random.Random(SEED + 3))
    made += non_speech(np.random.default_rng(SEED))
    for i, (item, wave) in enumerate(made):
        path = WORK / f"{item['kind']}_made_{i:04d}.wav"
        if not path.exists():
            sf.write(path, wave, RATE)
        clips.append((item, path))
    return clips


# --- decoding ----------------------------------------------------------------------


def reference_of(item: dict, c: int, task: str) -> tuple[str | None, str | None]:
    """``(language, reference)`` of clip ``c``: the recogniser's is the English (None
    outside the grammar); the translation model's, in the clip's language, the rule
    translation of an in-grammar English reference."""
    if task == "asr":
        return None, item["reference"]
    import translate

    lang = ST_LANGUAGES[c % len(ST_LANGUAGES)]
    in_grammar = item["kind"] in GRAMMAR_KINDS and item["reference"] is not None
    return lang, translate.translate(item["reference"], lang) if in_grammar else None


def decode_all(model, clips, cache: dict, task: str = "asr") -> list[dict]:
    """One row per segment that ``transcribe_long`` returns for each clip (as the command
    would cut and decode it), with the clip's kind and engine and whether the text is
    exactly right. ``cache`` maps a clip's file name to its rows (decoded before)."""
    rows = []
    for c, (item, path) in enumerate(clips):
        base = {"clip": c, "kind": item["kind"], "engine": item.get("engine", "none"), "file": path.name}
        if path.name in cache:
            rows += [{**r, **base} for r in cache[path.name]]
            continue
        first = len(rows)
        lang, reference = reference_of(item, c, task)
        try:
            result = model.transcribe_long(str(path), language=lang, word_timestamps=False, keep_signals=True)
        except minis2t.errors.MiniS2TError as e:  # e.g. silence: refused before decoding
            rows.append({**base, "refused": type(e).__name__})
            cache[path.name] = rows[first:]
            continue
        segments = result["segments"]
        if not segments:
            rows.append({**base, "refused": "no words"})
        for s in segments:
            right = len(segments) == 1 and reference is not None and s["text"] == reference
            rows.append({**base, "segments": len(segments), "text": s["text"], "reference": reference,
                         "right": bool(right), "signals": s["signals"]})  # fmt: skip
        cache[path.name] = rows[first:]
    return rows


# --- fitting and measuring -------------------------------------------------------------


def split(rows: list[dict], seed: int = SEED) -> tuple[set, set]:
    """Clips into a fitting half and a measuring half, stratified by kind."""
    rng = random.Random(seed)
    fit, measure = set(), set()
    kinds: dict[str, list[int]] = {}
    for r in rows:
        kinds.setdefault(r["kind"], [])
        if r["clip"] not in kinds[r["kind"]]:
            kinds[r["kind"]].append(r["clip"])
    for clips in kinds.values():
        rng.shuffle(clips)
        fit.update(clips[: len(clips) // 2])
        measure.update(clips[len(clips) // 2 :])
    return fit, measure


def usable(r: dict) -> bool:
    """A segment the fit can use: decoded, and (for speech cut into several segments) not
    a piece whose right text is unknown."""
    return "signals" in r and not (r["reference"] is not None and r["segments"] > 1)


def fit(rows: list[dict], features: list[str]) -> conf.Calibration:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[r["signals"][f] for f in features] for r in rows])
    y = np.array([r["right"] for r in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    lr = LogisticRegression(C=1.0, max_iter=1000).fit((x - mean) / scale, y)
    return conf.Calibration(list(features), mean, scale, lr.coef_[0], float(lr.intercept_[0]), 0.5, {})


def choose_threshold(calibration: conf.Calibration, rows: list[dict]) -> float:
    """The threshold with the best balanced accuracy on the fitting half: the mean of the
    acceptance of right in-grammar segments and the rejection of out-of-grammar ones
    (wrong in-grammar segments may go either way: rejecting them is welcome, not required)."""
    p = np.array([calibration(r["signals"]) for r in rows])
    kind = np.array([r["kind"] for r in rows])
    right = np.array([r["right"] for r in rows]) & np.isin(kind, GRAMMAR_KINDS)
    out = np.isin(kind, REJECT_KINDS)
    candidates = np.unique(np.round(p, 4))
    best = max(candidates, key=lambda t: ((p[right] >= t).mean() + (p[out] < t).mean()) / 2 - 1e-6 * abs(t - 0.5))
    return float(best)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties half)."""
    if positive.size == 0 or negative.size == 0:
        return float("nan")
    greater = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return float(greater + ties / 2)


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[list[dict], float]:
    """Segments binned by predicted confidence: count, mean prediction, observed share
    right; and the expected calibration error (count-weighted |prediction - observed|)."""
    table, ece = [], 0.0
    edges = np.linspace(0, 1, bins + 1)
    for k in range(bins):
        inside = (p >= edges[k]) & ((p < edges[k + 1]) if k < bins - 1 else (p <= 1))
        if inside.any():
            row = {"low": round(edges[k], 2), "high": round(edges[k + 1], 2), "count": int(inside.sum()),
                   "predicted": round(float(p[inside].mean()), 4), "observed": round(float(y[inside].mean()), 4)}  # fmt: skip
            table.append(row)
            ece += inside.sum() / p.size * abs(row["predicted"] - row["observed"])
    return table, round(float(ece), 4)


GRAMMAR_KINDS = ("grammar", "grammar_seen_voices", "grammar_codec", "human_digits")
REJECT_KINDS = ("open_english", "human_open", "other_language", "noise", "music", "tone", "hum")


def measure(calibration: conf.Calibration, rows: list[dict], clips: set) -> dict:
    """The numbers on the measuring half: per kind, clips accepted (every segment
    understood) or rejected (no segment understood, or refused, or no words); AUROC,
    calibration error and the reliability table over its segments."""
    t = calibration.threshold
    mine = [r for r in rows if r["clip"] in clips]
    by_clip: dict[int, list[dict]] = {}
    for r in mine:
        by_clip.setdefault(r["clip"], []).append(r)
    per_kind: dict[str, dict] = {}
    for segs in by_clip.values():
        kind = segs[0]["kind"]
        decoded = [s for s in segs if "signals" in s]
        understood = [calibration(s["signals"]) >= t for s in decoded]
        entry = per_kind.setdefault(kind, {"clips": 0, "any_understood": 0, "right": 0, "right_accepted": 0,
                                          "wrong_accepted": 0, "wrong": 0})  # fmt: skip
        entry["clips"] += 1
        entry["any_understood"] += any(understood)
        right = len(decoded) == 1 and decoded[0]["right"]
        entry["right"] += right
        entry["right_accepted"] += right and understood[0]
        entry["wrong"] += not right
        entry["wrong_accepted"] += (not right) and any(understood)
    scored = [r for r in mine if usable(r)]
    p = np.array([calibration(r["signals"]) for r in scored])
    y = np.array([r["right"] for r in scored])
    kind = np.array([r["kind"] for r in scored])
    rejects = np.isin(kind, REJECT_KINDS)
    table, ece = reliability(p, y)
    reject_clips = sum(v["clips"] for k, v in per_kind.items() if k in REJECT_KINDS)
    falsely_accepted = sum(v["any_understood"] for k, v in per_kind.items() if k in REJECT_KINDS)
    g = {k: sum(v[k] for kind_, v in per_kind.items() if kind_ in GRAMMAR_KINDS) for k in ("right", "right_accepted", "wrong", "wrong_accepted", "clips")}
    unheard = per_kind.get("grammar", {"right": 0, "right_accepted": 0})
    correct_decisions = sum(v["right_accepted"] + v["wrong"] - v["wrong_accepted"] for v in per_kind.values())
    per_engine = {}
    for engine in sorted({r["engine"] for r in scored}):
        mine_e = [r for r in scored if r["engine"] == engine]
        right_e = [r for r in mine_e if r["right"] and r["kind"] in GRAMMAR_KINDS]
        pe = np.array([calibration(r["signals"]) for r in mine_e])
        per_engine[engine] = {
            "segments": len(mine_e),
            "right_in_grammar": len(right_e),
            "accept_rate_right_grammar": round(float(np.mean([calibration(r["signals"]) >= t for r in right_e])), 4)
            if right_e else None,
            "ece": reliability(pe, np.array([r["right"] for r in mine_e]))[1],
        }  # fmt: skip
    return {
        "per_engine": per_engine,
        "threshold": round(t, 4),
        "clips": len(by_clip),
        "segments": int(p.size),
        "accuracy": round(correct_decisions / max(1, len(by_clip)), 4),
        "reject_rate_out_of_grammar": round(1 - falsely_accepted / max(1, reject_clips), 4),
        "false_accept_rate_out_of_grammar": round(falsely_accepted / max(1, reject_clips), 4),
        "accept_rate_right_grammar": round(g["right_accepted"] / max(1, g["right"]), 4),
        "false_reject_rate_right_grammar": round(1 - g["right_accepted"] / max(1, g["right"]), 4),
        "accept_rate_right_grammar_unheard_voices": round(unheard["right_accepted"] / max(1, unheard["right"]), 4),
        "reject_rate_human_out_of_grammar": round(1 - per_kind.get("human_open", {}).get("any_understood", 0)
                                                  / max(1, per_kind.get("human_open", {}).get("clips", 0)), 4),
        "reject_rate_non_speech": round(1 - sum(per_kind.get(k, {}).get("any_understood", 0) for k in NON_SPEECH)
                                        / max(1, sum(per_kind.get(k, {}).get("clips", 0) for k in NON_SPEECH)), 4),
        "grammar_exact": round(g["right"] / max(1, g["clips"]), 4),
        "grammar_wrong_rejected": round(1 - g["wrong_accepted"] / max(1, g["wrong"]), 4) if g["wrong"] else None,
        "auroc_right_grammar_vs_out_of_grammar": round(auroc(p[y & np.isin(kind, GRAMMAR_KINDS)], p[rejects]), 4),
        "ece": ece,
        "reliability": table,
        "per_kind": per_kind,
    }


NON_SPEECH = ("noise", "music", "tone", "hum")


def codec_agreement(calibration: conf.Calibration, rows: list[dict]) -> dict:
    """Each compressed copy against its original (all clips: the split does not matter
    here): the same text, and how far the confidence moved."""
    by_file = {r["file"]: r for r in rows if "signals" in r and r["segments"] == 1}
    pairs = [(by_file[r["original"]], r) for r in rows
             if r["kind"] == "grammar_codec" and "signals" in r and r.get("original") in by_file and r["segments"] == 1]  # fmt: skip
    if not pairs:
        return {}
    delta = np.array([abs(calibration(a["signals"]) - calibration(b["signals"])) for a, b in pairs])
    return {"pairs": len(pairs), "same_text": round(float(np.mean([a["text"] == b["text"] for a, b in pairs])), 4),
            "same_decision": round(float(np.mean([(calibration(a["signals"]) >= calibration.threshold)
                                                  == (calibration(b["signals"]) >= calibration.threshold) for a, b in pairs])), 4),
            "confidence_change_median": round(float(np.median(delta)), 4),
            "confidence_change_p90": round(float(np.quantile(delta, 0.9)), 4)}  # fmt: skip


FEATURE_SETS = {
    "avg_logprob alone": ["avg_logprob"],
    "log-probabilities (avg, min)": ["avg_logprob", "min_logprob"],
    "all signals": list(conf.SIGNALS),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grammar-clips", type=int, default=200, help="grammar sentences, unheard voices")
    parser.add_argument("--seen-voice-clips", type=int, default=100, help="grammar sentences, training's voices")
    parser.add_argument("--redecode", action="store_true", help="decode again instead of reading work/confidence/rows.json")
    parser.add_argument("--no-write", action="store_true", help="measure only; leave the model directory alone")
    parser.add_argument("--material-only", action="store_true", help="make (and cache) the clips, decode nothing")
    parser.add_argument("--model", choices=sorted(MODELS), default="asr",
                        help="asr: the recogniser (bundled-asr); st: the translation model (bundled-st)")
    args = parser.parse_args()
    engines.check_engines(list(engines.ENGINES))
    if shutil.which("sox") is None:
        raise SystemExit("sox is missing: apt-get install sox")
    MODEL_DIR, RESULT = MODELS[args.model], RESULTS[args.model]
    t0 = time.time()
    clips = material(args.grammar_clips, args.seen_voice_clips)
    print(f"[{time.time() - t0:5.0f} s] {len(clips)} clips", flush=True)
    if args.material_only:
        return
    model = minis2t.Speech2Text.from_pretrained(MODEL_DIR)
    model.calibration = None  # signals only: the calibration is what this fits
    cache = WORK / f"decoded_{args.model}.json"  # delete it (or --redecode) after changing the model or the signals
    known = json.loads(cache.read_text()) if cache.exists() and not args.redecode else {}
    cached = sum(path.name in known for _, path in clips)
    rows = decode_all(model, clips, known, args.model)
    for r in rows:  # which original a compressed copy came from
        if r["kind"] == "grammar_codec":
            r["original"] = clips[r["clip"]][0]["original"]
    cache.write_text(json.dumps(known))
    print(f"[{time.time() - t0:5.0f} s] {len(rows)} rows decoded", flush=True)
    fit_clips, measure_clips = split(rows)
    train = [r for r in rows if r["clip"] in fit_clips and usable(r)]
    compared = {}
    for name, features in FEATURE_SETS.items():
        calibration = fit(train, features)
        calibration.threshold = choose_threshold(calibration, train)
        compared[name] = {"calibration": calibration, "measured": measure(calibration, rows, measure_clips)}
        m = compared[name]["measured"]
        print(f"{name:32s} threshold {m['threshold']:.3f} accuracy {m['accuracy']:.3f} "
              f"reject(out) {m['reject_rate_out_of_grammar']:.3f} accept(right grammar) "
              f"{m['accept_rate_right_grammar']:.3f} AUROC {m['auroc_right_grammar_vs_out_of_grammar']:.4f} "
              f"ECE {m['ece']:.3f}", flush=True)  # fmt: skip
    chosen = "all signals"
    calibration = compared[chosen]["calibration"]
    seconds = round(time.time() - t0)
    counts = {k: sum(item["kind"] == k for item, _ in clips) for k in dict.fromkeys(i["kind"] for i, _ in clips)}
    results = {
        "chosen": chosen,
        "clips_per_kind": counts,
        "fit_clips": len(fit_clips),
        "measure_clips": len(measure_clips),
        "segments_left_out_of_fit": sum(1 for r in rows if "signals" in r and not usable(r)),
        "seconds": seconds,
        "clips_from_cache": cached,  # 0: the seconds are those of the whole recipe, from nothing
        "compared": {name: {"features": c["calibration"].features, **c["measured"]} for name, c in compared.items()},
        "codec_copies": codec_agreement(calibration, rows),
        "measured_segments": [
            {"kind": r["kind"], "engine": r["engine"], "right": r["right"],
             "confidence": round(calibration(r["signals"]), 4)}
            for r in rows if r["clip"] in measure_clips and usable(r)
        ],
    }
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(results, indent=1) + "\n")
    m = compared[chosen]["measured"]
    calibration.info = {
        "about": "P(segment text exactly right) from decoder signals; fitted by "
                 "recipes/synthetic_speech/confidence.py on held-out material (see results/confidence.json)",
        "held_out": {k: m[k] for k in ("clips", "segments", "accuracy", "reject_rate_out_of_grammar",
                                       "accept_rate_right_grammar", "auroc_right_grammar_vs_out_of_grammar", "ece")},
    }  # fmt: skip
    calibration.threshold = round(calibration.threshold, 4)
    if not args.no_write:
        (MODEL_DIR / conf.FILENAME).write_text(json.dumps(calibration.to_dict(), indent=1) + "\n")
    print(json.dumps({k: v for k, v in m.items() if k not in ("reliability", "per_kind")}, indent=1))
    print(json.dumps(results["codec_copies"]))
    print(f"[{seconds:5d} s] wrote {RESULT}" + ("" if args.no_write else f" and {MODEL_DIR / conf.FILENAME}"))


if __name__ == "__main__":
    main()

"""Fit the bundled model's confidence calibration on held-out material, and measure it.

The bundled recogniser answers anything — noise, German, a PIN code — with a fluent
grammar sentence. This recipe makes material the model never trained on, runs it through
``transcribe_long`` exactly as the command does, and fits a logistic regression from the
decoder's signals (:mod:`minis2t.app.confidence`) to "the segment's text is exactly right":

* **in-grammar speech from voices the model did not train on**: grammar sentences drawn
  with a seed of their own (none is a training or test sentence of ``run.py``), spoken
  by espeak-ng's held-out accents and by its voice variants that training never used,
  at rates outside training's range, by flite's held-out ``rms`` voice and by flite
  voices stretched beyond training's range or pitch-shifted by sox;
* **speech the model must reject**: English sentences outside the grammar (written
  here), eight other languages espeak-ng speaks, digit strings said digit by digit;
* **non-speech it must reject**: noise (white, pink, brown), music (sums of harmonic
  tones with a melody), pure tones and sweeps, hum over near-silence — made with NumPy.

Each clip is a unit of the split: half the clips (stratified by kind) fit the
calibration and choose its threshold, the other half measure it. The fitted calibration
goes to ``minis2t/assets/model/confidence.json``, the numbers to
``results/confidence.json``. Clips are cached in ``work/confidence/`` (git-ignored).

    python recipes/synthetic_speech/confidence.py            # ~10 minutes on 2 cores
"""

from __future__ import annotations

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

import grammar  # noqa: E402
import minis2t  # noqa: E402
from minis2t.app import confidence as conf  # noqa: E402
from minis2t.app import longform  # noqa: E402

WORK = HERE / "work" / "confidence"
MODEL_DIR = ROOT / "minis2t" / "assets" / "model"
RESULTS = HERE / "results" / "confidence.json"
RATE = 16000
SEED = 31

# espeak-ng variants that training never used (it used "", +m3, +f2, +m5, +f4, +klatt).
NEW_VARIANTS = ["+m1", "+m2", "+m7", "+f1", "+f3", "+f5", "+klatt3", "+Annie", "+Andy", "+Michael"]
HELD_OUT_ACCENTS = ["en-029", "en-gb-x-gbcwmd"]  # held out of training by engines.HELD_OUT
TRAINED_ACCENTS = ["en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-us-nyc"]

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
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


# --- material ------------------------------------------------------------------------


def held_out_sentences(n: int) -> list[str]:
    """Grammar sentences that are neither training nor test sentences of ``run.py``."""
    import run  # the training split, as the bundled model's run made it

    train, test = run.split_sentences(16000, 300, 0)
    seen = set(train) | set(test) | set((HERE / "test_sentences.txt").read_text().splitlines())
    fresh = [s for s in dict.fromkeys(grammar.sentences(20 * n, SEED)) if s not in seen]
    return fresh[:n]


def digit_string(rng: random.Random) -> str:
    words = [rng.choice(DIGITS) for _ in range(rng.randint(3, 11))]
    return " ".join("oh" if w == "zero" and rng.random() < 0.3 else w for w in words)


def speech_plan(rng: random.Random, n_grammar: int, n_seen: int) -> list[dict]:
    """``{"kind", "text", "reference", "engine", ...}`` for every spoken clip."""
    items = []
    sentences = held_out_sentences(n_grammar + n_seen)
    for i, text in enumerate(sentences[:n_grammar]):
        items.append({"kind": "grammar", "text": text, "reference": text, **unheard_voice(rng, i)})
    for i, text in enumerate(sentences[n_grammar:]):
        items.append({"kind": "grammar_seen_voices", "text": text, "reference": text, **seen_voice(rng, i)})
    for i, text in enumerate(OPEN_ENGLISH):
        items.append({"kind": "open_english", "text": text, "reference": text, **any_voice(rng, i)})
    for lang, texts in OTHER_LANGUAGES.items():
        for text in texts:
            items.append({"kind": "other_language", "text": text, "reference": None, "engine": "espeak-ng",
                          "voice": lang + rng.choice(["", "+m1", "+f1", "+m3", "+f2"]), "speed": rng.randint(130, 190)})  # fmt: skip
    for i in range(40):
        text = digit_string(rng)
        items.append({"kind": "digits", "text": text, "reference": text.replace("oh", "zero"), **any_voice(rng, i)})
    return items


def unheard_voice(rng: random.Random, i: int) -> dict:
    """A voice (and rate) the model never trained on, engines in turn."""
    kind = i % 4
    if kind == 0:  # held-out accent, any variant
        return {"engine": "espeak-ng", "voice": rng.choice(HELD_OUT_ACCENTS) + rng.choice(NEW_VARIANTS + ["", "+m3"]),
                "speed": rng.randint(120, 210)}  # fmt: skip
    if kind == 1:  # a trained accent with a variant training never used, rates beyond training's 130-200
        return {"engine": "espeak-ng", "voice": rng.choice(TRAINED_ACCENTS) + rng.choice(NEW_VARIANTS),
                "speed": rng.choice([rng.randint(110, 130), rng.randint(200, 230)])}  # fmt: skip
    if kind == 2:  # flite's held-out voice
        return {"engine": "flite", "voice": "rms", "stretch": round(rng.uniform(0.8, 1.25), 3)}
    # flite voices stretched beyond training's 0.8-1.25, or shifted in pitch by sox
    return {"engine": "flite", "voice": rng.choice(["awb", "slt", "kal16"]),
            "stretch": rng.choice([round(rng.uniform(0.7, 0.8), 3), round(rng.uniform(1.25, 1.4), 3), 1.0]),
            "cents": rng.choice([-300, -200, 200, 300])}  # fmt: skip


def seen_voice(rng: random.Random, i: int) -> dict:
    """A voice training used, at training's rates (the sentence is new)."""
    if i % 2 == 0:
        return {"engine": "espeak-ng", "voice": rng.choice(TRAINED_ACCENTS) + rng.choice(["", "+m3", "+f2", "+m5", "+f4", "+klatt"]),
                "speed": rng.randint(130, 200)}  # fmt: skip
    return {"engine": "flite", "voice": rng.choice(["kal", "kal16", "awb", "slt"]), "stretch": round(rng.uniform(0.8, 1.25), 3)}


def any_voice(rng: random.Random, i: int) -> dict:
    """Speech outside the grammar in the engines' usual voices (training's or not)."""
    if i % 2 == 0:
        return {"engine": "espeak-ng", "voice": rng.choice(TRAINED_ACCENTS + HELD_OUT_ACCENTS) + rng.choice(["", "+m3", "+f2", "+m1", "+f3"]),
                "speed": rng.randint(130, 200)}  # fmt: skip
    return {"engine": "flite", "voice": rng.choice(["awb", "slt", "kal16", "rms"]), "stretch": round(rng.uniform(0.85, 1.2), 3)}


def synthesise(item: dict, path: Path) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        if item["engine"] == "espeak-ng":
            command = ["espeak-ng", "-v", item["voice"], "-s", str(item["speed"]), "-w", str(raw), item["text"]]
        else:
            command = ["flite", "-voice", item["voice"], "--setf", f"duration_stretch={item['stretch']}",
                       "-t", item["text"], "-o", str(raw)]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)
        if item.get("cents"):
            shifted = Path(tmp) / "shifted.wav"
            subprocess.run(["sox", "-D", "-R", str(raw), str(shifted), "pitch", str(item["cents"])], check=True, capture_output=True)
            raw = shifted
        wave = minis2t.load_audio(raw)  # 16 kHz mono float32
    sf.write(path, wave, RATE)
    return wave


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
            out.append(({"kind": kind, "text": None, "reference": None}, wave.astype(np.float32)))
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
    for i, (item, wave) in enumerate(non_speech(np.random.default_rng(SEED))):
        path = WORK / f"nonspeech_{i:04d}.wav"
        if not path.exists():
            sf.write(path, wave, RATE)
        clips.append((item, path))
    return clips


# --- decoding ----------------------------------------------------------------------


def decode_all(model, clips, cache: dict) -> list[dict]:
    """One row per segment that ``transcribe_long`` returns for each clip (as the command
    would cut and decode it), with the clip's kind and whether the text is exactly right.
    ``cache`` maps a clip's file name to its rows (decoded before)."""
    rows = []
    for c, (item, path) in enumerate(clips):
        if path.name in cache:
            rows += [{**r, "clip": c} for r in cache[path.name]]
            continue
        first = len(rows)
        try:
            result = longform.transcribe_long(model, str(path), word_timestamps=False, keep_signals=True)
        except minis2t.errors.MiniS2TError as e:  # e.g. silence: refused before decoding
            rows.append({"clip": c, "kind": item["kind"], "refused": type(e).__name__})
            cache[path.name] = rows[first:]
            continue
        segments = result["segments"]
        if not segments:
            rows.append({"clip": c, "kind": item["kind"], "refused": "no words"})
        for s in segments:
            right = len(segments) == 1 and item["reference"] is not None and s["text"] == item["reference"]
            rows.append({"clip": c, "kind": item["kind"], "segments": len(segments), "text": s["text"],
                         "reference": item["reference"], "right": bool(right), "signals": s["signals"]})  # fmt: skip
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


GRAMMAR_KINDS = ("grammar", "grammar_seen_voices")
REJECT_KINDS = ("open_english", "other_language", "digits", "noise", "music", "tone", "hum")


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
    return {
        "threshold": round(t, 4),
        "clips": len(by_clip),
        "segments": int(p.size),
        "accuracy": round(correct_decisions / max(1, len(by_clip)), 4),
        "reject_rate_out_of_grammar": round(1 - falsely_accepted / max(1, reject_clips), 4),
        "false_accept_rate_out_of_grammar": round(falsely_accepted / max(1, reject_clips), 4),
        "accept_rate_right_grammar": round(g["right_accepted"] / max(1, g["right"]), 4),
        "false_reject_rate_right_grammar": round(1 - g["right_accepted"] / max(1, g["right"]), 4),
        "accept_rate_right_grammar_unheard_voices": round(unheard["right_accepted"] / max(1, unheard["right"]), 4),
        "grammar_exact": round(g["right"] / max(1, g["clips"]), 4),
        "grammar_wrong_rejected": round(1 - g["wrong_accepted"] / max(1, g["wrong"]), 4) if g["wrong"] else None,
        "auroc_right_grammar_vs_out_of_grammar": round(auroc(p[y & np.isin(kind, GRAMMAR_KINDS)], p[rejects]), 4),
        "ece": ece,
        "reliability": table,
        "per_kind": per_kind,
    }


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
    args = parser.parse_args()
    for program in ("espeak-ng", "flite", "sox"):
        if shutil.which(program) is None:
            raise SystemExit(f"{program} is missing: apt-get install espeak-ng flite sox")
    t0 = time.time()
    clips = material(args.grammar_clips, args.seen_voice_clips)
    print(f"[{time.time() - t0:5.0f} s] {len(clips)} clips", flush=True)
    model = minis2t.Speech2Text.from_pretrained(MODEL_DIR)
    model.calibration = None  # signals only: the calibration is what this fits
    cache = WORK / "decoded.json"  # delete it (or --redecode) after changing the model or the signals
    known = json.loads(cache.read_text()) if cache.exists() and not args.redecode else {}
    cached = sum(path.name in known for _, path in clips)
    rows = decode_all(model, clips, known)
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
        "measured_segments": [
            {"kind": r["kind"], "right": r["right"], "confidence": round(calibration(r["signals"]), 4)}
            for r in rows if r["clip"] in measure_clips and usable(r)
        ],
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
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
    print(f"[{seconds:5d} s] wrote {RESULTS}" + ("" if args.no_write else f" and {MODEL_DIR / conf.FILENAME}"))


if __name__ == "__main__":
    main()

"""Every exercise's answer rests on numbers the build computes from the code it is about.

``docs/hooks/answers.py`` computes each answer's numbers and asserts the claim the
answer's prose makes; the pages include them with ``<!-- answer: NAME -->``. These tests
run every one of those functions (a claim that stops being true fails here), and check
that every exercise on a stage page has its computed answer — or is on the short list of
answers that are an argument, not a number, with the reason.
"""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "hooks"))

import answers  # noqa: E402

STAGE_PAGES = ["audio", "frames", "mel", "cmvn", "subsampling", "positions", "attention",
               "encoder-decoder", "search", "tokenizer", "learning", "translation", "long-form"]  # fmt: skip
# exercises whose answer is an argument with no number to compute (page, question number)
ARGUMENTS = {
    ("search", "1"): "why 2K candidates: a counting argument (at most K of 2K end), no measurement",
}


def exercises(page: str) -> list[tuple[str, str]]:
    """(question number, the question and its answer's Markdown) for each exercise."""
    text = (DOCS / f"{page}.md").read_text()
    parts = re.split(r'^\?\?\? question "', text, flags=re.M)[1:]
    return [(p.split(".", 1)[0], p) for p in parts]


def directives() -> list[tuple[str, str]]:
    found = []
    for page in STAGE_PAGES:
        found += [(page, name) for name in re.findall(r"<!-- answer: (\w+) -->", (DOCS / f"{page}.md").read_text())]
    return found


@pytest.mark.parametrize("page", STAGE_PAGES)
def test_every_exercise_has_a_computed_answer(page):
    missing = []
    for number, body in exercises(page):
        assert '??? success "Answer"' in body, (page, number)
        if "<!-- answer: " not in body.split('??? success "Answer"', 1)[1] and (page, number) not in ARGUMENTS:
            missing.append(number)
    assert missing == [], f"{page}: exercises {missing} have no <!-- answer: --> directive"
    assert len(exercises(page)) >= 2


@pytest.mark.parametrize("page,name", directives(), ids=[f"{p}-{n}" for p, n in directives()])
def test_answer_holds(page, name):
    """The function computes the numbers and asserts the answer's claim."""
    body = getattr(answers, name)()
    assert body.startswith("*Computed when this page was built:*")


@pytest.mark.parametrize("name", sorted(answers.NUMBERS))
def test_number_in_prose_holds(name):
    pages = [p.stem for p in DOCS.glob("*.md") if f"<!-- n: {name} -->" in p.read_text()]
    assert pages, f"{name} is used nowhere"
    assert re.fullmatch(r"[0-9.]+", answers.NUMBERS[name]())


def test_the_fixed_answers_say_what_the_code_does():
    """The answers that were wrong, as the code measures them now."""
    leak = answers.leakage()
    assert leak[1000.0, "rectangle"] > -20  # the 512-point FFT pads 400 samples: the rectangle leaks
    frames = (DOCS / "frames.md").read_text()
    assert "so even the rectangle is clean there" not in frames
    best = [answers.STEPS[min(range(len(e)), key=e.__getitem__)] for e in answers.finite_differences().values()]
    assert all(b in (1e-3, 1e-4) for b in best), best
    assert "balance near \\(h \\approx 10^{-5}\\)" not in (DOCS / "learning.md").read_text()
    cmvn = (DOCS / "cmvn.md").read_text()
    assert "about\n140 dB" not in cmvn and "<!-- n: fft_noise_db -->" in cmvn
    assert "five times longer" not in (DOCS / "tokenizer.md").read_text()


def test_running_example_is_a_person_and_synthetic_speech_is_named():
    """The front-end pages' worked examples and figures run on the LibriSpeech utterance
    the package ships (a person reading); every page whose examples need the bundled
    model to decode says that they use its synthetic speech, and shows why."""
    import inspect

    import worked

    for name in ("frames", "mel", "cmvn", "subsampling"):
        source = inspect.getsource(getattr(worked, name))
        assert "human()" in source and "sample()" not in source, name
    wave, text, file = worked.human()
    assert file == "en_librispeech_dev-clean_1272-128104-0000.flac" and text.startswith("mister quilter")
    for page in ("attention", "encoder-decoder", "search", "learning"):
        assert "<!-- worked: recording_note -->" in (DOCS / f"{page}.md").read_text(), page
    note = worked.recording_note()
    assert "synthetic" in note and file in note
    index = (DOCS / "index.md").read_text()
    assert "a worked example on a real recording" not in index

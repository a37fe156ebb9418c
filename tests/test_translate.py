"""The synthetic recipe's translations (recipes/synthetic_speech/translate.py): every
grammar sentence is understood, and each language writes it as a speaker would."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes" / "synthetic_speech"))

import grammar  # noqa: E402
import translate  # noqa: E402


def test_every_sentence_of_the_grammar_is_parsed_and_translated():
    """A dense sample of the grammar (every template in it): each sentence matches one
    template, and each translation is filled in (no slot left, no double space)."""
    seen = set()
    for sentence in grammar.sentences(20_000, seed=3):
        name, _ = translate.parse(sentence)
        seen.add(name)
        for text in translate.translations(sentence).values():
            assert "{" not in text and "  " not in text and text == text.strip() and text.islower()
    assert seen == {name for name, _ in translate.TEMPLATES}
    readme = (Path(translate.__file__).parent / "README.md").read_text()
    assert f"the {len(translate.TEMPLATES)} templates written in French" in " ".join(readme.split())


@pytest.mark.parametrize("english, fr, de, es", [
    ("four seven one nine", "quatre sept un neuf", "vier sieben eins neun", "cuatro siete uno nueve"),
    ("room one oh four", "salle un zéro quatre", "raum eins null vier", "sala uno cero cuatro"),
    ("could you call oh two oh , seven nine six",  # a spoken form: the pause mark is dropped
     "peux-tu appeler le zéro deux zéro sept neuf six", "kannst du die null zwei null sieben neun sechs anrufen",
     "puedes llamar al cero dos cero siete nueve seis"),
])  # fmt: skip
def test_digit_strings_are_read_digit_by_digit_in_every_language(english, fr, de, es):
    assert translate.translations(english) == {"fr": fr, "de": de, "es": es}


def test_the_test_sentences_are_translated():
    texts = (Path(translate.__file__).parent / "test_sentences.txt").read_text().splitlines()
    assert all(len(set(translate.translations(t).values())) == 3 for t in texts)


def test_a_sentence_outside_the_grammar_is_refused():
    with pytest.raises(ValueError, match="not a sentence of the grammar"):
        translate.parse("turn on the moon")


# Numbers: the irregular ones of each language (written from the languages' rules).
@pytest.mark.parametrize("n, fr, de, es", [
    (1, "un", "eins", "uno"), (16, "seize", "sechzehn", "dieciséis"), (17, "dix-sept", "siebzehn", "diecisiete"),
    (21, "vingt et un", "einundzwanzig", "veintiuno"), (22, "vingt-deux", "zweiundzwanzig", "veintidós"),
    (30, "trente", "dreißig", "treinta"), (31, "trente et un", "einunddreißig", "treinta y uno"),
    (70, "soixante-dix", "siebzig", "setenta"), (71, "soixante et onze", "einundsiebzig", "setenta y uno"),
    (77, "soixante-dix-sept", "siebenundsiebzig", "setenta y siete"), (80, "quatre-vingts", "achtzig", "ochenta"),
    (81, "quatre-vingt-un", "einundachtzig", "ochenta y uno"), (90, "quatre-vingt-dix", "neunzig", "noventa"),
    (99, "quatre-vingt-dix-neuf", "neunundneunzig", "noventa y nueve"),
])  # fmt: skip
def test_numbers(n, fr, de, es):
    assert (translate.number(n, "fr"), translate.number(n, "de"), translate.number(n, "es")) == (fr, de, es)
    words = grammar.UNITS[n] if n < 20 else grammar.TENS[n // 10 - 2] + ("" if n % 10 == 0 else " " + grammar.UNITS[n % 10])
    assert translate.english_number(words) == n


# Sentences whose translation tests a rule: gender and agreement, contraction and
# elision, German separable verbs and verb-final clauses after "kannst du", clock times.
@pytest.mark.parametrize("english, fr, de, es", [
    ("please turn on the living room lamp", "allume la lampe du salon s'il te plaît",
     "bitte schalte die lampe im wohnzimmer ein", "enciende la lámpara del salón por favor"),
    ("could you turn off the fan in the kitchen", "peux-tu éteindre le ventilateur dans la cuisine",
     "kannst du den ventilator in der küche ausschalten", "puedes apagar el ventilador en la cocina"),
    ("where is the nearest pharmacy", "où est la pharmacie la plus proche", "wo ist die nächste apotheke",
     "dónde está la farmacia más cercana"),
    ("is the hospital open tomorrow", "est-ce que l'hôpital est ouvert demain", "hat das krankenhaus morgen geöffnet",
     "está abierto el hospital mañana"),
    ("find a bank near the train station", "trouve une banque près de la gare", "finde eine bank beim bahnhof",
     "encuentra un banco cerca de la estación de tren"),
    ("do we have any eggs left", "est-ce qu'il nous reste des œufs", "haben wir noch eier", "nos quedan huevos"),
    ("set an alarm for one fifteen in the morning", "mets un réveil à une heure quinze du matin",
     "stelle einen wecker für ein uhr fünfzehn morgens", "pon una alarma a la una y quince de la mañana"),
    ("what is the weather in cairo today", "quel temps fera-t-il au caire aujourd'hui",
     "wie ist das wetter heute in kairo", "qué tiempo hará en el cairo hoy"),
    ("read my messages from emma", "lis mes messages d'emma", "lies meine nachrichten von emma",
     "lee mis mensajes de emma"),
    ("could you remind me to water the plants at six o'clock", "peux-tu me rappeler d'arroser les plantes à six heures",
     "kannst du mich daran erinnern um sechs uhr die pflanzen zu gießen",
     "puedes recordarme regar las plantas a las seis en punto"),
])  # fmt: skip
def test_rules_of_each_language(english, fr, de, es):
    assert translate.translations(english) == {"fr": fr, "de": de, "es": es}

"""A closed-vocabulary sentence generator: spoken commands to a home assistant.

Ten kinds of request (lights and devices, alarms and timers, weather, music, calls and
messages, directions, shopping lists, arithmetic, reminders, digit strings), each a
template whose slots are filled from the word lists below.

Digit strings are said the way people say phone numbers and codes: 3 to 11 digits in
groups of two to four, "zero" or "oh" for 0, a pause between groups. The pause is written
as a comma in the *spoken* form (:func:`sentence`), which the synthesisers read as a
short break; the *label* (:func:`label`) is the same words without it. A grammar, not word salad: the decoder can lean on
context, as a real recognizer does. All words are written here by hand (no external word
list), so there is no third-party licence to record.
"""

from __future__ import annotations

import random

UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]  # fmt: skip
TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
COLORS = ["red", "green", "blue", "yellow", "orange", "purple", "pink", "white", "warm", "cool"]
ROOMS = ["kitchen", "bedroom", "bathroom", "living room", "office", "garage", "garden",
         "hallway", "basement", "dining room", "nursery", "attic"]  # fmt: skip
DEVICES = ["lights", "lamp", "fan", "heater", "radio", "television", "oven", "kettle",
           "air conditioner", "coffee machine", "dishwasher", "washing machine", "speaker",
           "printer"]  # fmt: skip
OPENABLE = ["door", "window", "blinds", "curtains", "garage door", "gate"]
CITIES = ["london", "paris", "berlin", "madrid", "rome", "tokyo", "sydney", "chicago",
          "boston", "seattle", "toronto", "dublin", "vienna", "prague", "oslo", "cairo",
          "delhi", "lima", "denver", "miami", "lisbon", "athens", "moscow", "warsaw"]  # fmt: skip
DAYS = ["today", "tomorrow", "tonight", "on monday", "on tuesday", "on wednesday",
        "on thursday", "on friday", "on saturday", "on sunday", "this weekend", "next week",
        "this evening", "tomorrow morning"]  # fmt: skip
NAMES = ["alice", "bob", "carol", "david", "emma", "frank", "grace", "henry", "isabel",
         "jack", "kate", "leo", "maria", "nina", "oscar", "paul", "rosa", "sam", "tom",
         "victor", "mom", "dad", "grandma", "uncle peter"]  # fmt: skip
GENRES = ["jazz", "rock", "classical", "pop", "folk", "blues", "country", "reggae", "piano",
          "relaxing", "dance", "opera"]  # fmt: skip
ITEMS = ["apples", "bananas", "eggs", "bread", "milk", "butter", "cheese", "coffee", "tea",
         "rice", "pasta", "tomatoes", "potatoes", "onions", "carrots", "lemons", "chicken",
         "fish", "yogurt", "cookies", "oranges", "sugar", "flour", "soap", "batteries"]  # fmt: skip
PLACES = ["restaurant", "pharmacy", "bakery", "hospital", "gas station", "supermarket",
          "bank", "library", "museum", "park", "hotel", "cinema", "train station", "airport",
          "post office", "coffee shop"]  # fmt: skip
TASKS = ["buy milk", "call mom", "water the plants", "feed the cat", "pay the bills",
         "take out the trash", "walk the dog", "book a table", "pick up the kids",
         "clean the kitchen", "send the report", "check the mail", "charge my phone",
         "lock the door", "take my medicine", "bring an umbrella"]  # fmt: skip
PHRASES = ["i am running late", "see you soon", "call me back", "happy birthday",
           "dinner is ready", "i will be home at six", "thank you very much",
           "the meeting is cancelled", "good night", "where are you"]  # fmt: skip
UNITS_OF_TIME = ["seconds", "minutes", "hours"]
OPERATIONS = ["plus", "minus", "times", "divided by"]
POLITE = ["", "", "", "please ", "could you "]


def number(rng: random.Random, low: int = 1, high: int = 99) -> str:
    """A number in words, e.g. 42 -> "forty two"."""
    n = rng.randint(low, high)
    if n < 20:
        return UNITS[n]
    tens, unit = divmod(n, 10)
    return TENS[tens - 2] + ("" if unit == 0 else " " + UNITS[unit])


def clock_time(rng: random.Random) -> str:
    hour = rng.choice(UNITS[1:13])
    minute = rng.choice(["", " fifteen", " thirty", " forty five", " o'clock", " ten", " twenty"])
    period = rng.choice(["", "", " in the morning", " in the evening", " at night"])
    return hour + (minute if minute != " o'clock" else " o'clock") + period


def _devices(rng):
    p = rng.choice(POLITE)
    return rng.choice([
        f"{p}turn on the {rng.choice(ROOMS)} {rng.choice(DEVICES)}",
        f"{p}turn off the {rng.choice(DEVICES)} in the {rng.choice(ROOMS)}",
        f"{p}set the {rng.choice(ROOMS)} lights to {rng.choice(COLORS)}",
        f"{p}dim the lights to {number(rng, 1, 99)} percent",
        f"{p}{rng.choice(['open', 'close'])} the {rng.choice(ROOMS)} {rng.choice(OPENABLE)}",
        f"is the {rng.choice(DEVICES)} in the {rng.choice(ROOMS)} still on",
        f"{p}set the temperature to {number(rng, 15, 30)} degrees",
    ])  # fmt: skip


def _alarms(rng):
    p = rng.choice(POLITE)
    return rng.choice([
        f"{p}set an alarm for {clock_time(rng)}",
        f"{p}wake me up at {clock_time(rng)} {rng.choice(DAYS)}",
        f"{p}set a timer for {number(rng, 2, 60)} {rng.choice(UNITS_OF_TIME)}",
        f"how much time is left on the timer",
        f"{p}cancel the alarm for {clock_time(rng)}",
    ])  # fmt: skip


def _weather(rng):
    return rng.choice([
        f"what is the weather in {rng.choice(CITIES)} {rng.choice(DAYS)}",
        f"will it rain in {rng.choice(CITIES)} {rng.choice(DAYS)}",
        f"how cold is it in {rng.choice(CITIES)} right now",
        f"do i need an umbrella {rng.choice(DAYS)}",
    ])  # fmt: skip


def _music(rng):
    p = rng.choice(POLITE)
    return rng.choice([
        f"{p}play some {rng.choice(GENRES)} music",
        f"{p}play {rng.choice(GENRES)} music in the {rng.choice(ROOMS)}",
        f"{p}turn the volume {rng.choice(['up', 'down'])}",
        f"{p}play the next song",
        f"{p}stop the music",
        f"{p}set the volume to {number(rng, 1, 10)}",
    ])  # fmt: skip


def _messages(rng):
    p = rng.choice(POLITE)
    return rng.choice([
        f"{p}call {rng.choice(NAMES)}",
        f"{p}call {rng.choice(NAMES)} {rng.choice(DAYS)} at {clock_time(rng)}",
        f"{p}send a message to {rng.choice(NAMES)} saying {rng.choice(PHRASES)}",
        f"{p}text {rng.choice(NAMES)} that {rng.choice(PHRASES)}",
        f"read my messages from {rng.choice(NAMES)}",
    ])  # fmt: skip


def _directions(rng):
    return rng.choice([
        f"how long does it take to drive to {rng.choice(CITIES)}",
        f"find a {rng.choice(PLACES)} near the {rng.choice(PLACES)}",
        f"where is the nearest {rng.choice(PLACES)}",
        f"is the {rng.choice(PLACES)} open {rng.choice(DAYS)}",
        f"book a flight to {rng.choice(CITIES)} {rng.choice(DAYS)}",
    ])  # fmt: skip


def _shopping(rng):
    p = rng.choice(POLITE)
    return rng.choice([
        f"{p}add {number(rng, 1, 12)} {rng.choice(ITEMS)} to the shopping list",
        f"{p}add {rng.choice(ITEMS)} and {rng.choice(ITEMS)} to my list",
        f"{p}remove {rng.choice(ITEMS)} from the shopping list",
        f"do we have any {rng.choice(ITEMS)} left",
    ])  # fmt: skip


def _math(rng):
    return rng.choice([
        f"what is {number(rng, 1, 99)} {rng.choice(OPERATIONS)} {number(rng, 1, 20)}",
        f"how much is {number(rng, 1, 99)} {rng.choice(OPERATIONS)} {number(rng, 1, 99)}",
    ])  # fmt: skip


def _reminders(rng):
    p = rng.choice(POLITE)
    return rng.choice([
        f"{p}remind me to {rng.choice(TASKS)} {rng.choice(DAYS)}",
        f"{p}remind me to {rng.choice(TASKS)} at {clock_time(rng)}",
        f"what do i have to do {rng.choice(DAYS)}",
    ])  # fmt: skip


DIGITS = UNITS[:10]  # "zero" ... "nine"
DIGIT_WORDS = {*DIGITS, "oh"}


def digit_string(rng: random.Random, low: int = 3, high: int = 11) -> str:
    """``low``-``high`` digits in words, grouped (2-4 digits a group) with a comma where a
    speaker pauses: "oh two oh, seven nine four six". 0 is "oh" for some speakers (chosen
    per string: people are consistent within one number), "zero" for the others."""
    n = rng.randint(low, high)
    oh = rng.random() < 0.4
    words = [("oh" if oh else "zero") if d == 0 else DIGITS[d] for d in (rng.randrange(10) for _ in range(n))]
    groups, i = [], 0
    while i < n:
        size = min(n - i, rng.choice([2, 3, 3, 4, 4]) if n - i > 4 else n - i)
        groups.append(" ".join(words[i : i + size]))
        i += size
    return " , ".join(groups)


def _digits(rng):
    p = rng.choice(POLITE)
    return rng.choice([
        digit_string(rng),
        digit_string(rng),
        f"{p}call {digit_string(rng, 7, 11)}",
        f"{p}dial {digit_string(rng, 3, 11)}",
        f"the code is {digit_string(rng, 3, 8)}",
        f"my number is {digit_string(rng, 7, 11)}",
        f"the pin is {digit_string(rng, 4, 6)}",
        f"room {digit_string(rng, 3, 4)}",
        f"{p}send a message to {digit_string(rng, 7, 11)} saying {rng.choice(PHRASES)}",
    ])  # fmt: skip


# Digit strings twice: with no sentence around them to lean on, they need the data.
KINDS = [_devices, _alarms, _weather, _music, _messages, _directions, _shopping, _math, _reminders,
         _digits, _digits]  # fmt: skip


def sentence(rng: random.Random) -> str:
    """One request in its spoken form (commas where a speaker pauses)."""
    text = rng.choice(KINDS)(rng)
    return " ".join(text.split())


def label(spoken: str) -> str:
    """The transcript of a spoken form: its words, without the pause marks."""
    return " ".join(spoken.replace(",", " ").split())


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [sentence(rng) for _ in range(n)]


def vocabulary() -> set[str]:
    """Every word the grammar can produce (found by sampling it densely)."""
    words: set[str] = set()
    for s in sentences(200_000, seed=12345):
        words.update(label(s).split())
    return words


if __name__ == "__main__":
    v = vocabulary()
    print(len(v), "words")
    for s in sentences(20, 0):
        print(s, "->", label(s))

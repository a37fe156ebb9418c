"""Every grammar sentence in French, German and Spanish, translated by rule.

The grammar (:mod:`grammar`) is closed: each English sentence is one of its templates
with its slots filled. :func:`parse` finds the template and the slots (matching the
whole sentence against every template, the word lists as alternatives); each language
then writes the same request its own way — word order, articles and their gender,
contractions (``du``, ``au``, ``im``, ``del``), elision (``l'``, ``d'``, ``qu'``),
German separable verbs and verb-final infinitive clauses, numbers and clock times. A
polite prefix becomes ``... s'il te plaît`` / ``bitte ...`` / ``... por favor`` ("please")
or an infinitive after ``peux-tu`` / ``kannst du`` / ``puedes`` ("could you").

Texts are lowercase without punctuation, like the English. Every word here was written
by hand for this recipe (no external word list, so no third-party licence to record).
"""

from __future__ import annotations

import re
from functools import lru_cache

import grammar as g

LANGUAGES = ("fr", "de", "es")

# --- numbers -----------------------------------------------------------------------------

FR_UNITS = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze",
            "douze", "treize", "quatorze", "quinze", "seize", "dix-sept", "dix-huit", "dix-neuf"]  # fmt: skip
FR_TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante"}
DE_UNITS = ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "elf",
            "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn", "achtzehn", "neunzehn"]  # fmt: skip
DE_TENS = {2: "zwanzig", 3: "dreißig", 4: "vierzig", 5: "fünfzig", 6: "sechzig", 7: "siebzig", 8: "achtzig", 9: "neunzig"}
ES_UNITS = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once",
            "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve"]  # fmt: skip
ES_TWENTIES = ["veinte", "veintiuno", "veintidós", "veintitrés", "veinticuatro", "veinticinco", "veintiséis",
               "veintisiete", "veintiocho", "veintinueve"]  # fmt: skip
ES_TENS = {3: "treinta", 4: "cuarenta", 5: "cincuenta", 6: "sesenta", 7: "setenta", 8: "ochenta", 9: "noventa"}


def english_number(words: str) -> int:
    """The grammar's number words -> the number: "forty two" -> 42."""
    parts = words.split()
    if parts[0] in g.TENS:
        return 10 * (g.TENS.index(parts[0]) + 2) + (g.UNITS.index(parts[1]) if len(parts) > 1 else 0)
    return g.UNITS.index(parts[0])


def number(n: int, lang: str) -> str:
    """0-99 in words."""
    tens, unit = divmod(n, 10)
    if lang == "fr":
        if n < 20:
            return FR_UNITS[n]
        if n < 70:
            return FR_TENS[tens] + ("" if unit == 0 else " et un" if unit == 1 else "-" + FR_UNITS[unit])
        if n < 80:  # soixante-dix, soixante et onze, soixante-douze ...
            return "soixante" + (" et onze" if n == 71 else "-" + FR_UNITS[n - 60])
        return "quatre-vingt" + ("s" if n == 80 else "-" + FR_UNITS[n - 80])
    if lang == "de":
        if n < 20:
            return DE_UNITS[n]
        return DE_TENS[tens] if unit == 0 else ("ein" if unit == 1 else DE_UNITS[unit]) + "und" + DE_TENS[tens]
    if n < 20:
        return ES_UNITS[n]
    if n < 30:
        return ES_TWENTIES[unit]
    return ES_TENS[tens] + ("" if unit == 0 else " y " + ES_UNITS[unit])


# a digit string is read digit by digit in every language ("oh" is 0, as "zero")
DIGIT_NAMES = {"fr": FR_UNITS[:10], "de": DE_UNITS[:10], "es": ES_UNITS[:10]}


def digits(words: str, lang: str) -> str:
    """"oh two seven" -> "zéro deux sept" / "null zwei sieben" / "cero dos siete"."""
    return " ".join(DIGIT_NAMES[lang][0 if w == "oh" else g.DIGITS.index(w)] for w in words.split())


# --- clock times and days ------------------------------------------------------------------

MINUTES = {"": None, "fifteen": 15, "thirty": 30, "forty five": 45, "o'clock": 0, "ten": 10, "twenty": 20}
PERIODS = {"": "", "in the morning": "morning", "in the evening": "evening", "at night": "night"}


def clock(hour: int, minute: int | None, period: str, lang: str) -> str:
    """A clock time after the word for "at": ``sept heures trente du soir``, ``sieben uhr
    dreißig abends``, ``las siete y treinta de la tarde``."""
    if lang == "fr":
        text = number(hour, "fr").replace("un", "une") + (" heure" if hour == 1 else " heures")
        text += f" {number(minute, 'fr')}" if minute else ""
        return text + {"": "", "morning": " du matin", "evening": " du soir", "night": " de la nuit"}[period]
    if lang == "de":
        text = ("ein" if hour == 1 else number(hour, "de")) + " uhr"
        text += f" {number(minute, 'de')}" if minute else ""
        return text + {"": "", "morning": " morgens", "evening": " abends", "night": " nachts"}[period]
    text = "la una" if hour == 1 else "las " + number(hour, "es")
    text += " en punto" if minute == 0 else f" y {number(minute, 'es')}" if minute else ""
    return text + {"": "", "morning": " de la mañana", "evening": " de la tarde", "night": " de la noche"}[period]


AT_TIME = {"fr": "à {}", "de": "um {}", "es": "a {}"}
DAYS = {
    "today": ("aujourd'hui", "heute", "hoy"), "tomorrow": ("demain", "morgen", "mañana"),
    "tonight": ("ce soir", "heute abend", "esta noche"), "on monday": ("lundi", "am montag", "el lunes"),
    "on tuesday": ("mardi", "am dienstag", "el martes"), "on wednesday": ("mercredi", "am mittwoch", "el miércoles"),
    "on thursday": ("jeudi", "am donnerstag", "el jueves"), "on friday": ("vendredi", "am freitag", "el viernes"),
    "on saturday": ("samedi", "am samstag", "el sábado"), "on sunday": ("dimanche", "am sonntag", "el domingo"),
    "this weekend": ("ce week-end", "dieses wochenende", "este fin de semana"),
    "next week": ("la semaine prochaine", "nächste woche", "la próxima semana"),
    "this evening": ("ce soir", "heute abend", "esta tarde"),
    "tomorrow morning": ("demain matin", "morgen früh", "mañana por la mañana"),
}  # fmt: skip

# --- nouns: (word, gender) per language; gender m, f, n or p (plural) ----------------------

ROOMS = {
    "kitchen": (("cuisine", "f"), ("küche", "f"), ("cocina", "f")),
    "bedroom": (("chambre", "f"), ("schlafzimmer", "n"), ("dormitorio", "m")),
    "bathroom": (("salle de bain", "f"), ("badezimmer", "n"), ("baño", "m")),
    "living room": (("salon", "m"), ("wohnzimmer", "n"), ("salón", "m")),
    "office": (("bureau", "m"), ("büro", "n"), ("oficina", "f")),
    "garage": (("garage", "m"), ("garage", "f"), ("garaje", "m")),
    "garden": (("jardin", "m"), ("garten", "m"), ("jardín", "m")),
    "hallway": (("couloir", "m"), ("flur", "m"), ("pasillo", "m")),
    "basement": (("sous-sol", "m"), ("keller", "m"), ("sótano", "m")),
    "dining room": (("salle à manger", "f"), ("esszimmer", "n"), ("comedor", "m")),
    "nursery": (("chambre d'enfant", "f"), ("kinderzimmer", "n"), ("cuarto de los niños", "m")),
    "attic": (("grenier", "m"), ("dachboden", "m"), ("desván", "m")),
}  # fmt: skip
DEVICES = {
    "lights": (("lumières", "p"), ("licht", "n"), ("luces", "fp")),
    "lamp": (("lampe", "f"), ("lampe", "f"), ("lámpara", "f")),
    "fan": (("ventilateur", "m"), ("ventilator", "m"), ("ventilador", "m")),
    "heater": (("radiateur", "m"), ("heizung", "f"), ("calefacción", "f")),
    "radio": (("radio", "f"), ("radio", "n"), ("radio", "f")),
    "television": (("télévision", "f"), ("fernseher", "m"), ("televisión", "f")),
    "oven": (("four", "m"), ("ofen", "m"), ("horno", "m")),
    "kettle": (("bouilloire", "f"), ("wasserkocher", "m"), ("hervidor", "m")),
    "air conditioner": (("climatisation", "f"), ("klimaanlage", "f"), ("aire acondicionado", "m")),
    "coffee machine": (("machine à café", "f"), ("kaffeemaschine", "f"), ("cafetera", "f")),
    "dishwasher": (("lave-vaisselle", "m"), ("spülmaschine", "f"), ("lavavajillas", "m")),
    "washing machine": (("machine à laver", "f"), ("waschmaschine", "f"), ("lavadora", "f")),
    "speaker": (("enceinte", "f"), ("lautsprecher", "m"), ("altavoz", "m")),
    "printer": (("imprimante", "f"), ("drucker", "m"), ("impresora", "f")),
}  # fmt: skip
OPENABLE = {
    "door": (("porte", "f"), ("tür", "f"), ("puerta", "f")),
    "window": (("fenêtre", "f"), ("fenster", "n"), ("ventana", "f")),
    "blinds": (("stores", "p"), ("jalousien", "p"), ("persianas", "fp")),
    "curtains": (("rideaux", "p"), ("vorhänge", "p"), ("cortinas", "fp")),
    "garage door": (("porte de garage", "f"), ("garagentor", "n"), ("puerta del garaje", "f")),
    "gate": (("portail", "m"), ("tor", "n"), ("portón", "m")),
}  # fmt: skip
PLACES = {
    "restaurant": (("restaurant", "m"), ("restaurant", "n"), ("restaurante", "m")),
    "pharmacy": (("pharmacie", "f"), ("apotheke", "f"), ("farmacia", "f")),
    "bakery": (("boulangerie", "f"), ("bäckerei", "f"), ("panadería", "f")),
    "hospital": (("hôpital", "m"), ("krankenhaus", "n"), ("hospital", "m")),
    "gas station": (("station-service", "f"), ("tankstelle", "f"), ("gasolinera", "f")),
    "supermarket": (("supermarché", "m"), ("supermarkt", "m"), ("supermercado", "m")),
    "bank": (("banque", "f"), ("bank", "f"), ("banco", "m")),
    "library": (("bibliothèque", "f"), ("bibliothek", "f"), ("biblioteca", "f")),
    "museum": (("musée", "m"), ("museum", "n"), ("museo", "m")),
    "park": (("parc", "m"), ("park", "m"), ("parque", "m")),
    "hotel": (("hôtel", "m"), ("hotel", "n"), ("hotel", "m")),
    "cinema": (("cinéma", "m"), ("kino", "n"), ("cine", "m")),
    "train station": (("gare", "f"), ("bahnhof", "m"), ("estación de tren", "f")),
    "airport": (("aéroport", "m"), ("flughafen", "m"), ("aeropuerto", "m")),
    "post office": (("bureau de poste", "m"), ("post", "f"), ("oficina de correos", "f")),
    "coffee shop": (("café", "m"), ("café", "n"), ("cafetería", "f")),
}  # fmt: skip
ITEMS = {  # French gender for the partitive (du, de la, des); Spanish gender and number
    "apples": (("pommes", "p"), "äpfel", ("manzanas", "fp")), "bananas": (("bananes", "p"), "bananen", ("plátanos", "mp")),
    "eggs": (("œufs", "p"), "eier", ("huevos", "mp")), "bread": (("pain", "m"), "brot", ("pan", "m")),
    "milk": (("lait", "m"), "milch", ("leche", "f")), "butter": (("beurre", "m"), "butter", ("mantequilla", "f")),
    "cheese": (("fromage", "m"), "käse", ("queso", "m")), "coffee": (("café", "m"), "kaffee", ("café", "m")),
    "tea": (("thé", "m"), "tee", ("té", "m")), "rice": (("riz", "m"), "reis", ("arroz", "m")),
    "pasta": (("pâtes", "p"), "nudeln", ("pasta", "f")), "tomatoes": (("tomates", "p"), "tomaten", ("tomates", "mp")),
    "potatoes": (("pommes de terre", "p"), "kartoffeln", ("patatas", "fp")),
    "onions": (("oignons", "p"), "zwiebeln", ("cebollas", "fp")), "carrots": (("carottes", "p"), "karotten", ("zanahorias", "fp")),
    "lemons": (("citrons", "p"), "zitronen", ("limones", "mp")), "chicken": (("poulet", "m"), "hähnchen", ("pollo", "m")),
    "fish": (("poisson", "m"), "fisch", ("pescado", "m")), "yogurt": (("yaourt", "m"), "joghurt", ("yogur", "m")),
    "cookies": (("biscuits", "p"), "kekse", ("galletas", "fp")), "oranges": (("oranges", "p"), "orangen", ("naranjas", "fp")),
    "sugar": (("sucre", "m"), "zucker", ("azúcar", "m")), "flour": (("farine", "f"), "mehl", ("harina", "f")),
    "soap": (("savon", "m"), "seife", ("jabón", "m")), "batteries": (("piles", "p"), "batterien", ("pilas", "fp")),
}  # fmt: skip
COLORS = {"red": ("rouge", "rot", "rojo"), "green": ("vert", "grün", "verde"), "blue": ("bleu", "blau", "azul"),
          "yellow": ("jaune", "gelb", "amarillo"), "orange": ("orange", "orange", "naranja"),
          "purple": ("violet", "lila", "morado"), "pink": ("rose", "rosa", "rosa"), "white": ("blanc", "weiß", "blanco"),
          "warm": ("chaud", "warm", "cálido"), "cool": ("froid", "kalt", "frío")}  # fmt: skip
CITIES = {"london": ("londres", "london", "londres"), "paris": ("paris", "paris", "parís"),
          "berlin": ("berlin", "berlin", "berlín"), "madrid": ("madrid", "madrid", "madrid"),
          "rome": ("rome", "rom", "roma"), "tokyo": ("tokyo", "tokio", "tokio"), "sydney": ("sydney", "sydney", "sídney"),
          "chicago": ("chicago", "chicago", "chicago"), "boston": ("boston", "boston", "boston"),
          "seattle": ("seattle", "seattle", "seattle"), "toronto": ("toronto", "toronto", "toronto"),
          "dublin": ("dublin", "dublin", "dublín"), "vienna": ("vienne", "wien", "viena"),
          "prague": ("prague", "prag", "praga"), "oslo": ("oslo", "oslo", "oslo"), "cairo": ("le caire", "kairo", "el cairo"),
          "delhi": ("delhi", "delhi", "delhi"), "lima": ("lima", "lima", "lima"), "denver": ("denver", "denver", "denver"),
          "miami": ("miami", "miami", "miami"), "lisbon": ("lisbonne", "lissabon", "lisboa"),
          "athens": ("athènes", "athen", "atenas"), "moscow": ("moscou", "moskau", "moscú"),
          "warsaw": ("varsovie", "warschau", "varsovia")}  # fmt: skip
NAMES = {"mom": ("maman", "mama", "mamá"), "dad": ("papa", "papa", "papá"), "grandma": ("mamie", "oma", "la abuela"),
         "uncle peter": ("oncle peter", "onkel peter", "el tío peter"), "isabel": ("isabelle", "isabel", "isabel")}
GENRES = {  # "some X music" / "X music" as each language says it
    "jazz": ("du jazz", "jazz", "jazz"), "rock": ("du rock", "rockmusik", "rock"),
    "classical": ("de la musique classique", "klassische musik", "música clásica"), "pop": ("de la pop", "popmusik", "pop"),
    "folk": ("du folk", "folkmusik", "folk"), "blues": ("du blues", "blues", "blues"),
    "country": ("de la country", "countrymusik", "country"), "reggae": ("du reggae", "reggae", "reggae"),
    "piano": ("de la musique de piano", "klaviermusik", "música de piano"),
    "relaxing": ("de la musique relaxante", "entspannende musik", "música relajante"),
    "dance": ("de la musique dance", "tanzmusik", "música de baile"), "opera": ("de l'opéra", "oper", "ópera"),
}  # fmt: skip
UNITS_OF_TIME = {"seconds": ("secondes", "sekunden", "segundos"), "minutes": ("minutes", "minuten", "minutos"),
                 "hours": ("heures", "stunden", "horas")}  # fmt: skip
OPERATIONS = {"plus": ("plus", "plus", "más"), "minus": ("moins", "minus", "menos"), "times": ("fois", "mal", "por"),
              "divided by": ("divisé par", "geteilt durch", "dividido entre")}  # fmt: skip
TASKS = {  # French and Spanish infinitives, German zu-infinitives
    "buy milk": ("acheter du lait", "milch zu kaufen", "comprar leche"),
    "call mom": ("appeler maman", "mama anzurufen", "llamar a mamá"),
    "water the plants": ("arroser les plantes", "die pflanzen zu gießen", "regar las plantas"),
    "feed the cat": ("nourrir le chat", "die katze zu füttern", "dar de comer al gato"),
    "pay the bills": ("payer les factures", "die rechnungen zu bezahlen", "pagar las facturas"),
    "take out the trash": ("sortir la poubelle", "den müll rauszubringen", "sacar la basura"),
    "walk the dog": ("promener le chien", "mit dem hund rauszugehen", "pasear al perro"),
    "book a table": ("réserver une table", "einen tisch zu reservieren", "reservar una mesa"),
    "pick up the kids": ("aller chercher les enfants", "die kinder abzuholen", "recoger a los niños"),
    "clean the kitchen": ("nettoyer la cuisine", "die küche zu putzen", "limpiar la cocina"),
    "send the report": ("envoyer le rapport", "den bericht zu schicken", "enviar el informe"),
    "check the mail": ("vérifier le courrier", "die post zu prüfen", "revisar el correo"),
    "charge my phone": ("charger mon téléphone", "mein handy aufzuladen", "cargar mi teléfono"),
    "lock the door": ("fermer la porte à clé", "die tür abzuschließen", "cerrar la puerta con llave"),
    "take my medicine": ("prendre mon médicament", "meine medizin zu nehmen", "tomar mi medicina"),
    "bring an umbrella": ("prendre un parapluie", "einen regenschirm mitzunehmen", "llevar un paraguas"),
}  # fmt: skip
PHRASES = {
    "i am running late": ("je suis en retard", "ich komme zu spät", "llego tarde"),
    "see you soon": ("à bientôt", "bis bald", "hasta pronto"),
    "call me back": ("rappelle-moi", "ruf mich zurück", "llámame"),
    "happy birthday": ("joyeux anniversaire", "alles gute zum geburtstag", "feliz cumpleaños"),
    "dinner is ready": ("le dîner est prêt", "das essen ist fertig", "la cena está lista"),
    "i will be home at six": ("je serai à la maison à six heures", "ich bin um sechs zu hause", "estaré en casa a las seis"),
    "thank you very much": ("merci beaucoup", "vielen dank", "muchas gracias"),
    "the meeting is cancelled": ("la réunion est annulée", "das treffen ist abgesagt", "la reunión está cancelada"),
    "good night": ("bonne nuit", "gute nacht", "buenas noches"),
    "where are you": ("où es-tu", "wo bist du", "dónde estás"),
}  # fmt: skip

LANG_INDEX = {lang: k for k, lang in enumerate(LANGUAGES)}
VOWELS = "aeiouéèêâîôûœh"  # h: the words here with h take elision (hôpital, hôtel)


def _elide(text: str) -> str:
    """French elision and contraction: le/la/de/que before a vowel, de le -> du,
    à le -> au, de les -> des, à les -> aux."""
    text = re.sub(r"\b(l[ea]|de|que|je) (?=[" + VOWELS + "])", lambda m: m.group(1)[0] + "'", text)
    for a, b in (("de le ", "du "), ("à le ", "au "), ("de les ", "des "), ("à les ", "aux ")):
        text = re.sub(r"\b" + a, b, text)
    return text


# --- articles ------------------------------------------------------------------------------


def fr_the(noun) -> str:
    word, gender = noun
    return ("les " if gender == "p" else "le " if gender == "m" else "la ") + word


def fr_a(noun) -> str:
    word, gender = noun
    return ("des " if gender == "p" else "un " if gender == "m" else "une ") + word


def fr_some(noun) -> str:  # partitive
    word, gender = noun
    return ("des " if gender == "p" else "du " if gender == "m" else "de la ") + word


DE_ARTICLES = {"nom": {"m": "der", "f": "die", "n": "das", "p": "die"},
               "acc": {"m": "den", "f": "die", "n": "das", "p": "die"},
               "dat": {"m": "dem", "f": "der", "n": "dem", "p": "den"}}  # fmt: skip


def de_the(noun, case: str) -> str:
    word, gender = noun
    return f"{DE_ARTICLES[case][gender]} {word}"


def de_a(noun, case: str) -> str:
    word, gender = noun
    return {"m": "einen" if case == "acc" else "ein", "f": "eine", "n": "ein", "p": ""}[gender] + " " + word


def de_in(room) -> str:  # in + dative, contracted: im (m, n), in der (f)
    word, gender = room
    return ("in der " if gender == "f" else "im ") + word


def de_at(place) -> str:  # bei + dative: beim (m, n), bei der (f)
    word, gender = place
    return ("bei der " if gender == "f" else "beim ") + word


def es_the(noun) -> str:
    word, gender = noun
    return {"m": "el", "f": "la", "mp": "los", "fp": "las"}[gender] + " " + word


def es_a(noun) -> str:
    word, gender = noun
    return {"m": "un", "f": "una", "mp": "unos", "fp": "unas"}[gender] + " " + word


def es_of(noun) -> str:  # de + article, de el -> del
    return ("de " + es_the(noun)).replace("de el ", "del ")


def es_agree(adjective_o: str, noun) -> str:
    """An adjective ending in -o agreeing with the noun: abierto, abierta, abiertos, abiertas."""
    stem = adjective_o[:-1]
    return stem + {"m": "o", "f": "a", "mp": "os", "fp": "as"}[noun[1]]


def fr_agree(adjective: str, noun) -> str:
    return adjective + {"m": "", "f": "e", "p": "s"}[noun[1]]


# --- parsing the English ---------------------------------------------------------------------


def _alt(words) -> str:
    return "(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


NUMBER = _alt(g.TENS) + r"(?: " + _alt(g.UNITS[1:10]) + ")?|" + _alt(g.UNITS)
TIME = (r"(?P<hour>" + "|".join(g.UNITS[1:13][::-1]) + r")(?: (?P<minute>fifteen|thirty|forty five|o'clock|ten|twenty))?"
        r"(?: (?P<period>in the morning|in the evening|at night))?")  # fmt: skip
SLOTS = {
    "P": r"(?P<polite>please |could you )?", "ROOM": _alt(g.ROOMS), "DEVICE": _alt(g.DEVICES), "COLOR": _alt(g.COLORS),
    "OPENABLE": _alt(g.OPENABLE), "CITY": _alt(g.CITIES), "DAY": _alt(g.DAYS), "NAME": _alt(g.NAMES),
    "GENRE": _alt(g.GENRES), "ITEM": _alt(g.ITEMS), "PLACE": _alt(g.PLACES), "TASK": _alt(g.TASKS),
    "PHRASE": _alt(g.PHRASES), "UNIT": _alt(g.UNITS_OF_TIME), "OP": _alt(g.OPERATIONS), "TIME": TIME,
    "DIGITS": _alt(g.DIGIT_WORDS) + "(?: " + _alt(g.DIGIT_WORDS) + ")*",
}  # fmt: skip

# (name, English pattern): slots in braces; a slot used twice is numbered (ITEM1, ITEM2)
TEMPLATES = [
    ("device_on", "{P}turn on the {ROOM} {DEVICE}"), ("device_off", "{P}turn off the {DEVICE} in the {ROOM}"),
    ("light_color", "{P}set the {ROOM} lights to {COLOR}"), ("dim", "{P}dim the lights to {NUMBER} percent"),
    ("open_close", "{P}{ACTION} the {ROOM} {OPENABLE}"), ("still_on", "is the {DEVICE} in the {ROOM} still on"),
    ("temperature", "{P}set the temperature to {NUMBER} degrees"), ("alarm", "{P}set an alarm for {TIME}"),
    ("wake", "{P}wake me up at {TIME} {DAY}"), ("timer", "{P}set a timer for {NUMBER} {UNIT}"),
    ("time_left", "how much time is left on the timer"), ("cancel_alarm", "{P}cancel the alarm for {TIME}"),
    ("weather", "what is the weather in {CITY} {DAY}"), ("rain", "will it rain in {CITY} {DAY}"),
    ("cold", "how cold is it in {CITY} right now"), ("umbrella", "do i need an umbrella {DAY}"),
    ("play_some", "{P}play some {GENRE} music"), ("play_in", "{P}play {GENRE} music in the {ROOM}"),
    ("volume_turn", "{P}turn the volume {DIRECTION}"), ("next_song", "{P}play the next song"),
    ("stop_music", "{P}stop the music"), ("volume_set", "{P}set the volume to {NUMBER}"),
    ("call_at", "{P}call {NAME} {DAY} at {TIME}"), ("call", "{P}call {NAME}"),
    ("send", "{P}send a message to {NAME} saying {PHRASE}"), ("text", "{P}text {NAME} that {PHRASE}"),
    ("read", "read my messages from {NAME}"), ("drive", "how long does it take to drive to {CITY}"),
    ("find", "find a {PLACE1} near the {PLACE2}"), ("nearest", "where is the nearest {PLACE}"),
    ("open_day", "is the {PLACE} open {DAY}"), ("flight", "book a flight to {CITY} {DAY}"),
    ("add_n", "{P}add {NUMBER} {ITEM} to the shopping list"), ("add_two", "{P}add {ITEM1} and {ITEM2} to my list"),
    ("remove", "{P}remove {ITEM} from the shopping list"), ("any_left", "do we have any {ITEM} left"),
    ("what_is", "what is {NUMBER1} {OP} {NUMBER2}"), ("how_much", "how much is {NUMBER1} {OP} {NUMBER2}"),
    ("remind_day", "{P}remind me to {TASK} {DAY}"), ("remind_at", "{P}remind me to {TASK} at {TIME}"),
    ("todo", "what do i have to do {DAY}"),
    ("digits", "{DIGITS}"), ("call_digits", "{P}call {DIGITS}"), ("dial", "{P}dial {DIGITS}"),
    ("code", "the code is {DIGITS}"), ("my_number", "my number is {DIGITS}"), ("pin", "the pin is {DIGITS}"),
    ("room_number", "room {DIGITS}"), ("send_digits", "{P}send a message to {DIGITS} saying {PHRASE}"),
]  # fmt: skip


def _compile(pattern: str) -> re.Pattern:
    def slot(m):
        name = m.group(1)
        base = name.rstrip("12")
        if base == "P":
            return SLOTS["P"]
        if base == "TIME":
            return SLOTS["TIME"]
        inner = {"NUMBER": NUMBER, "ACTION": "open|close", "DIRECTION": "up|down"}.get(base) or SLOTS[base]
        return f"(?P<{name}>{inner})"

    return re.compile("^" + re.sub(r"\{(\w+)\}", slot, pattern) + "$")


COMPILED = [(name, _compile(pattern)) for name, pattern in TEMPLATES]


@lru_cache(maxsize=None)
def parse(sentence: str) -> tuple[str, dict]:
    """``(template name, slots)`` of a grammar sentence (a spoken form's pause marks
    dropped); ValueError for anything else."""
    for name, regex in COMPILED:
        m = regex.match(g.label(sentence))
        if m:
            return name, {k: v for k, v in m.groupdict().items() if v is not None}
    raise ValueError(f"not a sentence of the grammar: {sentence!r}")


# --- writing each language ---------------------------------------------------------------------


def _values(slots: dict, lang: str) -> dict:
    """The slots in ``lang``: nouns as (word, gender), the rest as words."""
    k = LANG_INDEX[lang]
    v: dict = {}
    for name, value in slots.items():
        base = name.rstrip("12")
        table = {"ROOM": ROOMS, "DEVICE": DEVICES, "OPENABLE": OPENABLE, "PLACE": PLACES, "ITEM": ITEMS,
                 "COLOR": COLORS, "CITY": CITIES, "DAY": DAYS, "GENRE": GENRES, "UNIT": UNITS_OF_TIME,
                 "OP": OPERATIONS, "TASK": TASKS, "PHRASE": PHRASES}.get(base)  # fmt: skip
        if table is not None:
            v[name] = table[value][k]
        elif base == "NAME":
            v[name] = NAMES.get(value, (value,) * 3)[k]
        elif base == "NUMBER":
            v[name] = number(english_number(value), lang)
        elif base == "DIGITS":
            v[name] = digits(value, lang)
        else:
            v[name] = value
    if "hour" in slots:
        v["TIME"] = clock(g.UNITS.index(slots["hour"]), MINUTES[slots.get("minute", "")],
                          PERIODS[slots.get("period", "")], lang)  # fmt: skip
    return v


def _fr(name: str, v: dict) -> tuple[str, str | None]:
    """(imperative sentence, infinitive for "peux-tu ...") — or (sentence, None)."""
    at = "à " + v.get("TIME", "")
    city = v.get("CITY", "")
    to_city = ("au " + city[3:]) if city.startswith("le ") else "à " + city
    t = {
        "device_on": ("allume {d}", "allumer {d}"), "device_off": ("éteins {d}", "éteindre {d}"),
        "light_color": ("mets les lumières de {r} en {COLOR}", "mettre les lumières de {r} en {COLOR}"),
        "dim": ("baisse les lumières à {NUMBER} pour cent", "baisser les lumières à {NUMBER} pour cent"),
        "open_close": ("{verb} {o} de {r}", "{inf} {o} de {r}"),
        "still_on": ("est-ce que {d} de {r} est encore {on}", None),
        "temperature": ("règle la température à {NUMBER} degrés", "régler la température à {NUMBER} degrés"),
        "alarm": ("mets un réveil " + at, "mettre un réveil " + at),
        "wake": ("réveille-moi " + at + " {DAY}", "me réveiller " + at + " {DAY}"),
        "timer": ("mets un minuteur de {NUMBER} {UNIT}", "mettre un minuteur de {NUMBER} {UNIT}"),
        "time_left": ("combien de temps reste-t-il sur le minuteur", None),
        "cancel_alarm": ("annule le réveil de " + v.get("TIME", ""), "annuler le réveil de " + v.get("TIME", "")),
        "weather": ("quel temps fera-t-il " + to_city + " {DAY}", None),
        "rain": ("est-ce qu'il va pleuvoir " + to_city + " {DAY}", None),
        "cold": ("quel froid fait-il " + to_city + " en ce moment", None),
        "umbrella": ("est-ce que j'ai besoin d'un parapluie {DAY}", None),
        "play_some": ("mets {GENRE}", "mettre {GENRE}"), "play_in": ("mets {GENRE} dans {r}", "mettre {GENRE} dans {r}"),
        "volume_turn": ("{vol} le volume", "{volinf} le volume"),
        "next_song": ("passe à la chanson suivante", "passer à la chanson suivante"),
        "stop_music": ("arrête la musique", "arrêter la musique"),
        "volume_set": ("mets le volume à {NUMBER}", "mettre le volume à {NUMBER}"),
        "call_at": ("appelle {NAME} {DAY} " + at, "appeler {NAME} {DAY} " + at), "call": ("appelle {NAME}", "appeler {NAME}"),
        "send": ("envoie un message à {NAME} pour dire {PHRASE}", "envoyer un message à {NAME} pour dire {PHRASE}"),
        "text": ("écris à {NAME} que {PHRASE}", "écrire à {NAME} que {PHRASE}"),
        "read": ("lis mes messages de {NAME}", None),
        "drive": ("combien de temps faut-il pour aller en voiture " + to_city, None),
        "find": ("trouve {p1} près de {p2}", None), "nearest": ("où est {p} {nearest}", None),
        "open_day": ("est-ce que {p} est {open} {DAY}", None), "flight": ("réserve un vol pour {CITY} {DAY}", None),
        "add_n": ("ajoute {NUMBER} {i} à la liste de courses", "ajouter {NUMBER} {i} à la liste de courses"),
        "add_two": ("ajoute {i1} et {i2} à ma liste", "ajouter {i1} et {i2} à ma liste"),
        "remove": ("enlève {i} de la liste de courses", "enlever {i} de la liste de courses"),
        "any_left": ("est-ce qu'il nous reste {i}", None),
        "what_is": ("combien font {NUMBER1} {OP} {NUMBER2}", None), "how_much": ("combien fait {NUMBER1} {OP} {NUMBER2}", None),
        "remind_day": ("rappelle-moi de {TASK} {DAY}", "me rappeler de {TASK} {DAY}"),
        "remind_at": ("rappelle-moi de {TASK} " + at, "me rappeler de {TASK} " + at),
        "todo": ("qu'est-ce que je dois faire {DAY}", None),
        "digits": ("{DIGITS}", None), "call_digits": ("appelle le {DIGITS}", "appeler le {DIGITS}"),
        "dial": ("compose le {DIGITS}", "composer le {DIGITS}"), "code": ("le code est {DIGITS}", None),
        "my_number": ("mon numéro est le {DIGITS}", None), "pin": ("le code pin est {DIGITS}", None),
        "room_number": ("salle {DIGITS}", None),
        "send_digits": ("envoie un message au {DIGITS} pour dire {PHRASE}",
                        "envoyer un message au {DIGITS} pour dire {PHRASE}"),
    }[name]
    room = v.get("ROOM")
    f = {**v, "r": fr_the(room) if room else "", "o": fr_the(v["OPENABLE"]) if "OPENABLE" in v else ""}
    if "DEVICE" in v:
        f["d"] = fr_the(v["DEVICE"]) + (" de " + fr_the(room) if name == "device_on" else "")
        if name == "device_off":
            f["d"] += " dans " + fr_the(room)
        f["on"] = fr_agree("allumé", v["DEVICE"])
    if "ACTION" in v:
        f["verb"], f["inf"] = {"open": ("ouvre", "ouvrir"), "close": ("ferme", "fermer")}[v["ACTION"]]
    if "DIRECTION" in v:
        f["vol"], f["volinf"] = {"up": ("monte", "monter"), "down": ("baisse", "baisser")}[v["DIRECTION"]]
    for key, slot in (("p", "PLACE"), ("p1", "PLACE1"), ("p2", "PLACE2")):
        if slot in v:
            f[key] = fr_a(v[slot]) if key == "p1" else fr_the(v[slot])
    if "PLACE" in v:
        f["open"] = fr_agree("ouvert", v["PLACE"])
        f["nearest"] = {"m": "le plus proche", "f": "la plus proche"}[v["PLACE"][1]]
    for key, slot in (("i", "ITEM"), ("i1", "ITEM1"), ("i2", "ITEM2")):
        if slot in v:
            f[key] = (v[slot][0] if name == "add_n" else fr_the(v[slot]) if name == "remove" else fr_some(v[slot]))
    imperative, infinitive = t
    return imperative.format(**f), None if infinitive is None else infinitive.format(**f)


def _de(name: str, v: dict) -> tuple[str, str | None]:
    """(imperative sentence, infinitive clause for "kannst du ...") — or (sentence, None)."""
    um = "um " + v.get("TIME", "")
    f = dict(v)
    room = v.get("ROOM")
    if room:
        f["im"] = de_in(room)
    if "DEVICE" in v:
        f["d_acc"], f["d_nom"] = de_the(v["DEVICE"], "acc"), de_the(v["DEVICE"], "nom")
    if "OPENABLE" in v:
        f["o"] = de_the(v["OPENABLE"], "acc")
    for slot in ("ITEM", "ITEM1", "ITEM2"):
        if slot in v:
            f[slot.lower()] = v[slot]
    t = {
        "device_on": ("schalte {d_acc} {im} ein", "{d_acc} {im} einschalten"),
        "device_off": ("schalte {d_acc} {im} aus", "{d_acc} {im} ausschalten"),
        "light_color": ("stelle das licht {im} auf {COLOR}", "das licht {im} auf {COLOR} stellen"),
        "dim": ("dimme das licht auf {NUMBER} prozent", "das licht auf {NUMBER} prozent dimmen"),
        "open_close": ("{verb} {o} {im}", "{o} {im} {inf}"),
        "still_on": ("{ist} {d_nom} {im} noch an", None),
        "temperature": ("stelle die temperatur auf {NUMBER} grad", "die temperatur auf {NUMBER} grad stellen"),
        "alarm": ("stelle einen wecker für " + v.get("TIME", ""), "einen wecker für " + v.get("TIME", "") + " stellen"),
        "wake": ("weck mich {DAY} " + um, "mich {DAY} " + um + " wecken"),
        "timer": ("stelle einen timer auf {NUMBER} {UNIT}", "einen timer auf {NUMBER} {UNIT} stellen"),
        "time_left": ("wie viel zeit ist noch auf dem timer", None),
        "cancel_alarm": ("lösche den wecker für " + v.get("TIME", ""), "den wecker für " + v.get("TIME", "") + " löschen"),
        "weather": ("wie ist das wetter {DAY} in {CITY}", None), "rain": ("wird es {DAY} in {CITY} regnen", None),
        "cold": ("wie kalt ist es gerade in {CITY}", None), "umbrella": ("brauche ich {DAY} einen regenschirm", None),
        "play_some": ("spiele etwas {GENRE}", "etwas {GENRE} spielen"), "play_in": ("spiele {GENRE} {im}", "{GENRE} {im} spielen"),
        "volume_turn": ("mach die musik {louder}", "die musik {louder} machen"),
        "next_song": ("spiele das nächste lied", "das nächste lied spielen"),
        "stop_music": ("stoppe die musik", "die musik stoppen"),
        "volume_set": ("stelle die lautstärke auf {NUMBER}", "die lautstärke auf {NUMBER} stellen"),
        "call_at": ("ruf {NAME} {DAY} " + um + " an", "{NAME} {DAY} " + um + " anrufen"),
        "call": ("ruf {NAME} an", "{NAME} anrufen"),
        "send": ("schick {NAME} eine nachricht mit dem text {PHRASE}", "{NAME} eine nachricht mit dem text {PHRASE} schicken"),
        "text": ("schreib {NAME} die nachricht {PHRASE}", "{NAME} die nachricht {PHRASE} schreiben"),
        "read": ("lies meine nachrichten von {NAME}", None), "drive": ("wie lange fährt man mit dem auto nach {CITY}", None),
        "find": ("finde {p1} {p2}", None), "nearest": ("wo ist {nearest}", None),
        "open_day": ("hat {p} {DAY} geöffnet", None), "flight": ("buche einen flug nach {CITY} {DAY}", None),
        "add_n": ("setze {NUMBER} {item} auf die einkaufsliste", "{NUMBER} {item} auf die einkaufsliste setzen"),
        "add_two": ("setze {item1} und {item2} auf meine liste", "{item1} und {item2} auf meine liste setzen"),
        "remove": ("nimm {item} von der einkaufsliste", "{item} von der einkaufsliste nehmen"),
        "any_left": ("haben wir noch {item}", None),
        "what_is": ("was ist {NUMBER1} {OP} {NUMBER2}", None), "how_much": ("wie viel ist {NUMBER1} {OP} {NUMBER2}", None),
        "remind_day": ("erinnere mich daran {DAY} {TASK}", "mich daran erinnern {DAY} {TASK}"),
        "remind_at": ("erinnere mich daran " + um + " {TASK}", "mich daran erinnern " + um + " {TASK}"),
        "todo": ("was muss ich {DAY} machen", None),
        "digits": ("{DIGITS}", None), "call_digits": ("ruf die {DIGITS} an", "die {DIGITS} anrufen"),
        "dial": ("wähl die {DIGITS}", "die {DIGITS} wählen"), "code": ("der code ist {DIGITS}", None),
        "my_number": ("meine nummer ist {DIGITS}", None), "pin": ("die pin ist {DIGITS}", None),
        "room_number": ("raum {DIGITS}", None),
        "send_digits": ("schick der {DIGITS} eine nachricht mit dem text {PHRASE}",
                        "der {DIGITS} eine nachricht mit dem text {PHRASE} schicken"),
    }[name]
    if "DEVICE" in v:
        f["ist"] = "sind" if v["DEVICE"][1] == "p" else "ist"
    if "ACTION" in v:
        f["verb"], f["inf"] = {"open": ("öffne", "öffnen"), "close": ("schließe", "schließen")}[v["ACTION"]]
    if "DIRECTION" in v:
        f["louder"] = {"up": "lauter", "down": "leiser"}[v["DIRECTION"]]
    if "PLACE1" in v:
        f["p1"], f["p2"] = de_a(v["PLACE1"], "acc"), de_at(v["PLACE2"])
    if "PLACE" in v:
        word, gender = v["PLACE"]
        f["p"] = de_the(v["PLACE"], "nom")
        f["nearest"] = {"m": "der nächste", "f": "die nächste", "n": "das nächste"}[gender] + " " + word
    imperative, infinitive = t
    return imperative.format(**f), None if infinitive is None else infinitive.format(**f)


def _es(name: str, v: dict) -> tuple[str, str | None]:
    """(imperative sentence, infinitive for "puedes ...") — or (sentence, None)."""
    a = "a " + v.get("TIME", "")
    f = dict(v)
    room = v.get("ROOM")
    if room:
        f["r"] = es_the(room)
        f["of_r"] = es_of(room)
    if "DEVICE" in v:
        f["d"] = es_the(v["DEVICE"])
        f["on"] = es_agree("encendido", v["DEVICE"])
    if "OPENABLE" in v:
        f["o"] = es_the(v["OPENABLE"])
    t = {
        "device_on": ("enciende {d} {of_r}", "encender {d} {of_r}"), "device_off": ("apaga {d} en {r}", "apagar {d} en {r}"),
        "light_color": ("pon las luces {of_r} en {COLOR}", "poner las luces {of_r} en {COLOR}"),
        "dim": ("baja las luces al {NUMBER} por ciento", "bajar las luces al {NUMBER} por ciento"),
        "open_close": ("{verb} {o} {of_r}", "{inf} {o} {of_r}"),
        "still_on": ("sigue {on} {d} en {r}", None),
        "temperature": ("pon la temperatura a {NUMBER} grados", "poner la temperatura a {NUMBER} grados"),
        "alarm": ("pon una alarma " + a, "poner una alarma " + a),
        "wake": ("despiértame " + a + " {DAY}", "despertarme " + a + " {DAY}"),
        "timer": ("pon un temporizador de {NUMBER} {UNIT}", "poner un temporizador de {NUMBER} {UNIT}"),
        "time_left": ("cuánto tiempo queda en el temporizador", None),
        "cancel_alarm": ("cancela la alarma de " + v.get("TIME", ""), "cancelar la alarma de " + v.get("TIME", "")),
        "weather": ("qué tiempo hará en {CITY} {DAY}", None), "rain": ("va a llover en {CITY} {DAY}", None),
        "cold": ("qué frío hace en {CITY} ahora mismo", None), "umbrella": ("necesito un paraguas {DAY}", None),
        "play_some": ("pon algo de {GENRE}", "poner algo de {GENRE}"), "play_in": ("pon {GENRE} en {r}", "poner {GENRE} en {r}"),
        "volume_turn": ("{vol} el volumen", "{volinf} el volumen"),
        "next_song": ("pon la siguiente canción", "poner la siguiente canción"),
        "stop_music": ("para la música", "parar la música"),
        "volume_set": ("pon el volumen a {NUMBER}", "poner el volumen a {NUMBER}"),
        "call_at": ("llama a {NAME} {DAY} " + a, "llamar a {NAME} {DAY} " + a), "call": ("llama a {NAME}", "llamar a {NAME}"),
        "send": ("envía un mensaje a {NAME} que diga {PHRASE}", "enviar un mensaje a {NAME} que diga {PHRASE}"),
        "text": ("escribe a {NAME} que {PHRASE}", "escribir a {NAME} que {PHRASE}"),
        "read": ("lee mis mensajes de {NAME}", None), "drive": ("cuánto se tarda en llegar en coche a {CITY}", None),
        "find": ("encuentra {p1} cerca {p2}", None), "nearest": ("dónde está {p} más {near}", None),
        "open_day": ("está {open} {p} {DAY}", None), "flight": ("reserva un vuelo a {CITY} {DAY}", None),
        "add_n": ("añade {NUMBER} {i} a la lista de la compra", "añadir {NUMBER} {i} a la lista de la compra"),
        "add_two": ("añade {i1} y {i2} a mi lista", "añadir {i1} y {i2} a mi lista"),
        "remove": ("quita {the_i} de la lista de la compra", "quitar {the_i} de la lista de la compra"),
        "any_left": ("nos {queda} {i}", None),
        "what_is": ("cuánto es {NUMBER1} {OP} {NUMBER2}", None), "how_much": ("cuánto son {NUMBER1} {OP} {NUMBER2}", None),
        "remind_day": ("recuérdame {TASK} {DAY}", "recordarme {TASK} {DAY}"),
        "remind_at": ("recuérdame {TASK} " + a, "recordarme {TASK} " + a),
        "todo": ("qué tengo que hacer {DAY}", None),
        "digits": ("{DIGITS}", None), "call_digits": ("llama al {DIGITS}", "llamar al {DIGITS}"),
        "dial": ("marca el {DIGITS}", "marcar el {DIGITS}"), "code": ("el código es {DIGITS}", None),
        "my_number": ("mi número es el {DIGITS}", None), "pin": ("el pin es {DIGITS}", None),
        "room_number": ("sala {DIGITS}", None),
        "send_digits": ("envía un mensaje al {DIGITS} que diga {PHRASE}",
                        "enviar un mensaje al {DIGITS} que diga {PHRASE}"),
    }[name]
    if "ACTION" in v:
        f["verb"], f["inf"] = {"open": ("abre", "abrir"), "close": ("cierra", "cerrar")}[v["ACTION"]]
    if "DIRECTION" in v:
        f["vol"], f["volinf"] = {"up": ("sube", "subir"), "down": ("baja", "bajar")}[v["DIRECTION"]]
    if "PLACE1" in v:
        f["p1"], f["p2"] = es_a(v["PLACE1"]), es_of(v["PLACE2"])
    if "PLACE" in v:
        f["p"] = es_the(v["PLACE"])
        f["near"] = es_agree("cercano", v["PLACE"])
        f["open"] = es_agree("abierto", v["PLACE"])
    for slot in ("ITEM", "ITEM1", "ITEM2"):
        if slot in v:
            f[slot.lower().replace("item", "i")] = v[slot][0]
    if "ITEM" in v:
        f["the_i"] = es_the(v["ITEM"])
        f["queda"] = "quedan" if v["ITEM"][1].endswith("p") else "queda"
    imperative, infinitive = t
    return imperative.format(**f), None if infinitive is None else infinitive.format(**f)


WRITERS = {"fr": _fr, "de": _de, "es": _es}
POLITE = {"fr": ("{} s'il te plaît", "peux-tu {}"), "de": ("bitte {}", "kannst du {}"), "es": ("{} por favor", "puedes {}")}


def translate(sentence: str, lang: str) -> str:
    """A grammar sentence in ``lang`` (``fr``, ``de`` or ``es``); the pause marks of a
    spoken form are dropped first."""
    name, slots = parse(sentence)
    imperative, infinitive = WRITERS[lang](name, _values(slots, lang))
    polite = slots.get("polite", "")
    if polite == "please ":
        text = POLITE[lang][0].format(imperative)
    elif polite == "could you ":
        text = POLITE[lang][1].format(infinitive)
    else:
        text = imperative
    text = " ".join(text.split())
    return _elide(text) if lang == "fr" else text


def translations(sentence: str) -> dict[str, str]:
    return {lang: translate(sentence, lang) for lang in LANGUAGES}


if __name__ == "__main__":
    for s in g.sentences(30, 0):
        print(g.label(s))
        for lang, text in translations(s).items():
            print(f"  {lang}: {text}")

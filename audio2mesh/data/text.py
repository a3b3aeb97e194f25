"""Sentences for synthetic speech, generated from our own word lists and templates.

The vocabulary is chosen for phone coverage: every English phone appears in many words,
including the rare ones (ZH in 'measure', OY in 'boy', UH in 'book', TH/DH, NG, CH/JH),
and bilabials, labiodentals, rounded and open vowels all occur often. Deterministic for a seed.
"""

from __future__ import annotations

import numpy as np

NAMES = (
    "Anna",
    "Bob",
    "Maria",
    "Joseph",
    "Zoe",
    "Theo",
    "Judith",
    "Victor",
    "Molly",
    "Hugo",
    "Yusuf",
    "Paula",
    "George",
    "Chloe",
    "Owen",
    "Ruth",
    "Vivian",
    "Ben",
    "Charlotte",
    "Ivy",
    "Frank",
    "Noor",
    "Oscar",
    "Beth",
)
ADJECTIVES = (
    "big",
    "small",
    "quick",
    "lazy",
    "warm",
    "cool",
    "bright",
    "smooth",
    "rough",
    "beige",
    "purple",
    "yellow",
    "orange",
    "huge",
    "tiny",
    "gentle",
    "noisy",
    "quiet",
    "happy",
    "awful",
    "thick",
    "thin",
    "wooden",
    "golden",
    "usual",
    "visual",
    "foolish",
    "joyful",
    "loyal",
    "shiny",
    "muddy",
    "fresh",
    "brave",
    "clever",
    "cheap",
    "broad",
)
NOUNS = (
    "boy",
    "girl",
    "book",
    "foot",
    "moon",
    "spoon",
    "fish",
    "van",
    "vase",
    "bubble",
    "mouth",
    "thumb",
    "father",
    "mother",
    "brother",
    "garage",
    "treasure",
    "measure",
    "vision",
    "judge",
    "church",
    "bridge",
    "voice",
    "coin",
    "toy",
    "cow",
    "house",
    "owl",
    "ship",
    "sheep",
    "chair",
    "cheese",
    "jungle",
    "king",
    "ring",
    "song",
    "wolf",
    "wheel",
    "window",
    "zebra",
    "puzzle",
    "pillow",
    "map",
    "lamp",
    "rope",
    "boat",
    "goat",
    "cookie",
    "hook",
    "umbrella",
    "apple",
    "egg",
    "island",
    "ocean",
    "mountain",
    "valley",
    "river",
    "forest",
    "city",
    "village",
    "doctor",
    "teacher",
    "farmer",
    "pilot",
    "baker",
    "painter",
    "thunder",
    "weather",
    "feather",
    "leather",
    "path",
    "birthday",
    "breakfast",
    "supper",
    "music",
    "movie",
    "photo",
    "telephone",
    "computer",
    "window",
    "pepper",
)
VERBS_PAST = (
    "found",
    "bought",
    "brought",
    "caught",
    "fixed",
    "moved",
    "pushed",
    "pulled",
    "painted",
    "measured",
    "watched",
    "washed",
    "carried",
    "chose",
    "joined",
    "played",
    "enjoyed",
    "threw",
    "thought about",
    "looked at",
    "remembered",
    "forgot",
    "borrowed",
    "shared",
    "juggled",
    "judged",
    "zipped",
    "wrapped",
    "followed",
    "visited",
    "loved",
    "hugged",
    "bumped into",
    "bounced",
    "mapped",
    "drew",
    "grew",
    "knew",
)
VERBS_BASE = (
    "find",
    "buy",
    "bring",
    "catch",
    "fix",
    "move",
    "push",
    "pull",
    "paint",
    "measure",
    "watch",
    "wash",
    "carry",
    "choose",
    "join",
    "play",
    "enjoy",
    "throw",
    "borrow",
    "share",
    "juggle",
    "wrap",
    "follow",
    "visit",
    "love",
    "hug",
    "bake",
    "weave",
    "solve",
    "leave",
    "thank",
    "breathe",
    "smooth",
    "bathe",
)
ADVERBS = (
    "quickly",
    "slowly",
    "happily",
    "loudly",
    "softly",
    "smoothly",
    "very carefully",
    "with joy",
    "with pleasure",
    "without a sound",
    "in the morning",
    "at noon",
    "by the river",
    "in the garage",
    "on Tuesday",
    "every Thursday",
    "through the window",
    "over the bridge",
    "before the show",
    "after supper",
)
PLACES = (
    "the zoo",
    "the beach",
    "the church",
    "the jungle",
    "the market",
    "the museum",
    "the harbour",
    "the bakery",
    "the valley",
    "the theatre",
    "the garage",
    "the village",
    "the office",
    "the moon",
    "the old mill",
)
INTERJECTIONS = ("Oh", "Well", "Wow", "Hmm", "Yes", "No", "Okay", "Oh boy", "Hey", "Alright")
DETERMINERS = ("the", "a", "my", "your", "our", "their", "this", "that", "every", "one")
NUMBERS = ("two", "three", "four", "five", "seven", "eight", "nine", "twelve", "fifteen", "twenty", "thirty", "a hundred")

_TEMPLATES = (
    "{Name} {past} {det} {adj} {noun} {adverb}.",
    "{Det} {adj} {noun} {past} {det} {noun}.",
    "Could you {base} {det} {noun} for {name}?",
    "Why did {name} {base} {det} {adj} {noun} at {place}?",
    "{Interj}, {det} {noun} is {adj} and {adj}!",
    "We should {base} {number} {adj} {nouns} {adverb}.",
    "{Name} and {name} {past} {number} {nouns} near {place}.",
    "Please {base} {det} {noun}, then {base} {det} {adj} {noun}.",
    "I think {det} {noun} {past} {det} {adj} {noun} {adverb}.",
    "Did you ever {base} a {adj} {noun} with {name}?",
    "{Interj}! {Name} {past} {det} {noun} {adverb}.",
    "At {place}, {name} {past} {number} {adj} {nouns}.",
    "{Det} {noun} and {det} {noun} were both {adj}.",
    "Maybe {name} will {base} {det} {noun} {adverb}, or maybe not.",
    "How many {nouns} did {name} {base} at {place}?",
)


_IRREGULAR_PLURALS = {"foot": "feet", "sheep": "sheep", "fish": "fish", "wolf": "wolves", "mouse": "mice"}


def plural(noun: str) -> str:
    """English plural of one of our nouns."""
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


class SentenceGenerator:
    """``next()`` gives a new sentence; the sequence depends only on the seed."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def _pick(self, words: tuple[str, ...]) -> str:
        return words[int(self.rng.integers(len(words)))]

    def sentence(self) -> str:
        template = self._pick(_TEMPLATES)
        slots = {
            "name": lambda: self._pick(NAMES),
            "adj": lambda: self._pick(ADJECTIVES),
            "noun": lambda: self._pick(NOUNS),
            "nouns": lambda: plural(self._pick(NOUNS)),
            "past": lambda: self._pick(VERBS_PAST),
            "base": lambda: self._pick(VERBS_BASE),
            "adverb": lambda: self._pick(ADVERBS),
            "place": lambda: self._pick(PLACES),
            "interj": lambda: self._pick(INTERJECTIONS),
            "det": lambda: self._pick(DETERMINERS),
            "number": lambda: self._pick(NUMBERS),
        }
        out, i = [], 0
        while i < len(template):
            if template[i] == "{":
                j = template.index("}", i)
                key = template[i + 1 : j]
                word = slots[key.lower()]()
                out.append(word[0].upper() + word[1:] if key[0].isupper() else word)
                i = j + 1
            else:
                out.append(template[i])
                i += 1
        return "".join(out)

    def utterance(self, max_sentences: int = 3) -> str:
        """One to ``max_sentences`` sentences (short and long utterances both occur)."""
        return " ".join(self.sentence() for _ in range(int(self.rng.integers(1, max_sentences + 1))))

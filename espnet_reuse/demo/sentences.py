"""A small random grammar with a vocabulary of a few hundred words."""

import random
from typing import Dict, List

WORDS: Dict[str, List[str]] = {
    "DET": "the a this that every one".split(),
    "NUMBER": "two three four five six seven eight nine ten twelve twenty".split(),
    "PRONOUN": "he she they we you it".split(),
    "NAME": (
        "mary john anna peter lucy thomas emma david sarah james alice robert "
        "helen george clara henry"
    ).split(),
    "ADJ": (
        "old young small large red green blue black white happy sad quiet loud "
        "bright dark warm cold soft hard quick slow tall short little big new "
        "early late strong gentle clever brave tired hungry busy empty full "
        "heavy light clean wild calm golden silver wooden simple strange"
    ).split(),
    "NOUN": (
        "man woman child dog cat horse bird fish king queen farmer teacher doctor "
        "sailor soldier baker house garden river forest mountain village city "
        "road bridge window door table chair book letter story song picture "
        "boat ship train cart wagon apple bread cheese milk water fire stone "
        "tree flower field hill lake island castle church market school kitchen "
        "room bed lamp candle clock bell coat hat shoe basket box bottle cup "
        "plate knife rope wall tower wheel sword shield letter friend neighbour "
        "brother sister mother father uncle cousin"
    ).split(),
    "PLACE": (
        "garden river forest mountain village city road bridge market school "
        "kitchen castle church island field hill lake tower"
    ).split(),
    "VERB": (
        "saw found took made gave held found kept carried painted opened closed "
        "watched followed moved pushed pulled lifted dropped washed cleaned "
        "bought sold sent brought showed built broke fixed wanted liked loved "
        "called helped visited remembered counted touched"
    ).split(),
    "INTRANSITIVE": (
        "slept laughed waited walked ran sang danced smiled cried arrived left "
        "rested stayed spoke listened worked played travelled returned"
    ).split(),
    "PREP": "in on near under behind beside across through over into from".split(),
    "ADV": (
        "quickly slowly quietly loudly softly happily sadly gently early later "
        "again today tonight together alone often"
    ).split(),
    "TIME": (
        "in the morning|in the evening|at night|after dinner|before noon|"
        "on monday|on sunday|last winter|next summer|every day"
    ).split("|"),
}

TEMPLATES = [
    "DET ADJ NOUN VERB DET NOUN",
    "DET NOUN VERB DET ADJ NOUN PREP DET PLACE",
    "NAME VERB DET NOUN TIME",
    "PRONOUN VERB NUMBER ADJ NOUN",
    "DET ADJ NOUN INTRANSITIVE ADV",
    "NAME INTRANSITIVE PREP DET ADJ PLACE",
    "PRONOUN INTRANSITIVE PREP DET PLACE TIME",
    "NAME and NAME VERB DET NOUN",
    "NUMBER NOUN INTRANSITIVE PREP DET PLACE",
    "DET NOUN of DET NOUN INTRANSITIVE ADV",
    "PRONOUN VERB DET ADJ NOUN and DET NOUN",
    "TIME NAME VERB DET ADJ NOUN",
]


def vocabulary() -> List[str]:
    """Every word the grammar can produce."""
    words = {w for slot in WORDS.values() for entry in slot for w in entry.split()}
    words |= {w for t in TEMPLATES for w in t.split() if w not in WORDS}
    return sorted(words)


def sentence(rng: random.Random) -> str:
    """One upper-case sentence, LibriSpeech style."""
    template = rng.choice(TEMPLATES)
    words = [rng.choice(WORDS[w]) if w in WORDS else w for w in template.split()]
    return " ".join(words).upper()

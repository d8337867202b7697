"""What a corpus holds: parts, their books, speakers and conditions, by size.

LibriSpeech's rules, kept here: books and speakers are disjoint between parts; the
"other" parts are harder. LibriSpeech's "other" speakers are the ones its models
found harder; here the difficulty is made: every "other" speaker reads in a
reverberant room (RT60 0.2-0.5 s) with noise at 10-25 dB SNR (coloured, babble or
music), at a wider range of rates and warps, and a share of the training speakers
(``hard_share``) reads in the same conditions. The ranges are calibrated on Whisper
tiny.en (RESULTS.md, "Books corpus"): rooms of 0.5-0.9 s or noise at 0-5 dB took it from
16 % to 38-80 %, far past LibriSpeech's own other/clean ratio of about 2.6.

Speakers are disjoint as voices: Kokoro styles and espeak-ng voice+variant pairs are
never shared between parts (the training part also gets blends of its own Kokoro
styles); flite and festival have 4 and 3 voices, so their speakers differ between
parts by rate and warp only.
"""

import itertools
import random
from dataclasses import dataclass
from typing import Dict, List, Tuple

from espnet_reuse.corpus.acoustics import NOISES, Condition
from espnet_reuse.corpus.engines import FestivalEngine, FliteEngine, Voice
from espnet_reuse.demo.make_corpus import FEMALE_VARIANTS, VARIANTS, VOICES

ENGINES = ("kokoro", "flite", "festival", "espeak")
KOKORO_STYLES = (
    "af_alloy af_aoede af_bella af_heart af_jessica af_kore af_nicole af_nova af_river "
    "af_sarah af_sky am_adam am_echo am_eric am_fenrir am_liam am_michael am_onyx am_puck "
    "am_santa bf_alice bf_emma bf_isabella bf_lily bm_daniel bm_fable bm_george bm_lewis"
).split()
FEMALE = {"slt", "cmu_us_slt_arctic_hts"}
# every part's books; the training part's are the rest
BOOKS = {
    "dev-clean": ("The War of the Worlds",),
    "dev-other": ("Twenty Thousand Leagues under the Sea",),
    "test-clean": ("Pride and Prejudice",),
    "test-other": ("Great Expectations",),
    "train-clean-100": (
        "Emma",
        "Mansfield Park",
        "Northanger Abbey",
        "Persuasion",
        "Sense and Sensibility",
        "Moby Dick",
    ),
}
REAL_PART = "test-real"
EVAL_VOICES = 24  # espeak-ng voice+variant pairs held out for each evaluation part


# engine -> (speakers, utterances per speaker) of one part
PartSize = Dict[str, Tuple[int, int]]


@dataclass(frozen=True)
class Size:
    """A corpus size: its parts, sentence lengths (words) and the share of hard training
    speakers; ``real_speech`` adds ``test-real``."""

    parts: Dict[str, PartSize]
    min_words: int = 4
    max_words: int = 30
    hard_share: float = 0.3
    real_speech: bool = True


def _eval_parts(**speakers: Tuple[int, int]) -> Dict[str, PartSize]:
    return {name: dict(speakers) for name in ("dev-clean", "dev-other", "test-clean", "test-other")}


# Kokoro costs 1.2 CPU-seconds per second of audio on a 2-core AMD EPYC, the other
# engines 0.003-0.06: its speakers read fewer sentences
SIZES: Dict[str, Size] = {
    # seconds of audio per engine: what the tests build
    "tiny": Size(
        {
            "train-clean-100": dict(kokoro=(1, 2), flite=(1, 2), festival=(1, 2), espeak=(2, 2)),
            **_eval_parts(kokoro=(1, 1), flite=(1, 1), festival=(1, 1), espeak=(1, 1)),
        },
        max_words=8,
    ),
    # what ./run.sh --demo_corpus books trains on
    "demo": Size(
        {
            "train-clean-100": dict(
                kokoro=(3, 10), flite=(40, 30), festival=(50, 30), espeak=(80, 30)
            ),
            **_eval_parts(kokoro=(2, 6), flite=(3, 20), festival=(3, 20), espeak=(3, 20)),
        },
        max_words=16,
    ),
    # what the studies train on (its training books hold 23,654 sentences of 4-30 words)
    "study": Size(
        {
            "train-clean-100": dict(
                kokoro=(12, 30), flite=(80, 60), festival=(80, 60), espeak=(200, 60)
            ),
            **_eval_parts(kokoro=(2, 20), flite=(4, 40), festival=(4, 40), espeak=(6, 40)),
        },
    ),
}


@dataclass
class Speaker:
    """One speaker of one part: a voice heard in a condition, reading ``utterances``
    consecutive sentences of one book from ``first_sentence`` on (``texts_of``)."""

    id: int
    chapter: int
    part: str
    voice: Voice
    condition: Condition
    utterances: int
    book: str = ""
    first_sentence: int = 0
    seed: int = 0

    @property
    def sex(self) -> str:
        name = self.voice.name
        if self.voice.engine == "kokoro":
            return "F" if name[1] == "f" else "M"
        if self.voice.engine == "espeak":
            return "F" if name.split("+")[1] in FEMALE_VARIANTS else "M"
        return "F" if name in FEMALE else "M"


def _voice_pools(parts: List[str], rng: random.Random) -> Dict[str, Dict[str, List[str]]]:
    """Per engine and part, the voices that part may use (Kokoro and espeak-ng
    disjoint between parts)."""
    styles = KOKORO_STYLES[:]
    rng.shuffle(styles)
    combos = [f"{v}+{var}" for v, var in itertools.product(VOICES, VARIANTS)]
    rng.shuffle(combos)
    evaluation = [p for p in parts if not p.startswith("train")]
    pools: Dict[str, Dict[str, List[str]]] = {"kokoro": {}, "espeak": {}}
    for idx, part in enumerate(evaluation):
        pools["kokoro"][part] = styles[2 * idx : 2 * idx + 2]
        pools["espeak"][part] = combos[EVAL_VOICES * idx : EVAL_VOICES * (idx + 1)]
    held = {s for p in evaluation for s in pools["kokoro"][p]}
    own = [s for s in styles if s not in held]
    blends = [f"{a}+{b}@{w}" for a, b in itertools.combinations(own, 2) for w in ("0.3", "0.5")]
    rng.shuffle(blends)
    taken = {c for p in evaluation for c in pools["espeak"][p]}
    for part in parts:
        if part.startswith("train"):
            pools["kokoro"][part] = own + blends
            pools["espeak"][part] = [c for c in combos if c not in taken]
    pools["flite"] = {p: list(FliteEngine.VOICES) for p in parts}
    pools["festival"] = {p: list(FestivalEngine.VOICES) for p in parts}
    return pools


def hard_condition(rng: random.Random) -> Condition:
    """A reverberant room and noise, as every "other" speaker has."""
    return Condition(
        rt60=round(rng.uniform(0.2, 0.5), 2),
        noise=rng.choice(NOISES),
        snr=round(rng.uniform(10.0, 25.0), 1),
    )


def plan_speakers(size: Size, seed: int) -> List[Speaker]:
    """Every part's speakers: voices, rates, warps and conditions (deterministic)."""
    rng = random.Random(seed)
    parts = list(size.parts)
    pools = _voice_pools(parts, rng)
    speakers: List[Speaker] = []
    for part, part_size in size.parts.items():
        other = part.endswith("other")
        for engine, (count, utterances) in part_size.items():
            pool = pools[engine][part]
            if engine in ("kokoro", "espeak") and count > len(pool):
                raise ValueError(f"{part}: {count} {engine} speakers asked for, {len(pool)} voices")
            for k in range(count):
                hard = other or (part.startswith("train") and rng.random() < size.hard_share)
                idx = len(speakers)
                speakers.append(
                    Speaker(
                        id=100 + idx,
                        chapter=1000 + idx,
                        part=part,
                        voice=Voice(
                            engine,
                            pool[k % len(pool)],
                            rate=round(
                                rng.uniform(0.8, 1.35) if other else rng.uniform(0.85, 1.15), 3
                            ),
                            warp=round(
                                rng.uniform(0.86, 1.16) if other else rng.uniform(0.92, 1.08), 3
                            ),
                        ),
                        condition=hard_condition(rng) if hard else Condition(),
                        utterances=utterances,
                        seed=rng.randrange(2**31),
                    )
                )
    return speakers


def assign_sentences(speakers: List[Speaker], sentences: Dict[str, List[str]], seed: int) -> None:
    """Give each speaker its own consecutive sentences of one of its part's books (no
    sentence read twice in a part): speakers in random order, each from where the
    previous one stopped in the book with most sentences left, from a random start."""
    rng = random.Random(seed)
    by_part: Dict[str, List[Speaker]] = {}
    for speaker in speakers:
        by_part.setdefault(speaker.part, []).append(speaker)
    for part, members in by_part.items():
        start = {book: rng.randrange(max(len(sentences[book]), 1)) for book in BOOKS[part]}
        left = {book: len(sentences[book]) for book in BOOKS[part]}
        for speaker in rng.sample(members, len(members)):
            book = max(BOOKS[part], key=lambda b: (left[b], b))
            if left[book] < speaker.utterances:
                raise ValueError(f"{part}: its books have too few sentences for its speakers")
            used = len(sentences[book]) - left[book]
            speaker.book = book
            speaker.first_sentence = (start[book] + used) % len(sentences[book])
            left[book] -= speaker.utterances


def texts_of(speaker: Speaker, sentences: Dict[str, List[str]]) -> List[str]:
    """The sentences ``speaker`` reads (consecutive, past the book's end from its start)."""
    book = sentences[speaker.book]
    return [book[(speaker.first_sentence + i) % len(book)] for i in range(speaker.utterances)]

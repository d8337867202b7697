"""Build the demo corpus: a LibriSpeech-shaped tree spoken by espeak-ng.

Layout (as LibriSpeech)::

    <root>/LibriSpeech/<part>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac
    <root>/LibriSpeech/<part>/<spk>/<chapter>/<spk>-<chapter>.trans.txt
    <root>/LibriSpeech/SPEAKERS.TXT
    <root>/alignments/<part>.ctm      # phone alignments: utt 1 start dur phone

Speakers are espeak-ng voices and variants at their own rate and pitch (varied a
little from utterance to utterance), each part with its own speakers; 40 % of
the training speakers speak in white noise (15-30 dB SNR), and the "other" parts
have faster speakers in noise (25 dB SNR).
"""

import argparse
import itertools
import random
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import soundfile
from tqdm import tqdm

from espnet_reuse.demo.espeak import SAMPLE_RATE, Espeak, PhoneSegment
from espnet_reuse.demo.sentences import sentence

VOICES = [
    "en-us",
    "en",
    "en-gb-x-rp",
    "en-029",
    "en-gb-scotland",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
]
FEMALE_VARIANTS = [
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "Alicia",
    "Andrea",
    "Annie",
    "anika",
    "aunty",
    "belinda",
    "linda",
    "shelby",
    "steph",
]
MALE_VARIANTS = [
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "m8",
    "Alex",
    "Andy",
    "Denis",
    "Gene",
    "Hugo",
    "Jacky",
    "Lee",
    "Marco",
    "Michael",
    "Mike",
    "adam",
    "antonio",
    "benjamin",
    "boris",
    "caleb",
    "david",
    "ed",
    "edward",
    "iven",
    "john",
    "klatt",
    "klatt2",
    "max",
    "michel",
    "norbert",
    "pablo",
    "paul",
    "pedro",
    "quincy",
    "rob",
    "robert",
    "sandro",
    "travis",
    "victor",
    "zac",
]
VARIANTS = FEMALE_VARIANTS + MALE_VARIANTS
JITTER = 0.08  # per-utterance spread of rate and pitch around the speaker's
# part -> (speakers, utterances per speaker, noisy and fast)
PARTS: Dict[str, Tuple[int, int, bool]] = {
    "train-clean-100": (400, 30, False),
    "dev-clean": (10, 30, False),
    "dev-other": (10, 30, True),
    "test-clean": (10, 30, False),
    "test-other": (10, 30, True),
}
COMPLETE = ".complete"


@dataclass
class Speaker:
    """One synthetic speaker of one part."""

    id: int
    chapter: int
    part: str
    voice: str
    rate: int
    pitch: int
    noise: Optional[float]
    utterances: int
    seed: int

    @property
    def sex(self) -> str:
        return "F" if self.voice.split("+")[1] in FEMALE_VARIANTS else "M"


def plan_speakers(parts: Dict[str, Tuple[int, int, bool]], seed: int) -> List[Speaker]:
    """Give every part its own voice/variant combinations, rates and pitches."""
    rng = random.Random(seed)
    combos = [f"{v}+{var}" for v, var in itertools.product(VOICES, VARIANTS)]
    rng.shuffle(combos)
    needed = sum(n for n, _, _ in parts.values())
    if needed > len(combos):
        raise ValueError(f"{needed} speakers asked for, {len(combos)} voices exist")
    speakers = []
    for part, (count, utterances, other) in parts.items():
        for _ in range(count):
            idx = len(speakers)
            speakers.append(
                Speaker(
                    id=100 + idx,
                    chapter=1000 + idx,
                    part=part,
                    voice=combos[idx],
                    rate=rng.randint(180, 215) if other else rng.randint(130, 210),
                    pitch=rng.randint(20, 80),
                    noise=25.0 if other else _training_noise(rng, part),
                    utterances=utterances,
                    seed=rng.randrange(2**31),
                )
            )
    return speakers


def _training_noise(rng: random.Random, part: str) -> Optional[float]:
    """Noise (dB SNR) for 40 % of the training speakers, none elsewhere."""
    if part.startswith("train") and rng.random() < 0.4:
        return round(rng.uniform(15.0, 30.0), 1)
    return None


_ENGINE: Optional[Espeak] = None


def _speak_speaker(job: Tuple[Speaker, Path]) -> List[Tuple[str, List[PhoneSegment]]]:
    """Write one speaker's chapter; return its utterance ids and alignments."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Espeak()
    speaker, part_dir = job
    rng = random.Random(speaker.seed)
    chapter_dir = part_dir / str(speaker.id) / str(speaker.chapter)
    chapter_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{speaker.id}-{speaker.chapter}"
    lines, alignments = [], []
    for idx in range(speaker.utterances):
        utt = f"{prefix}-{idx:04d}"
        text = sentence(rng)
        rate = round(speaker.rate * rng.uniform(1 - JITTER, 1 + JITTER))
        pitch = min(99, round(speaker.pitch * rng.uniform(1 - JITTER, 1 + JITTER)))
        spoken = _ENGINE.synthesize(text.lower(), speaker.voice, rate, pitch, speaker.noise)
        soundfile.write(chapter_dir / f"{utt}.flac", spoken.audio, SAMPLE_RATE)
        lines.append(f"{utt} {text}\n")
        alignments.append((utt, spoken.phones))
    (chapter_dir / f"{prefix}.trans.txt").write_text("".join(lines))
    return alignments


def _write_ctm(path: Path, alignments: List[Tuple[str, List[PhoneSegment]]]) -> None:
    with open(path, "w") as f:
        for utt, phones in alignments:
            for seg in phones:
                f.write(f"{utt} 1 {seg.start:.4f} {seg.end - seg.start:.4f} {seg.phone}\n")


def _write_speakers(path: Path, speakers: List[Speaker]) -> None:
    with open(path, "w") as f:
        f.write("; espnet_reuse demo corpus: espeak-ng voices\n")
        f.write(";ID  |SEX| SUBSET           |MINUTES| NAME\n")
        for s in speakers:
            f.write(f"{s.id:<5}| {s.sex} | {s.part:<17}| 0.00  | {s.voice} r{s.rate} p{s.pitch}\n")


def make_corpus(
    root: Path,
    parts: Dict[str, Tuple[int, int, bool]] = PARTS,
    seed: int = 0,
    nj: int = 2,
) -> Path:
    """Build the corpus under ``root`` (skipped when already complete).

    Returns the LibriSpeech directory. The tree is built in a temporary folder
    and moved into place at the end, so an interrupted run leaves no partial
    corpus that looks complete.
    """
    target = root / "LibriSpeech"
    if (root / COMPLETE).exists():
        return target
    work = root.with_name(root.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    speakers = plan_speakers(parts, seed)
    (work / "alignments").mkdir(parents=True)
    jobs = [(s, work / "LibriSpeech" / s.part) for s in speakers]
    by_part: Dict[str, list] = {part: [] for part in parts}
    with ProcessPoolExecutor(nj) as pool:
        results = pool.map(_speak_speaker, jobs)
        for (speaker, _), alignments in tqdm(
            zip(jobs, results), total=len(jobs), desc="espeak-ng speakers", unit="spk"
        ):
            by_part[speaker.part].extend(alignments)
    for part, alignments in by_part.items():
        _write_ctm(work / "alignments" / f"{part}.ctm", alignments)
    _write_speakers(work / "LibriSpeech" / "SPEAKERS.TXT", speakers)
    (work / COMPLETE).touch()
    shutil.rmtree(root, ignore_errors=True)
    work.rename(root)
    return target


def main() -> None:
    """Command line: build the demo corpus."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nj", type=int, default=2)
    args = parser.parse_args()
    print(make_corpus(args.root, seed=args.seed, nj=args.nj))


if __name__ == "__main__":
    main()

"""Build a LibriSpeech-shaped corpus from books, synthesizers, rooms and real prompts.

Layout (LibriSpeech's, so the recipe's stage 1 reads it unchanged)::

    <root>/LibriSpeech/<part>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac
    <root>/LibriSpeech/<part>/<spk>/<chapter>/<spk>-<chapter>.trans.txt
    <root>/LibriSpeech/SPEAKERS.TXT
    <root>/alignments/<part>.<engine>.ctm  # phone times of the engines that give
                                           # them, each in its own phone set
    <root>/manifest.tsv              # per utterance: speaker, engine, voice, condition,
                                     # book, seconds, SHA-256 of the FLAC file
    <root>/summary.json              # hours, speakers per engine, words, conditions
    <root>/plan.json                 # what it was built from (size, seed, builder)

Deterministic for a seed (but for espeak-ng's audio, which varies from call to call;
babble uses flite for that reason); speakers are built in parallel, each written whole (its
``trans.txt`` last), so a killed build resumes where it stopped; a build whose
``plan.json`` differs from what is asked starts again.
"""

import hashlib
import json
import random
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import numpy as np
import soundfile
from tqdm import tqdm

from espnet_reuse import atomic, extras
from espnet_reuse.corpus import acoustics, books, packages, plan, real_speech, text
from espnet_reuse.corpus.engines import Engine, FliteEngine, Voice, make_engine
from espnet_reuse.demo.espeak import SAMPLE_RATE, Espeak

BUILDER = 4  # raise when the same plan would give other audio
COMPLETE = ".complete"
MIN_SECONDS = 0.1
NOT_PROSE = ("gutenberg", "etext", "ebook")
MANIFEST_COLUMNS = "utt part speaker engine voice rate warp condition book seconds sha256".split()


def book_sentences(
    cache: Path, min_words: int, max_words: int
) -> Tuple[Dict[str, List[str]], Dict[str, int]]:
    """Spoken forms of each book's sentences of ``min_words``-``max_words`` words, in
    the book's order, and counts of the sentences left out by reason (kept in ``cache``)."""
    path = cache / f"sentences-{min_words}-{max_words}.json"
    if path.exists():
        kept = json.loads(path.read_text())
        return kept["sentences"], kept["left_out"]
    found: Dict[str, List[str]] = {}
    left_out: Counter = Counter()
    for title, book in books.read_books(cache).items():
        found[title] = []
        for paragraph in text.paragraphs(book.lines):
            for sentence in text.sentences(paragraph):
                if any(mark in sentence.lower() for mark in NOT_PROSE):
                    left_out["book text: Project Gutenberg's notes"] += 1
                    continue
                spoken = text.readable(sentence, min_words, max_words)
                if spoken:
                    found[title].append(spoken)
                elif not text.transcript(text.spoken_form(sentence)):
                    left_out["book text: normalises to nothing"] += 1
                else:
                    left_out["book text: heading, or too short or long"] += 1
    atomic.write_text(path, json.dumps({"sentences": found, "left_out": left_out}))
    return found, dict(left_out)


# -- per process: engines and the noise bank, made on first use ------------------------
_ENGINES: Dict[str, Engine] = {}
_BANK: Optional[acoustics.NoiseBank] = None


def _engine(name: str, cache: Path) -> Engine:
    if name not in _ENGINES:
        _ENGINES[name] = make_engine(name, cache)
    return _ENGINES[name]


def babble_talkers(cache: Path, count: int = 12) -> List[np.ndarray]:
    """Babble's talkers (T,) each: flite's voices at three warps (flite gives the same
    bytes on every run, so babble does too) reading sentences of the espeak-ng demo
    corpus's grammar, which no part reads."""
    from espnet_reuse.demo.sentences import sentence

    rng = random.Random(7)
    engine = _engine("flite", cache)
    voices = [
        Voice("flite", name, warp=warp) for warp in (0.92, 1.0, 1.08) for name in FliteEngine.VOICES
    ]
    texts = [" ".join(sentence(rng) for _ in range(3)).lower() for _ in range(count)]
    return [engine.synthesize([t], voices[i % len(voices)])[0].audio for i, t in enumerate(texts)]


def _bank(cache: Path) -> acoustics.NoiseBank:
    global _BANK
    if _BANK is None:
        _BANK = acoustics.NoiseBank(babble_talkers(cache), cache)
    return _BANK


def _write_flac(path: Path, audio: np.ndarray) -> str:
    flac = atomic.encoded(
        lambda f: soundfile.write(f, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    )
    atomic.write_bytes(path, flac)
    return hashlib.sha256(flac).hexdigest()


def _write_chapter(
    chapter_dir: Path, prefix: str, lines: List[str], rows: List[List], ctm: List[str]
) -> None:
    """A chapter's manifest rows and phone times, then its ``trans.txt``: the mark that
    the speaker is finished."""
    manifest = "".join("\t".join(map(str, row)) + "\n" for row in rows)
    atomic.write_text(chapter_dir / f"{prefix}.manifest.tsv", manifest)
    atomic.write_text(chapter_dir / f"{prefix}.ctm", "".join(ctm))
    atomic.write_text(chapter_dir / f"{prefix}.trans.txt", "".join(lines))


def speak_speaker(
    speaker: plan.Speaker, texts: List[str], part_dir: Path, cache: Path
) -> Dict[str, int]:
    """Write one speaker's chapter (audio, ``trans.txt`` last, manifest rows, phone
    times); return counts of what was skipped."""
    chapter_dir = part_dir / str(speaker.id) / str(speaker.chapter)
    prefix = f"{speaker.id}-{speaker.chapter}"
    shutil.rmtree(chapter_dir, ignore_errors=True)
    chapter_dir.mkdir(parents=True)
    spoken = _engine(speaker.voice.engine, cache).synthesize(texts, speaker.voice)
    condition = speaker.condition
    response = acoustics.room_response(condition.rt60, speaker.seed) if condition.rt60 else None
    lines, rows, ctm, skipped = [], [], [], Counter()
    for idx, (said, result) in enumerate(zip(texts, spoken)):
        utt = f"{prefix}-{idx:04d}"
        if len(result.audio) < MIN_SECONDS * SAMPLE_RATE:
            skipped["empty audio"] += 1
            continue
        audio = acoustics.apply(result.audio, condition, response, _bank(cache), utt)
        digest = _write_flac(chapter_dir / f"{utt}.flac", audio)
        words = text.transcript(said)
        lines.append(f"{utt} {words}\n")
        voice = speaker.voice
        rows.append(
            [
                utt,
                speaker.part,
                prefix,
                voice.engine,
                voice.name,
                voice.rate,
                voice.warp,
                str(condition),
                speaker.book,
                f"{len(audio) / SAMPLE_RATE:.3f}",
                digest,
            ]
        )
        for seg in result.phones or []:
            ctm.append(f"{utt} 1 {seg.start:.4f} {seg.end - seg.start:.4f} {seg.phone}\n")
    _write_chapter(chapter_dir, prefix, lines, rows, ctm)
    return dict(skipped)


def speak_real(prompts: List[real_speech.Prompt], part_dir: Path) -> Dict[str, int]:
    """``test-real``: the recorded prompts as one speaker's chapter."""
    chapter_dir = part_dir / "99" / "999"
    shutil.rmtree(chapter_dir, ignore_errors=True)
    chapter_dir.mkdir(parents=True)
    lines, rows = [], []
    for idx, prompt in enumerate(prompts):
        utt = f"99-999-{idx:04d}"
        audio = real_speech.decode(prompt.path)
        digest = _write_flac(chapter_dir / f"{utt}.flac", audio)
        lines.append(f"{utt} {prompt.transcript}\n")
        rows.append(
            [
                utt,
                plan.REAL_PART,
                "99-999",
                "recorded",
                f"Allison:{prompt.name}",
                1.0,
                1.0,
                "telephone prompt",
                "asterisk-core-sounds-en",
                f"{len(audio) / SAMPLE_RATE:.3f}",
                digest,
            ]
        )
    _write_chapter(chapter_dir, "99-999", lines, rows, [])
    return {}


def check_engines(engines: Set[str], cache: Path) -> None:
    """Stop before any audio is made when an engine's program or model is missing or
    Kokoro's joined model fails its checksum."""
    if "kokoro" in engines:
        extras.require("corpus", "kokoro_onnx")
        packages.kokoro_model(cache)
        packages.kokoro_voices(cache)
    if "flite" in engines:
        packages.require_program("flite", "flite")
    if "festival" in engines:
        packages.require_program(
            "festival", "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
        )
    if "espeak" in engines:
        Espeak()


def _job(args: Tuple) -> Dict[str, int]:
    kind, *rest = args
    return speak_real(*rest) if kind == "real" else speak_speaker(*rest)


def _plan_record(size_name: str, size: plan.Size, seed: int) -> Dict:
    """What a corpus is built from, as ``plan.json`` reads back (tuples as lists)."""
    record = {"size": size_name, "seed": seed, "builder": BUILDER, "parts": asdict(size)}
    return json.loads(json.dumps(record))


def _start(root: Path, record: Dict) -> None:
    """Keep a build of the same plan (to resume it); anything else is removed."""
    plan_file = root / "plan.json"
    if plan_file.exists() and json.loads(plan_file.read_text()) == record:
        return
    if root.exists():
        print(f"{root} was built from another plan: building it again")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    atomic.write_text(plan_file, json.dumps(record, indent=1))


def build_corpus(
    root: Path, size_name: str = "demo", seed: int = 0, nj: int = 2, cache: Optional[Path] = None
) -> Path:
    """Build (or finish, or find) the corpus of ``size_name`` under ``root``; return its
    ``LibriSpeech`` folder. ``cache`` keeps downloaded packages (default
    ``root/../corpus_cache``)."""
    size = plan.SIZES[size_name]
    target = root / "LibriSpeech"
    record = _plan_record(size_name, size, seed)
    _start(root, record)
    if (root / COMPLETE).exists():
        return target
    cache = cache or root.parent / "corpus_cache"
    speakers = plan.plan_speakers(size, seed)
    check_engines({s.voice.engine for s in speakers}, cache)
    sentences, text_left_out = book_sentences(cache, size.min_words, size.max_words)
    plan.assign_sentences(speakers, sentences, seed)
    jobs = []
    for s in speakers:
        if not (
            target / s.part / str(s.id) / str(s.chapter) / f"{s.id}-{s.chapter}.trans.txt"
        ).exists():
            jobs.append(("synth", s, plan.texts_of(s, sentences), target / s.part, cache))
    done = root / "skipped.json"  # what the speakers built so far skipped
    skipped: Counter = Counter(json.loads(done.read_text()) if done.exists() else {})
    prompts_left_out: Dict[str, int] = {}
    if size.real_speech:
        prompts, left_out = real_speech.prompts(cache, size.min_words)
        prompts_left_out = {f"real speech: {k}": v for k, v in left_out.items() if v}
        if not (target / plan.REAL_PART / "99" / "999" / "99-999.trans.txt").exists():
            jobs.append(("real", prompts, target / plan.REAL_PART))
    # the slowest engine first, so that the processes finish together
    jobs.sort(key=lambda job: job[0] != "synth" or job[1].voice.engine != "kokoro")
    with ProcessPoolExecutor(nj) as pool:
        futures = [pool.submit(_job, job) for job in jobs]
        for future in tqdm(as_completed(futures), total=len(futures), desc="speakers", unit="spk"):
            skipped.update(future.result())
            atomic.write_text(done, json.dumps(skipped))
    _finish(root, speakers, {**text_left_out, **prompts_left_out, **skipped})
    return target


def _finish(root: Path, speakers: List[plan.Speaker], skipped: Dict[str, int]) -> None:
    target = root / "LibriSpeech"
    rows = []
    ctm: Dict[str, List[str]] = {}  # <part>.<engine> -> its chapters' phone times
    for manifest in sorted(target.glob("*/*/*/*.manifest.tsv")):
        chapter = manifest.read_text().splitlines()
        rows += chapter
        if chapter:
            engine = chapter[0].split("\t")[MANIFEST_COLUMNS.index("engine")]
            ctm.setdefault(f"{manifest.parents[2].name}.{engine}", []).append(
                manifest.with_suffix("").with_suffix(".ctm").read_text()
            )
    atomic.write_text(
        root / "manifest.tsv", "\t".join(MANIFEST_COLUMNS) + "\n" + "".join(r + "\n" for r in rows)
    )
    (root / "alignments").mkdir(exist_ok=True)
    for name, chunks in ctm.items():
        if any(chunks):
            atomic.write_text(root / "alignments" / f"{name}.ctm", "".join(chunks))
    with open(target / "SPEAKERS.TXT", "w") as f:
        f.write("; espnet_reuse corpus: book text read by synthesizers, and recorded prompts\n")
        f.write(";ID  |SEX| SUBSET           |MINUTES| NAME\n")
        for s in speakers:
            v = s.voice
            name = f"{v.engine}:{v.name} rate {v.rate} warp {v.warp}"
            f.write(f"{s.id:<5}| {s.sex} | {s.part:<17}| 0.00  | {name}\n")
    summary = summarise(root / "manifest.tsv", target, skipped)
    atomic.write_text(root / "summary.json", json.dumps(summary, indent=1))
    (root / COMPLETE).touch()
    print(describe(summary))


def summarise(manifest: Path, target: Path, skipped: Dict[str, int]) -> Dict:
    """Hours, speakers per engine, words, vocabulary and conditions, per part."""
    lines = manifest.read_text().splitlines()
    rows = [dict(zip(MANIFEST_COLUMNS, line.split("\t"))) for line in lines[1:]]
    words_of = {}
    for trans in target.glob("*/*/*/*.trans.txt"):
        for line in trans.read_text().splitlines():
            utt, _, said = line.partition(" ")
            words_of[utt] = said.split()
    parts: Dict[str, Dict] = {}
    for row in rows:
        part = parts.setdefault(
            row["part"],
            {
                "utterances": 0,
                "hours": 0.0,
                "words": 0,
                "speakers": {},
                "conditions": Counter(),
                "vocabulary": set(),
            },
        )
        part["utterances"] += 1
        part["hours"] += float(row["seconds"]) / 3600
        part["words"] += len(words_of[row["utt"]])
        part["vocabulary"].update(words_of[row["utt"]])
        part["speakers"].setdefault(row["engine"], set()).add(row["speaker"])
        room = "dry" if row["condition"].startswith(("dry", "telephone")) else "room"
        noise = (
            row["condition"].split(",")[-1].split("@")[0] if "," in row["condition"] else "quiet"
        )
        part["conditions"][f"{room}+{noise}"] += 1
    vocabulary = set().union(*(p["vocabulary"] for p in parts.values())) if parts else set()
    for part in parts.values():
        part["hours"] = round(part["hours"], 3)
        part["vocabulary"] = len(part["vocabulary"])
        part["speakers"] = {engine: len(ids) for engine, ids in sorted(part["speakers"].items())}
        part["conditions"] = dict(sorted(part["conditions"].items()))
    return {"parts": parts, "vocabulary": len(vocabulary), "skipped": skipped}


def describe(summary: Dict) -> str:
    """The summary as a few lines of text."""
    out = []
    for name, part in summary["parts"].items():
        speakers = ", ".join(f"{n} {e}" for e, n in part["speakers"].items())
        out.append(
            f"{name:16s} {part['hours']:6.2f} h {part['utterances']:6d} utt "
            f"{part['words']:7d} words {part['vocabulary']:6d} distinct; "
            f"speakers: {speakers}; {part['conditions']}"
        )
    out.append(f"vocabulary {summary['vocabulary']} words; skipped: {summary['skipped'] or 'none'}")
    return "\n".join(out)

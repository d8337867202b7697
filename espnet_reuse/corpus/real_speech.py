"""Real recorded speech: Asterisk's English prompts, read by one speaker (Allison).

Debian's ``asterisk-core-sounds-en-g722`` holds the prompts in wideband G.722
(decoded to 16 kHz by PyPI's ``g722``), ``asterisk-core-sounds-en`` their texts
(``core-sounds-en.txt.gz``: ``name: text`` lines). Prompts whose text is a sound's
description (``[beep]``) or uses keypad symbols are left out and counted.
"""

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from espnet_reuse import extras
from espnet_reuse.corpus import packages, text

SOUNDS = Path("usr/share/asterisk/sounds/en_US_f_Allison")
TRANSCRIPTS = Path("usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")


@dataclass
class Prompt:
    """One recorded prompt: its name (``dictate/pause``), transcript and file."""

    name: str
    transcript: str
    path: Path


def read_prompt_texts(path: Path) -> Dict[str, str]:
    """``name -> text`` from ``core-sounds-en.txt.gz`` (comment lines start with ``;``)."""
    texts = {}
    for line in gzip.decompress(path.read_bytes()).decode("utf-8", "replace").splitlines():
        name, sep, said = line.partition(":")
        if sep and not line.startswith(";") and " " not in name.strip():
            texts[name.strip()] = said.strip()
    return texts


def prompts(cache: Path, min_words: int) -> Tuple[List[Prompt], Dict[str, int]]:
    """The prompts of at least ``min_words`` words, and counts of those left out by reason."""
    sounds = packages.debian_package("asterisk-core-sounds-en-g722", cache) / SOUNDS
    texts = read_prompt_texts(
        packages.debian_package("asterisk-core-sounds-en", cache) / TRANSCRIPTS
    )
    kept, skipped = [], {"no audio": 0, "a sound, not speech": 0, "symbols": 0, "short": 0}
    for name, said in sorted(texts.items()):
        path = sounds / f"{name}.g722"
        if not path.is_file():
            skipped["no audio"] += 1
        elif "[" in said:
            skipped["a sound, not speech"] += 1
        elif re.search(r"[*#@/]", said):
            skipped["symbols"] += 1
        else:
            words = text.transcript(text.spoken_form(said))
            if len(words.split()) < min_words:
                skipped["short"] += 1
            else:
                kept.append(Prompt(name, words, path))
    return kept, skipped


def decode(path: Path) -> np.ndarray:
    """A G.722 file (64 kbit/s) as 16 kHz float32 samples (T,)."""
    extras.require("corpus", "G722")
    import G722

    samples = np.asarray(G722.G722(16000, 64000).decode(path.read_bytes()))
    return (samples.astype(np.float32) / 32768.0).astype(np.float32)

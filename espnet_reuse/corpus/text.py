"""Book text to what is spoken and to LibriSpeech's transcripts.

Two forms per sentence: the *spoken* form (numbers and abbreviations written out as
words, punctuation kept for the synthesizers' prosody) and the *transcript* (the
spoken form's words in upper case, LibriSpeech style: letters and apostrophes only).
Every engine reads the spoken form, so the transcript is exactly what was said.
"""

import re
import unicodedata
from typing import Iterator, List, Optional

from num2words import num2words

ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "dr": "doctor",
    "st": "saint",
    "capt": "captain",
    "col": "colonel",
    "gen": "general",
    "messrs": "messieurs",
    "no": "number",
}
_ABBREVIATION = re.compile(r"\b(" + "|".join(ABBREVIATIONS) + r")\.(?=\s+[A-Z0-9])", re.I)
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.I)
_NUMBER = re.compile(r"\b\d+(?:,\d{3})*(?:\.\d+)?\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z])")
_NOT_SPOKEN = re.compile(r"[^A-Za-z' .,;:!?-]")
_SPACES = re.compile(r"\s+")


def ascii_text(text: str) -> str:
    """Curly quotes, dashes and accented letters as plain ASCII (``café`` -> ``cafe``)."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
    text = text.replace("\u201d", '"').replace("\u2014", " - ").replace("--", " - ")
    text = text.replace("_", " ").replace("&", " and ")
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode()


def _number(match: "re.Match[str]") -> str:
    digits = match.group(0).replace(",", "")
    value = float(digits) if "." in digits else int(digits)
    if isinstance(value, int) and 1100 <= value <= 1999 and "," not in match.group(0):
        return num2words(value, to="year")
    return num2words(value)


def spoken_form(sentence: str) -> str:
    """The sentence as it is read: ASCII, numbers, ordinals and abbreviations in words."""
    text = ascii_text(sentence)
    text = _ABBREVIATION.sub(lambda m: ABBREVIATIONS[m.group(1).lower()], text)
    text = _ORDINAL.sub(lambda m: num2words(int(m.group(1)), to="ordinal"), text)
    text = _NUMBER.sub(_number, text)
    text = _NOT_SPOKEN.sub(" ", text).replace("-", " ")
    return _SPACES.sub(" ", text).strip()


def transcript(spoken: str) -> str:
    """LibriSpeech's transcript of a spoken form: upper-case words, apostrophes kept."""
    words = []
    for word in re.sub(r"[^A-Za-z']", " ", spoken).split():
        word = word.strip("'")
        if word:
            words.append(word.upper())
    return " ".join(words)


def sentences(paragraph: str) -> List[str]:
    """A paragraph split at sentence ends (``.``, ``!``, ``?``; ``Mr.`` and the like kept)."""
    text = _SPACES.sub(" ", paragraph).strip()
    protected = _ABBREVIATION.sub(lambda m: m.group(0).replace(".", "\0"), text)
    return [s.replace("\0", ".").strip() for s in _SENTENCE_END.split(protected) if s.strip()]


def paragraphs(lines: List[str]) -> Iterator[str]:
    """Lines of a book, joined into paragraphs at blank lines."""
    current: List[str] = []
    for line in lines + [""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            yield " ".join(current)
            current = []


def readable(sentence: str, min_words: int, max_words: int) -> Optional[str]:
    """The sentence's spoken form if it is prose of ``min_words`` to ``max_words`` words,
    else ``None`` (headings in capitals and lines without lower-case letters are not)."""
    if sentence.isupper() or not re.search(r"[a-z]", sentence):
        return None
    spoken = spoken_form(sentence)
    words = transcript(spoken).split()
    return spoken if min_words <= len(words) <= max_words else None

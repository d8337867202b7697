"""Problems found in a corpus: all reported in one run, or left out with a written report.

Data preparation collects every problem it finds (a transcript without audio, an
unreadable file, ...) instead of stopping at the first. ``settle`` then fails with
all of them listed (up to ``SHOWN``), or, with ``--skip_bad_utterances true``,
returns the report that goes into the data directory beside what was kept.
"""

from dataclasses import dataclass
from typing import Dict, List, Sequence

from espnet_reuse.kaldi_data import DataError

SHOWN = 20
REPORT = "bad_utterances.txt"


@dataclass(frozen=True)
class BadUtterance:
    """One problem: the utterance (or file) it concerns and what is wrong."""

    key: str
    problem: str


def settle(bad: Sequence[BadUtterance], where: str, skip: bool) -> Dict[str, str]:
    """Raise a ``DataError`` listing ``bad`` unless ``skip``; else the report file(s) to write."""
    if not bad:
        return {}
    if not skip:
        shown = "\n".join(f"  {b.key}: {b.problem}" for b in bad[:SHOWN])
        more = f"\n  ... and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        raise DataError(
            f"{where}: {len(bad)} bad utterances:\n{shown}{more}\n"
            "Fix them, or leave them out with --skip_bad_utterances true (listed in "
            f"{REPORT} of the data directory)"
        )
    return {REPORT: "".join(f"{b.key} {b.problem}\n" for b in bad)}


def keys(bad: Sequence[BadUtterance]) -> List[str]:
    """The keys of ``bad``, for leaving them out."""
    return [b.key for b in bad]

"""Error counting (WER, CER, TER) with jiwer, and ESPnet's ``RESULTS.md`` table row."""

from dataclasses import dataclass
from typing import List, Mapping, Sequence, Tuple

import jiwer

HEADER = "|dataset|Snt|Wrd|Corr|Sub|Del|Ins|Err|S.Err|\n|---|---|---|---|---|---|---|---|---|\n"


@dataclass
class ErrorCounts:
    """Alignment counts of a set of hypotheses against their references."""

    sentences: int
    words: int
    correct: int
    substitutions: int
    deletions: int
    insertions: int
    sentence_errors: int

    def _percent(self, value: int, total: int) -> str:
        return f"{100.0 * value / total:.1f}" if total else "0.0"

    @property
    def error_rate(self) -> float:
        """(S + D + I) / N in percent."""
        errors = self.substitutions + self.deletions + self.insertions
        return 100.0 * errors / self.words if self.words else 0.0

    def row(self, dataset: str) -> str:
        """One line of ESPnet's results table."""
        errors = self.substitutions + self.deletions + self.insertions
        cells = [
            dataset,
            str(self.sentences),
            str(self.words),
            *(self._percent(v, self.words) for v in (self.correct, self.substitutions)),
            *(self._percent(v, self.words) for v in (self.deletions, self.insertions)),
            self._percent(errors, self.words),
            self._percent(self.sentence_errors, self.sentences),
        ]
        return "|" + "|".join(cells) + "|\n"


def words(text: str) -> List[str]:
    """Word units."""
    return text.split()


def characters(text: str) -> List[str]:
    """Character units; a space is the unit ``<space>``, as in ESPnet."""
    return ["<space>" if c == " " else c for c in " ".join(text.split())]


def align(refs: Sequence[List[str]], hyps: Sequence[List[str]]) -> jiwer.WordOutput:
    """jiwer alignment of unit sequences (no reference may be empty)."""
    return jiwer.process_words(
        [" ".join(r) for r in refs],
        [" ".join(h) for h in hyps],
        reference_transform=jiwer.ReduceToListOfListOfWords(),
        hypothesis_transform=jiwer.ReduceToListOfListOfWords(),
    )


def count_errors(output: jiwer.WordOutput) -> ErrorCounts:
    """Counts from a jiwer alignment."""
    sentence_errors = sum(
        any(chunk.type != "equal" for chunk in chunks) for chunks in output.alignments
    )
    return ErrorCounts(
        sentences=len(output.alignments),
        words=output.hits + output.substitutions + output.deletions,
        correct=output.hits,
        substitutions=output.substitutions,
        deletions=output.deletions,
        insertions=output.insertions,
        sentence_errors=sentence_errors,
    )


def word_error_rate(references: Mapping[str, str], hypotheses: Mapping[str, str]) -> float:
    """WER (%) of ``hypotheses`` (utterance id -> text) against their references."""
    utts = sorted(hypotheses)
    output = align([words(references[u]) for u in utts], [words(hypotheses[u]) for u in utts])
    return count_errors(output).error_rate


def utterance_errors(output: jiwer.WordOutput) -> List[Tuple[int, int]]:
    """``(S + D + I, N)`` of every aligned utterance, in input order."""
    counts = []
    for ref, chunks in zip(output.references, output.alignments):
        errors = 0
        for chunk in chunks:
            if chunk.type == "insert":
                errors += chunk.hyp_end_idx - chunk.hyp_start_idx
            elif chunk.type != "equal":
                errors += chunk.ref_end_idx - chunk.ref_start_idx
        counts.append((errors, len(ref)))
    return counts

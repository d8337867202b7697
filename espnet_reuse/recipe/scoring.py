"""Stage 13: WER, CER and TER with jiwer, in ESPnet's ``RESULTS.md`` format."""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import jiwer

from espnet_reuse.recipe.kaldi_data import DataError, read_table

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


def _aligned_lines(ref: List[str], hyp: List[str], chunks) -> List[str]:
    top, bottom, ops = [], [], []
    for chunk in chunks:
        r = ref[chunk.ref_start_idx : chunk.ref_end_idx]
        h = hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type == "insert":
            r = ["*" * len(w) for w in h]
        elif chunk.type == "delete":
            h = ["*" * len(w) for w in r]
        op = {"equal": " ", "substitute": "S", "delete": "D", "insert": "I"}[chunk.type]
        for rw, hw in zip(r, h):
            width = max(len(rw), len(hw))
            top.append(rw.ljust(width))
            bottom.append(hw.ljust(width))
            ops.append(op.ljust(width))
    return ["REF: " + " ".join(top), "HYP: " + " ".join(bottom), "     " + " ".join(ops)]


def write_result_txt(
    path: Path, label: str, utts: Sequence[str], refs, hyps, output: jiwer.WordOutput
) -> None:
    """Summary and per-utterance alignments, errors marked S, D and I."""
    lines = [HEADER + count_errors(output).row(label), ""]
    for utt, ref, hyp, chunks in zip(utts, refs, hyps, output.alignments):
        if any(c.type != "equal" for c in chunks):
            lines += [f"id: {utt}", *_aligned_lines(ref, hyp, chunks), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def score_decode_dir(
    decode_dir: Path, ref_text: Path, token_split: Optional[Callable[[str], List[str]]]
) -> Dict[str, ErrorCounts]:
    """Score ``decode_dir/text`` (and ``token``) against ``ref_text``.

    Writes ``score_{wer,cer,ter}/result.txt`` and returns the counts by metric;
    TER needs ``token_split``, the tokenizer that gives reference tokens.
    """
    refs_text = read_table(ref_text, allow_empty_values=True)
    hyps_text = read_table(decode_dir / "text", allow_empty_values=True)
    missing = sorted(set(refs_text) - set(hyps_text))
    if missing:
        raise DataError(f"{decode_dir}/text lacks {len(missing)} utterances, e.g. {missing[:3]}")
    empty = [u for u, t in refs_text.items() if not t.strip()]
    if empty:
        raise DataError(f"{ref_text}: empty reference transcripts, e.g. {empty[:3]}")
    utts = sorted(refs_text)
    units = {"wer": words, "cer": characters}
    metrics: Dict[str, tuple] = {
        name: ([f(refs_text[u]) for u in utts], [f(hyps_text[u]) for u in utts])
        for name, f in units.items()
    }
    if token_split is not None:
        hyp_tokens = read_table(decode_dir / "token", allow_empty_values=True)
        metrics["ter"] = (
            [token_split(refs_text[u]) for u in utts],
            [hyp_tokens[u].split() for u in utts],
        )
    results = {}
    for name, (refs, hyps) in metrics.items():
        output = align(refs, hyps)
        results[name] = count_errors(output)
        write_result_txt(
            decode_dir / f"score_{name}" / "result.txt",
            f"{decode_dir.parent.name}/{decode_dir.name}",
            utts,
            refs,
            hyps,
            output,
        )
    return results

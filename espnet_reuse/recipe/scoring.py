"""Stage 13: WER, CER and TER with jiwer, in ESPnet's ``RESULTS.md`` format."""

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import jiwer

from espnet_reuse import atomic
from espnet_reuse.error_counts import (
    HEADER,
    ErrorCounts,
    align,
    characters,
    count_errors,
    utterance_errors,
    words,
)
from espnet_reuse.kaldi_data import DataError, read_table, write_table

UTT_ERRORS = "utt_errors"


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
    atomic.write_text(path, "\n".join(lines))


def score_decode_dir(
    decode_dir: Path, ref_text: Path, token_split: Optional[Callable[[str], List[str]]]
) -> Dict[str, ErrorCounts]:
    """Score ``decode_dir/text`` (and ``token``) against ``ref_text``.

    Writes ``score_{wer,cer,ter}/result.txt`` and ``utt_errors`` (``utt errors
    units`` lines, for bootstrap intervals) and returns the counts by metric; TER
    needs ``token_split``, the tokenizer that gives reference tokens.
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
        per_utt = utterance_errors(output)
        write_table(
            decode_dir / f"score_{name}" / UTT_ERRORS,
            {utt: f"{e} {n}" for utt, (e, n) in zip(utts, per_utt)},
        )
    return results

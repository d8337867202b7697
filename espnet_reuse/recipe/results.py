"""ESPnet-style ``RESULTS.md``: per experiment, and all experiments side by side."""

import json
import platform
import subprocess
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from espnet_reuse import atomic
from espnet_reuse.bootstrap import Interval, bootstrap_wer
from espnet_reuse.error_counts import HEADER, ErrorCounts
from espnet_reuse.kaldi_data import read_table
from espnet_reuse.recipe.scoring import UTT_ERRORS

SUMMARY = "score_summary.json"
METRICS = ("wer", "cer", "ter")


def save_summary(decode_dir: Path, counts: Dict[str, ErrorCounts]) -> None:
    """Keep a decode directory's counts for the tables."""
    atomic.write_text(
        decode_dir / SUMMARY, json.dumps({m: asdict(c) for m, c in counts.items()}, indent=1)
    )


def load_summaries(exp_dir: Path) -> Dict[str, Dict[str, ErrorCounts]]:
    """``<inference_tag>/<test_set>`` -> metric -> counts, for one experiment."""
    found = {}
    for path in sorted(exp_dir.glob(f"*/*/{SUMMARY}")):
        label = f"{path.parent.parent.name}/{path.parent.name}"
        found[label] = {m: ErrorCounts(**c) for m, c in json.loads(path.read_text()).items()}
    return found


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment_block() -> str:
    """ESPnet's ``## Environments`` block."""
    from importlib.metadata import version

    import torch

    import espnet_reuse

    return (
        "## Environments\n"
        f"- date: `{datetime.now().strftime('%a %b %d %H:%M:%S %Z %Y').strip()}`\n"
        f"- python version: `{platform.python_version()}`\n"
        f"- espnet version: `espnet {version('espnet')}`\n"
        f"- espnet_reuse version: `espnet_reuse {espnet_reuse.__version__}`\n"
        f"- pytorch version: `pytorch {torch.__version__}`\n"
        f"- Git hash: `{_git('rev-parse', 'HEAD')}`\n"
        f"  - Commit date: `{_git('log', '-1', '--format=%cd')}`\n"
    )


def experiment_section(exp_dir: Path) -> str:
    """ESPnet's ``## <experiment>`` section: its WER, CER and TER tables."""
    summaries = load_summaries(exp_dir)
    text = f"## {exp_dir}\n"
    for metric in METRICS:
        rows = [c[metric].row(label) for label, c in summaries.items() if metric in c]
        if rows:
            text += f"### {metric.upper()}\n\n{HEADER}{''.join(rows)}\n"
    return text


def experiment_results(exp_dir: Path) -> str:
    """The ``RESULTS.md`` of one experiment, as ESPnet writes it."""
    return f"# RESULTS\n{environment_block()}\n{experiment_section(exp_dir)}"


def utterance_errors(decode_dir: Path) -> Optional[Tuple[List[str], np.ndarray, np.ndarray]]:
    """Utterance ids (sorted), word errors and reference words of a scored decode
    directory (None when it was scored without per-utterance errors)."""
    path = decode_dir / "score_wer" / UTT_ERRORS
    if not path.exists():
        return None
    table = read_table(path)
    utts = sorted(table)
    counts = np.array([table[u].split() for u in utts], dtype=float)
    return utts, counts[:, 0], counts[:, 1]


def wer_interval(decode_dir: Path) -> Optional[Interval]:
    """WER of a scored decode directory with its 95 % bootstrap interval over
    utterances (None when it was scored without per-utterance errors)."""
    scored = utterance_errors(decode_dir)
    return None if scored is None else bootstrap_wer(scored[1][None, :], scored[2])


def paired_differences(baseline: Path, others: Sequence[Path]) -> str:
    """Paired WER differences (other - baseline, with 95 % bootstrap intervals over
    utterances) of every decoding and test set that ``baseline`` and an experiment
    of ``others`` both scored, as a Markdown table."""
    base = {label: baseline / label for label in load_summaries(baseline)}
    sets = sorted({label.split("/")[1] for label in base})
    lines = [
        "|experiment|decoding|" + "|".join(f"Δ WER {s} [95 % CI]" for s in sets) + "|",
        "|---|---|" + "---|" * len(sets),
    ]
    for other in others:
        tags = sorted({label.split("/")[0] for label in load_summaries(other)})
        for tag in tags:
            cells = []
            for test_set in sets:
                ours, theirs = (utterance_errors(d / tag / test_set) for d in (other, baseline))
                if ours is None or theirs is None:
                    cells.append("-")
                    continue
                if ours[0] != theirs[0]:
                    raise ValueError(
                        f"{other / tag / test_set} and {baseline} scored other utterances"
                    )
                cells.append(bootstrap_wer(ours[1][None], ours[2], theirs[1][None]).signed)
            if any(c != "-" for c in cells):
                lines.append(f"|{other.name}|{tag}|" + "|".join(cells) + "|")
    return f"Against {baseline.name}:\n\n" + "\n".join(lines) + "\n"


def side_by_side(exp_dirs: List[Path], notes: Optional[Dict[Path, Dict[str, str]]] = None) -> str:
    """WER of every experiment and decoding on every test set, in one table with
    intervals, then each experiment's ESPnet sections.

    ``notes`` adds columns per experiment (e.g. training time).
    """
    notes = notes or {}
    note_names = sorted({k for n in notes.values() for k in n})
    rows, sets = [], []
    for exp_dir in exp_dirs:
        by_tag: Dict[str, Dict[str, str]] = {}
        for label, counts in load_summaries(exp_dir).items():
            tag, test_set = label.split("/")
            interval = wer_interval(exp_dir / tag / test_set)
            by_tag.setdefault(tag, {})[test_set] = (
                str(interval) if interval else f"{counts['wer'].error_rate:.1f}"
            )
            if test_set not in sets:
                sets.append(test_set)
        for tag, wers in by_tag.items():
            rows.append((exp_dir.name, tag, wers, notes.get(exp_dir, {})))
    header = ["experiment", "decoding", *sets, *note_names]
    lines = [
        "|" + "|".join(header) + "|",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for name, tag, wers, note in rows:
        cells = [name, tag, *(wers.get(s, "-") for s in sets)]
        cells += [note.get(k, "-") for k in note_names]
        lines.append("|" + "|".join(cells) + "|")
    sections = "\n".join(experiment_section(exp_dir) for exp_dir in exp_dirs)
    return (
        f"# RESULTS\n{environment_block()}\n## WER (%) side by side\n\nWith 95 % bootstrap "
        "intervals over the utterances of each set.\n\n" + "\n".join(lines) + "\n\n"
        "Each experiment in ESPnet's form:\n\n" + sections
    )

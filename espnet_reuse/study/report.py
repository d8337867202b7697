"""The study's tables (ESPnet ``RESULTS.md`` style) and its speed-accuracy plot."""

import hashlib
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from espnet_reuse.benchmark.measure import Ratio
from espnet_reuse.bootstrap import Interval, bootstrap_wer
from espnet_reuse.error_counts import align, utterance_errors, words
from espnet_reuse.kaldi_data import read_table


class SetErrors(NamedTuple):
    """One row's errors on one test set: word errors (seeds, U) of each seed's
    hypotheses, reference words (U,), utterances (U,) sorted by id and the speaker of
    each (U,)."""

    errors: np.ndarray
    words: np.ndarray
    utts: List[str]
    speakers: List[str]


def error_matrix(references: Path, hypotheses: Sequence[Path]) -> SetErrors:
    """Every seed's word errors on the utterances of ``references`` (a data dir's
    ``text``; speakers from its ``utt2spk``)."""
    refs = read_table(references, allow_empty_values=True)
    speaker_of = read_table(references.parent / "utt2spk")
    utts = sorted(refs)
    rows = []
    for path in hypotheses:
        hyps = read_table(path, allow_empty_values=True)
        missing = [u for u in utts if u not in hyps]
        if missing:
            raise ValueError(f"{path} lacks {len(missing)} utterances, e.g. {missing[:3]}")
        rows.append(
            utterance_errors(align([words(refs[u]) for u in utts], [words(hyps[u]) for u in utts]))
        )
    errors = np.array([[e for e, _ in row] for row in rows], dtype=float)
    counts = np.array([n for _, n in rows[0]], dtype=float)
    return SetErrors(errors, counts, utts, [speaker_of[u] for u in utts])


@dataclass
class SetResult:
    """One layout on one test set, seeds pooled."""

    utterances: int
    words: int
    wer: Interval
    per_seed: List[float]
    difference: Optional[Interval] = None  # paired, against the baseline


@dataclass
class LayoutResult:
    """One table row: a layout (trained or fine-tuned) over its seeds."""

    row: str
    maps: int
    layers: int
    seeds: List[int]
    sets: Dict[str, SetResult] = field(default_factory=dict)
    step_seconds: List[List[float]] = field(default_factory=list)  # per seed
    epoch_seconds: List[List[float]] = field(default_factory=list)  # per seed


Matrices = Dict[str, Dict[str, SetErrors]]  # row -> test set -> its errors


def error_matrices(
    references: Dict[str, Path], hypotheses: Dict[str, Dict[str, List[Path]]]
) -> Matrices:
    """``error_matrix`` of every row and test set."""
    return {
        row: {name: error_matrix(references[name], paths) for name, paths in sets.items()}
        for row, sets in hypotheses.items()
    }


def per_utterance(
    matrices: Matrices, seeds: Dict[str, List[int]], wav_scps: Dict[str, Path]
) -> Dict[str, dict]:
    """What a study keeps so that any interval can be recomputed and studies pooled:
    per test set its utterances, speakers, reference words, the SHA-256 of each
    utterance's audio (from ``wav_scps``) and every row's errors per seed."""
    kept = {}
    for name in next(iter(matrices.values())):
        first = next(m[name] for m in matrices.values() if name in m)
        audio = read_table(wav_scps[name])
        kept[name] = {
            "utts": first.utts,
            "speakers": first.speakers,
            "words": first.words.astype(int).tolist(),
            "sha256": [hashlib.sha256(Path(audio[u]).read_bytes()).hexdigest() for u in first.utts],
            "errors": {
                row: {"seeds": seeds[row], "errors": sets[name].errors.astype(int).tolist()}
                for row, sets in matrices.items()
                if name in sets
            },
        }
    return kept


def read_per_utterance(kept: Dict[str, dict]) -> Tuple[Matrices, Dict[str, List[int]]]:
    """``per_utterance``'s record read back as error matrices and each row's seeds."""
    matrices: Matrices = {}
    seeds: Dict[str, List[int]] = {}
    for name, record in kept.items():
        words = np.array(record["words"], dtype=float)
        for row, by_seed in record["errors"].items():
            errors = np.array(by_seed["errors"], dtype=float)
            matrices.setdefault(row, {})[name] = SetErrors(
                errors, words, record["utts"], record["speakers"]
            )
            seeds[row] = by_seed["seeds"]
    return matrices, seeds


def pool_per_utterance(records: Dict[str, Dict[str, dict]]) -> Dict[str, dict]:
    """Several studies' ``per_utterance`` records (study name -> record) as one, each
    seed named ``<study>:<seed>`` (the same seed trained in two studies is two models),
    only where every test set's audio is byte-identical in all of them."""
    first_name, first = next(iter(records.items()))
    pooled = {name: {**record, "errors": {}} for name, record in first.items()}
    for study, record in records.items():
        if set(record) != set(first):
            raise ValueError(f"{study} has sets {sorted(record)}, {first_name} {sorted(first)}")
        for name, kept in record.items():
            if kept["utts"] != first[name]["utts"] or kept["sha256"] != first[name]["sha256"]:
                differing = sum(a != b for a, b in zip(kept["sha256"], first[name]["sha256"]))
                raise ValueError(
                    f"{name}: the audio of {study} and {first_name} differs ({differing} "
                    f"utterances, or other utterances): intervals cannot pool them"
                )
            for row, by_seed in kept["errors"].items():
                target = pooled[name]["errors"].setdefault(row, {"seeds": [], "errors": []})
                target["seeds"] += [f"{study}:{seed}" for seed in by_seed["seeds"]]
                target["errors"] += by_seed["errors"]
    return pooled


def score_sets(matrices: Matrices, baseline: str) -> Dict[str, Dict[str, SetResult]]:
    """row -> test set -> result, with paired differences against ``baseline``."""
    results: Dict[str, Dict[str, SetResult]] = {}
    for row, sets in matrices.items():
        results[row] = {}
        for name, (errors, counts, _, _) in sets.items():
            other = matrices[baseline][name][0] if row != baseline else None
            results[row][name] = SetResult(
                utterances=errors.shape[1],
                words=int(counts.sum()),
                wer=bootstrap_wer(errors, counts),
                per_seed=[100.0 * float(e.sum() / counts.sum()) for e in errors],
                difference=None if other is None else bootstrap_wer(errors, counts, other),
            )
    return results


def comparison_table(matrices: Matrices, pairs: List[Tuple[str, str]]) -> str:
    """Paired WER differences ``row - reference`` on every test set, for each pair."""
    sets = list(next(iter(matrices.values())))
    lines = [
        "|layout|against|" + "|".join(f"Δ WER {s} [95 % CI]" for s in sets) + "|",
        "|---|---|" + "---|" * len(sets),
    ]
    for row, reference in pairs:
        cells = [
            bootstrap_wer(
                matrices[row][s][0], matrices[row][s][1], matrices[reference][s][0]
            ).signed
            for s in sets
        ]
        lines.append(f"|{row}|{reference}|" + "|".join(cells) + "|")
    return "\n".join(lines) + "\n"


def _spread(values: List[float], digits: int) -> str:
    """Median and quartiles of one seed's values."""
    if not values:
        return "-"
    if len(values) < 4:
        return f"{statistics.median(values):.{digits}f}"
    q1, median, q3 = statistics.quantiles(values, n=4)
    return f"{median:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


def wer_table(results: List[LayoutResult]) -> str:
    """Per layout and test set: pooled WER, paired difference, per-seed WERs."""
    lines = [
        "|layout|maps / layers|seeds|dataset|Snt|Wrd|WER (%) [95 % CI]"
        "|Δ WER vs baseline [95 % CI]|WER per seed|",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for name, s in r.sets.items():
            diff = "-" if s.difference is None else s.difference.signed
            seeds = " / ".join(f"{w:.1f}" for w in s.per_seed)
            lines.append(
                f"|{r.row}|{r.maps} / {r.layers}|{len(r.seeds)}|{name}|{s.utterances}|"
                f"{s.words}|{s.wer}|{diff}|{seeds}|"
            )
    return "\n".join(lines) + "\n"


def cost_table(
    results: List[LayoutResult],
    speed: Dict[str, Dict[str, Ratio]],
    saved: Optional[Dict[str, int]] = None,
) -> str:
    """Training cost from ESPnet's logs, the paired encoder speed-ups and, given
    ``saved`` (row -> bytes), the bytes each encoder keeps for backward."""
    columns = list(speed)
    memory = "kept for backward (MB)|" if saved else ""
    lines = [
        "|layout|maps / layers|ESPnet train_time per step (s), median [quartiles], per seed"
        "|epoch (s), median, per seed|" + "".join(f"speed-up: {c}|" for c in columns) + memory,
        "|---|---|---|---|" + "---|" * (len(columns) + bool(saved)),
    ]
    for r in results:
        steps = " / ".join(_spread(seed, 3) for seed in r.step_seconds)
        epochs = " / ".join(
            f"{statistics.median(seed):.1f}" if seed else "-" for seed in r.epoch_seconds
        )
        cells = []
        for c in columns:
            ratio = speed[c].get(r.row)
            cells.append("-" if ratio is None else _ratio(ratio))
        if saved:
            cells.append(f"{saved[r.row] / 1e6:.1f}" if r.row in saved else "-")
        lines.append(
            f"|{r.row}|{r.maps} / {r.layers}|{steps}|{epochs}|" + "".join(f"{c}|" for c in cells)
        )
    return "\n".join(lines) + "\n"


def _ratio(ratio: Ratio) -> str:
    return f"{ratio.median:.2f}x [{ratio.low:.2f}, {ratio.high:.2f}]"


def selection_section(selection: dict) -> str:
    """Both rules' picks beside the uniform layout, and the conversion ranking."""
    lines = [
        f"### Layout choice for {selection['maps']} maps, on {selection['set']}\n",
        f"- divergence rule: {selection['divergence_pick']} (summed JS divergence "
        f"{selection['divergence_cost']:.3f}; uniform {selection['uniform'] or '-'}: "
        f"{_number(selection['uniform_divergence_cost'])})",
        f"- conversion rule: {selection['conversion_pick']}\n",
        "|layout (converted, not trained)|CTC loss per utterance|greedy WER (%)|",
        "|---|---|---|",
    ]
    for c in selection["conversion_ranking"]:
        lines.append(f"|{c['reuse_groups']}|{c['ctc_loss']:.2f}|{c['wer']:.1f}|")
    return "\n".join(lines) + "\n"


def _number(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


# panel title -> points: (label, speed-up, value with its interval)
Panels = Dict[str, List[Tuple[str, Ratio, Interval]]]


def plot_speed_panels(
    panels: Panels,
    path: Path,
    title: str,
    ylabel: str,
    reference_lines: Sequence[Tuple[float, str]] = (),
) -> None:
    """One panel per entry of ``panels``: speed-up against a value, both intervals as
    bars, a marker per label; horizontal ``reference_lines`` (value, label) drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(2, len(panels))
    rows = (len(panels) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4.2 * rows), squeeze=False)
    for ax, (panel, points) in zip(axes.flat, panels.items()):
        for idx, (label, ratio, value) in enumerate(points):
            ax.errorbar(
                ratio.median,
                value.value,
                xerr=[[ratio.median - ratio.low], [ratio.high - ratio.median]],
                yerr=[[value.value - value.low], [value.high - value.value]],
                fmt="os^Dv<>p*"[idx % 9],
                capsize=3,
                label=label,
            )
        for level, label in reference_lines:
            style = "-" if level == 0 else "--"
            ax.axhline(level, color="black", linestyle=style, linewidth=0.8, label=label or None)
        ax.set_xlabel("encoder speed-up over the baseline (x)")
        ax.set_ylabel(ylabel)
        ax.set_title(panel)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot(
    results: List[LayoutResult],
    speed: Dict[str, Ratio],
    test_sets: List[str],
    path: Path,
    title: str,
) -> None:
    """Speed-up against WER, one point per layout, one panel per test set."""
    panels: Panels = {
        test_set: [
            (r.row, speed[r.row], r.sets[test_set].wer)
            for r in results
            if r.row in speed and test_set in r.sets
        ]
        for test_set in test_sets
    }
    plot_speed_panels(panels, path, title, "WER (%), seeds pooled")

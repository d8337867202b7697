"""Checks of an exported model against PyTorch: outputs on padded batches of lengths the
export never saw, the reuse layers' graph, and the words of whole data sets."""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

import torch

from espnet_reuse.decoding.inference import greedy_search, recognise
from espnet_reuse.export.onnx_export import (
    EncoderCTC,
    OnnxRuntimeGraph,
    attention_graph,
    feature_size,
    onnx_recognise,
)
from espnet_reuse.kaldi_data import read_num_samples, read_table

# (batch lengths in frames): none is a length the export traced (300, 200)
UNSEEN = ((57,), (517, 333, 101), (64, 64, 50, 41, 30, 16, 9, 9))
TOLERANCE = 1e-4  # largest absolute difference of log-probabilities accepted


@dataclass
class ExportCheck:
    """What ``check_export`` found."""

    max_difference: float  # of log-probabilities, over every valid frame of UNSEEN
    lengths_equal: bool
    graph_lines: List[str]  # per layer: what its attention computes in the graph
    graph_as_expected: bool  # every reuse layer without Q, K or softmax; sources with

    @property
    def passed(self) -> bool:
        return self.max_difference <= TOLERANCE and self.lengths_equal and self.graph_as_expected

    def report(self) -> List[str]:
        """What was found, a line each (the comparison, then every layer's attention)."""
        lengths = "equal" if self.lengths_equal else "DIFFERENT"
        return [
            f"ONNX Runtime within {self.max_difference:.1e} of PyTorch at unseen lengths "
            f"(tolerance {TOLERANCE:g}), output lengths {lengths}",
            "the attention of each layer in the graph:",
            *(f"  {line}" for line in self.graph_lines),
        ]


def output_difference(
    model: torch.nn.Module, encoder_ctc: OnnxRuntimeGraph, batches: Sequence[Tuple[int, ...]]
) -> Tuple[float, bool]:
    """The largest absolute difference of the log-probabilities (valid frames) of ONNX
    Runtime and PyTorch on random padded batches of ``batches``' lengths, and whether the
    output lengths agree."""
    reference = EncoderCTC(model).eval()
    generator = torch.Generator().manual_seed(1)
    worst, same_lengths = 0.0, True
    for lengths in batches:
        feats_lengths = torch.tensor(lengths)
        feats = torch.randn(len(lengths), max(lengths), feature_size(model), generator=generator)
        with torch.inference_mode():
            expected, expected_lengths = reference(feats, feats_lengths)
        actual, actual_lengths = encoder_ctc(feats, feats_lengths)
        same_lengths &= torch.equal(actual_lengths, expected_lengths)
        for b, n in enumerate(expected_lengths.tolist()):
            worst = max(worst, (actual[b, :n] - expected[b, :n]).abs().max().item())
    return worst, same_lengths


def graph_report(encoder: torch.nn.Module, onnx_file: Path) -> Tuple[List[str], bool]:
    """One line per layer of what its attention computes in the exported graph, and
    whether that is what the layout says: a layer that computes its map has its Q and
    K projections and one softmax, a reuse layer (or one of a learned group) none."""
    sources = getattr(encoder, "map_sources", list(range(len(encoder.encoders))))
    learned = getattr(encoder, "learned_maps", {})
    groups = getattr(encoder, "group_index", sources)
    lines, expected = [], True
    for idx, counts in enumerate(attention_graph(onnx_file, encoder)):
        computes = sources[idx] == idx and str(groups[idx]) not in learned
        makes_map = counts["linear_q"] > 0 and counts["linear_k"] > 0 and counts["softmax"] == 1
        makes_none = not any(counts.values())
        expected &= makes_map if computes else makes_none
        role = "computes its map" if computes else f"reuses layer {sources[idx] + 1}'s map"
        found = ", ".join(f"{k} {v}" for k, v in counts.items())
        lines.append(f"layer {idx + 1} ({role}): {found}")
    return lines, expected


def check_export(model: torch.nn.Module, onnx_file: Path) -> ExportCheck:
    """ONNX Runtime against PyTorch on ``UNSEEN`` batches, and the graph check."""
    difference, lengths_equal = output_difference(model, OnnxRuntimeGraph(onnx_file), UNSEEN)
    lines, expected = graph_report(model.encoder, onnx_file)
    return ExportCheck(difference, lengths_equal, lines, expected)


def differing_words(
    model: torch.nn.Module, onnx_file: Path, data_dir: Path, batch_size: int = 16
) -> Tuple[int, int]:
    """Greedy CTC tokens of every utterance of ``data_dir`` from the exported graph and
    from PyTorch (the recipe's decoding): (utterances that differ, utterances)."""
    wav, lengths = read_table(data_dir / "wav.scp"), read_num_samples(data_dir)
    ours = onnx_recognise(OnnxRuntimeGraph(onnx_file), model, wav, lengths, batch_size)
    theirs = recognise(model, wav, lengths, batch_size, "cpu", greedy_search)
    return sum(ours[u].token_ids != theirs[u].token_ids for u in wav), len(wav)

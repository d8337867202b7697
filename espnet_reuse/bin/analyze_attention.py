"""Analyse what each attention layer and head of a trained ESPnet ASR model does.

Example (the demo baseline)::

    python -m espnet_reuse.bin.analyze_attention \\
        --asr_train_config exp/asr_x/config.yaml --asr_model_file exp/asr_x/valid.loss.ave.pth \\
        --data_dir dump/raw/test_clean \\
        --alignments downloads/demo_librispeech/alignments/test-clean.ctm \\
        --probe_train_dir dump/raw/train_960 \\
        --probe_train_alignments downloads/demo_librispeech/alignments/train-clean-100.ctm \\
        --target_maps 3 --out_dir exp/asr_x/attention_analysis

Writes ``summary.json`` and PNG figures: attention maps, CAD, head metrics, phoneme
attention relationship and relation maps, probing, head pruning, layer divergence.
"""

import argparse
import json
import random
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

import numpy as np
import torch
import yaml
from tqdm import tqdm

from espnet_reuse.analysis import plots
from espnet_reuse.analysis.accumulate import AttentionStats, rank_heads
from espnet_reuse.analysis.alignments import (
    frame_labels,
    frame_mapping,
    phone_inventory,
    read_alignments,
)
from espnet_reuse.analysis.capture import capture
from espnet_reuse.analysis.layout import layout_cost, suggest_layout
from espnet_reuse.analysis.probing import probe_accuracy
from espnet_reuse.encoder.reuse_groups import map_sources
from espnet_reuse.error_counts import word_error_rate
from espnet_reuse.inference import load_asr_model, tokens_to_text
from espnet_reuse.kaldi_data import DataError, read_num_samples, read_table


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--asr_train_config", type=Path, required=True)
    p.add_argument("--asr_model_file", type=Path, required=True)
    p.add_argument("--data_dir", type=Path, required=True, help="dump/raw/<set> to analyse")
    p.add_argument("--alignments", type=Path, help="CTM file or TextGrid folder of --data_dir")
    p.add_argument("--probe_train_dir", type=Path, help="data set the probes are trained on")
    p.add_argument("--probe_train_alignments", type=Path)
    p.add_argument("--max_utts", type=int, default=0, help="analyse at most N utterances")
    p.add_argument("--probe_max_frames", type=int, default=30000)
    p.add_argument("--plot_utts", type=int, default=2, help="attention-map grids to draw")
    p.add_argument("--per_head_phone_maps", action="store_true")
    p.add_argument("--max_range", type=int, default=20, help="largest r of CAD(r)")
    p.add_argument(
        "--max_offset", type=int, default=64, help="offset profiles (for learned maps) cover -R..R"
    )
    p.add_argument("--prune_steps", type=int, default=8, help="points of each pruning curve")
    p.add_argument("--target_maps", type=int, default=0, help="suggest reuse_groups with N maps")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fs", type=int, default=16000)
    p.add_argument("--out_dir", type=Path, required=True)
    return p


class DataSet(NamedTuple):
    """``wav.scp``, ``text`` and the lengths of the utterances analysed."""

    wav: Dict[str, str]
    text: Dict[str, str]
    lengths: Dict[str, int]


class Analysis:
    """One model, its frame mapping and phone inventory."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.model = load_asr_model(args.asr_train_config, args.asr_model_file, args.device)
        self.config = yaml.safe_load(args.asr_train_config.read_text())
        hop = self.config.get("frontend_conf", {}).get("hop_length", 128)
        self.mapping = frame_mapping(self.model.encoder, hop, args.fs)
        self.alignments = read_alignments(args.alignments) if args.alignments else {}
        if args.probe_train_alignments:
            self.probe_alignments = read_alignments(args.probe_train_alignments)
        else:
            self.probe_alignments = {}
        self.phone_ids = phone_inventory({**self.alignments, **self.probe_alignments})
        self.groups = getattr(
            self.model.encoder, "reuse_groups", [1] * len(self.model.encoder.encoders)
        )
        self.to_text = tokens_to_text(args.asr_train_config)
        self._data: Dict[Path, DataSet] = {}

    def data(self, data_dir: Path) -> DataSet:
        """A data directory's tables and analysed utterances, read once."""
        if data_dir not in self._data:
            self._data[data_dir] = DataSet(
                read_table(data_dir / "wav.scp"),
                read_table(data_dir / "text", allow_empty_values=True),
                read_num_samples(data_dir, self.args.max_utts),
            )
        return self._data[data_dir]

    def labels(self, alignments, utt: str, num_frames: int, samples: int) -> torch.Tensor:
        if utt not in alignments:
            raise DataError(f"no alignment for utterance '{utt}'")
        return frame_labels(
            utt, alignments[utt], num_frames, self.mapping, self.phone_ids, samples / self.args.fs
        )

    def collect(
        self, data_dir: Path, alignments, stats: Optional[AttentionStats], plot_dir: Optional[Path]
    ):
        """Run the data set once; return its probing frames (hidden states, labels)."""
        wav, _, lengths = self.data(data_dir)
        hidden: List[List[np.ndarray]] = []
        targets: List[np.ndarray] = []
        frames = 0
        plotted = 0
        reused = [source != idx for idx, source in enumerate(map_sources(self.groups))]
        for item in tqdm(
            capture(self.model, wav, lengths, self.args.batch_size, self.args.device),
            total=len(lengths),
            desc=f"encoding {data_dir.name}",
            unit="utt",
        ):
            labels = None
            if alignments:
                labels = self.labels(alignments, item.utt, item.maps[0].size(-1), lengths[item.utt])
            if stats is not None:
                stats.add(item, labels)
            if plot_dir is not None and plotted < self.args.plot_utts:
                plots.attention_grid(
                    item.maps, item.utt, plot_dir / f"attention_maps_{item.utt}.png", reused
                )
                plotted += 1
            if labels is not None and frames < self.args.probe_max_frames:
                hidden.append([h.numpy() for h in item.hidden])
                targets.append(labels.numpy())
                frames += len(labels)
        if not hidden:
            return None
        per_layer = [np.concatenate([h[layer] for h in hidden]) for layer in range(len(hidden[0]))]
        return per_layer, np.concatenate(targets)

    def wer(self, data_dir: Path, heads: List[tuple]) -> float:
        """CTC greedy WER (%) of the data set with ``heads`` pruned."""
        wav, refs, lengths = self.data(data_dir)
        hyps = {}
        for item in capture(
            self.model, wav, lengths, self.args.batch_size, self.args.device, False, heads
        ):
            hyps[item.utt] = self.to_text([self.model.token_list[t] for t in item.token_ids])
        return word_error_rate(refs, hyps)


def pruning_curves(
    analysis: Analysis, metrics: Dict[str, torch.Tensor], steps: int
) -> Dict[str, List[tuple]]:
    """WER after pruning the k highest heads of each metric (and a random order)."""
    layers, heads = next(iter(metrics.values())).shape
    total = layers * heads
    orders = {name: rank_heads(values) for name, values in metrics.items()}
    random_order = [(layer, h) for layer in range(layers) for h in range(heads)]
    random.Random(0).shuffle(random_order)
    orders["random"] = random_order
    counts = sorted({round(i * total / steps) for i in range(steps + 1)})
    baseline = analysis.wer(analysis.args.data_dir, [])
    curves = {}
    for name, order in orders.items():
        curves[name] = [(0, baseline)] + [
            (k, analysis.wer(analysis.args.data_dir, order[:k])) for k in counts if k > 0
        ]
    return curves


def main(cmd: Optional[List[str]] = None) -> None:
    """Measure, plot and write ``summary.json``."""
    args = get_parser().parse_args(cmd)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    analysis = Analysis(args)
    encoder = analysis.model.encoder
    num_layers, num_heads = len(encoder.encoders), encoder.encoders[0].self_attn.h
    stats = AttentionStats(
        num_layers, num_heads, args.max_range, len(analysis.phone_ids), args.max_offset
    )
    test_frames = analysis.collect(args.data_dir, analysis.alignments, stats, args.out_dir)
    summary: dict = {
        "model": str(args.asr_model_file),
        "data_dir": str(args.data_dir),
        "utterances": stats.utterances,
        "reuse_groups": analysis.groups,
        "frame_mapping": vars(analysis.mapping),
    }

    cad = stats.mean_cad()
    summary["cad"] = {"curves": cad.tolist(), "per_layer": cad.mean(dim=1).tolist()}
    plots.cad_curves(cad, args.out_dir / "cad.png")

    metrics = stats.mean_head_metrics()
    summary["head_metrics"] = {k: v.tolist() for k, v in metrics.items()}
    summary["head_ranking"] = {k: rank_heads(v) for k, v in metrics.items()}
    plots.head_metrics(metrics, args.out_dir / "head_metrics.png")

    summary["offset_profile"] = {
        "max_offset": args.max_offset,
        "per_layer_head": stats.mean_offset_profile().tolist(),
    }
    divergence = stats.mean_divergence()
    summary["js_divergence"] = divergence.tolist()
    plots.divergence(divergence, args.out_dir / "js_divergence.png")

    if analysis.alignments:
        phones = sorted(analysis.phone_ids, key=analysis.phone_ids.get)
        summary["phones"] = phones
        summary["par"] = stats.par().tolist()
        summary["relation_map"] = stats.relation_map().tolist()
        plots.phone_maps(
            stats.par(),
            phones,
            "phoneme attention relationship (own run excluded)",
            args.out_dir / "phoneme_attention_relationship.png",
        )
        plots.phone_maps(
            stats.relation_map(),
            phones,
            "phoneme relation map",
            args.out_dir / "phoneme_relation_map.png",
        )
        if args.per_head_phone_maps:
            per_head = stats.par(per_head=True)
            for h in range(num_heads):
                plots.phone_maps(
                    per_head[:, h],
                    phones,
                    f"PAR, head {h + 1}",
                    args.out_dir / f"phoneme_attention_relationship_head{h + 1}.png",
                )

    if args.probe_train_dir and test_frames is not None:
        train_frames = analysis.collect(args.probe_train_dir, analysis.probe_alignments, None, None)
        accuracies = probe_accuracy(*train_frames, *test_frames)
        summary["probing_accuracy"] = accuracies
        plots.probing(accuracies, args.out_dir / "probing.png")

    if args.prune_steps:
        curves = pruning_curves(analysis, metrics, args.prune_steps)
        summary["pruning_wer"] = curves
        plots.pruning(curves, args.out_dir / "pruning.png")

    if args.target_maps:
        groups = suggest_layout(divergence, args.target_maps)
        uniform = _uniform_layout(num_layers, args.target_maps)
        summary["suggested_layout"] = {
            "reuse_groups": groups,
            "divergence_cost": layout_cost(divergence, groups),
            "uniform_reuse_groups": uniform,
            "uniform_divergence_cost": layout_cost(divergence, uniform) if uniform else None,
            "rule": "consecutive groups minimising the summed JS divergence between each "
            "reuse layer's own map and its group's map source's map (exact, dynamic programming)",
        }
        print(
            f"divergence rule's layout for {args.target_maps} computed maps: {groups} "
            f"(uniform: {uniform}). In the demo layout study (egs/librispeech_reuse/"
            "RESULTS.md) neither this rule nor the conversion rule measurably beat the "
            "uniform layout: prefer the uniform one unless a study on your data shows "
            "otherwise (python -m espnet_reuse.bin.layout_study)."
        )

    (args.out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {args.out_dir}/summary.json and figures")


def _uniform_layout(layers: int, maps: int) -> Optional[List[int]]:
    """Equal group sizes, where they exist."""
    return [layers // maps] * maps if layers % maps == 0 else None


if __name__ == "__main__":
    main()

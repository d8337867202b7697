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
from dataclasses import fields
from pathlib import Path
from typing import List, Optional

from espnet_reuse.extras import command_needs

command_needs("recipe")

from espnet_reuse import safe_load
from espnet_reuse.analysis.analyze import AnalysisOptions, analyze


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
    p.add_argument(
        "--pruning_probe_layer",
        type=int,
        default=0,
        help="layer (from 1) whose phone and speaker probes the pruning curves report "
        "(0: the final layer)",
    )
    p.add_argument(
        "--boundary_tolerance",
        type=int,
        default=1,
        help="encoder frames a detected phoneme boundary may be off",
    )
    p.add_argument("--target_maps", type=int, default=0, help="suggest reuse_groups with N maps")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fs", type=int, default=16000)
    p.add_argument("--out_dir", type=Path, required=True)
    safe_load.add_trust_option(p)
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Measure, plot and write ``summary.json``."""
    args = vars(get_parser().parse_args(cmd))
    safe_load.set_trusted(args["trust_model_file"])
    options = AnalysisOptions(**{f.name: args[f.name] for f in fields(AnalysisOptions)})
    path = analyze(options).write(options.out_dir)
    print(f"wrote {path} and figures")


if __name__ == "__main__":
    main()

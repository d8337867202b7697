"""The notes the recipe keeps beside an experiment's results (stage 11's training time,
stage 13's side-by-side table)."""

import json
from pathlib import Path
from typing import Dict

import yaml
from humanfriendly import format_timespan

from espnet_reuse import atomic
from espnet_reuse.decoding.attention_search import has_attention_decoder
from espnet_reuse.encoder.families import num_blocks
from espnet_reuse.encoder.reuse_groups import computed_maps
from espnet_reuse.recipe.decode import ATTENTION_DECODERS, RTF_FILE

TRAIN_TIME_FILE = "train_seconds"  # seconds spent training, summed over runs


def experiment_notes(exp_dir: Path) -> Dict[str, str]:
    """What the side-by-side table says of a scored experiment beside its WERs: training
    time, maps per layer, an attention decoder left unused, a converted start, the
    slowest decoding's real-time factor."""
    notes = {}
    train_time = exp_dir / TRAIN_TIME_FILE
    if train_time.exists():
        notes["train time"] = format_timespan(float(train_time.read_text()), max_units=2)
    config = yaml.safe_load((exp_dir / "config.yaml").read_text())
    encoder_conf = config.get("encoder_conf") or {}
    learned = encoder_conf.get("learned_map_groups", [])
    # no reuse_groups: one layer per group
    groups = encoder_conf.get("reuse_groups") or [1] * num_blocks(config["encoder"], encoder_conf)
    computed = computed_maps(groups, learned)
    notes["maps/layers"] = f"{computed}/{sum(groups)}" + (
        f" (+{len(learned)} learned)" if learned else ""
    )
    timings = [json.loads(p.read_text()) for p in exp_dir.glob(f"*/*/{RTF_FILE}")]
    if has_attention_decoder(config) and not any(
        t["decoder"] in ATTENTION_DECODERS for t in timings
    ):
        notes["attention decoder"] = "not used: CTC head only"
    if (exp_dir / "init_from_baseline").exists():
        notes["init"] = "converted baseline"
    rtfs = [t["rtf"] for t in timings]
    if rtfs:
        notes["decode RTF"] = f"{max(rtfs):.4f} (max)"
    return notes


def add_seconds(path: Path, seconds: float) -> None:
    """Add ``seconds`` to the running total kept in ``path``."""
    previous = float(path.read_text()) if path.exists() else 0.0
    atomic.write_text(path, f"{previous + seconds:.1f}\n")

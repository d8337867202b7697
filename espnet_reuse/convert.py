"""Convert a trained experiment into its reuse form (``conformer`` into ``conformer_reuse``,
``e_branchformer`` into ``e_branchformer_reuse``, and so on: ``encoder.families``).

Reuse layers have no Q, K or positional projections, so converting drops those
parameters of every layer that is not the first of its group (and of every layer
of an input-independent group); everything else is copied unchanged. A reuse
layer's map adaptation (``reuse_head_mixing``, ``reuse_score_rank``) starts from its
initialisation, the identity, so the converted model computes what plain reuse does. Learned
input-independent maps start from their configured initialisation, or from the
offset profiles an attention analysis of the trained model measured. The result
is loaded with ``strict=True`` into a model built from the new config, so a
mismatch is an error, never silently ignored (ESPnet's own inference loads with
``strict=False``).
"""

import copy
import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import yaml

from espnet_reuse import safe_load
from espnet_reuse.encoder.families import reuse_encoder_name
from espnet_reuse.encoder.reuse_groups import ADAPTATION_OPTIONS, group_starts
from espnet_reuse.registration import asr_task

StateDict = Dict[str, torch.Tensor]
NEW_PARAMETERS = ("learned_maps", "head_mixing", "score_correction")


def select_parameters(
    state_dict: StateDict, target_keys: Iterable[str], fill: Optional[StateDict] = None
) -> Tuple[StateDict, List[str]]:
    """Keep the entries ``target_keys`` names; return them and the dropped names.

    Target keys missing from ``state_dict`` are taken from ``fill`` (new
    parameters with their initial values); any other missing key is a
    ``KeyError`` naming every one of them.
    """
    target = list(target_keys)
    fill = fill or {}
    state_dict = {**{k: v for k, v in fill.items() if k not in state_dict}, **state_dict}
    missing = [key for key in target if key not in state_dict]
    if missing:
        raise KeyError(
            f"the checkpoint lacks {len(missing)} parameters the new layout needs: "
            + ", ".join(missing)
        )
    wanted = set(target)
    dropped = [key for key in state_dict if key not in wanted]
    return {key: state_dict[key] for key in target}, dropped


def is_new_parameter(name: str) -> bool:
    """Whether ``name`` is a parameter ESPnet's encoders lack (a learned map, a reuse
    layer's map adaptation), which a conversion takes from its initialisation."""
    return any(f".{part}." in name for part in NEW_PARAMETERS)


def reuse_config(
    config: Dict[str, Any],
    reuse_groups: Sequence[int],
    learned_map_groups: Sequence[int] = (),
    adaptation: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """The training config with its encoder's reuse form, the new layout and the reuse
    layers' map ``adaptation`` (``reuse_head_mixing``, ``reuse_score_rank``)."""
    converted = copy.deepcopy(config)
    converted["encoder"] = reuse_encoder_name(str(config.get("encoder")))
    converted.setdefault("encoder_conf", {})
    converted["encoder_conf"]["reuse_groups"] = list(reuse_groups)
    if learned_map_groups:
        converted["encoder_conf"]["learned_map_groups"] = list(learned_map_groups)
    unknown = set(adaptation or {}) - set(ADAPTATION_OPTIONS)
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not map adaptation options {ADAPTATION_OPTIONS}")
    converted["encoder_conf"].update(adaptation or {})
    return converted


def init_from_profiles(encoder: torch.nn.Module, summary_file: Path) -> List[str]:
    """Set each learned map from the profile of its group's first layer in the analysed model.

    ``summary_file`` is the ``summary.json`` of ``analyze_attention`` run on the
    trained model. Returns the names of the maps set.
    """
    summary = json.loads(Path(summary_file).read_text())["offset_profile"]
    profiles = torch.tensor(summary["per_layer_head"])
    done = []
    for group, learned in encoder.learned_maps.items():
        if learned.max_offset != summary["max_offset"]:
            raise ValueError(
                f"{summary_file} measured offsets up to {summary['max_offset']}, but "
                f"learned_map_max_offset is {learned.max_offset}"
            )
        first_layer = group_starts(encoder.reuse_groups)[int(group)]
        learned.set_from_profile(profiles[first_layer])
        done.append(f"encoder.learned_maps.{group}.logits (from layer {first_layer + 1})")
    return done


def convert_experiment(
    config_file: Path,
    model_file: Path,
    reuse_groups: Sequence[int],
    out_dir: Path,
    learned_map_groups: Sequence[int] = (),
    learned_map_profiles: Optional[Path] = None,
    adaptation: Optional[Dict[str, Any]] = None,
) -> Tuple[List[str], List[str]]:
    """Write ``out_dir/config.yaml`` and ``out_dir/<model_file name>``.

    Returns the names of the dropped parameters and of the new parameters (learned
    maps, map adaptations) that were initialised.
    """
    with open(config_file, encoding="utf-8") as f:
        config = reuse_config(yaml.safe_load(f), reuse_groups, learned_map_groups, adaptation)
    out_dir.mkdir(parents=True, exist_ok=True)
    new_config_file = out_dir / "config.yaml"
    with open(new_config_file, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False, allow_unicode=True)

    model, _ = asr_task().build_model_from_file(new_config_file, None, "cpu")
    state_dict = safe_load.load(model_file)
    initial = {k: v for k, v in model.state_dict().items() if is_new_parameter(k)}
    converted, dropped = select_parameters(state_dict, model.state_dict().keys(), initial)
    model.load_state_dict(converted, strict=True)
    learned_init = config["encoder_conf"].get("learned_map_init", "patterns")
    initialised = [
        f"{k} ({learned_init if '.learned_maps.' in k else 'identity'})" for k in initial
    ]
    if learned_map_profiles is not None:
        initialised = init_from_profiles(model.encoder, learned_map_profiles)
    torch.save(model.state_dict(), out_dir / Path(model_file).name)
    return dropped, initialised

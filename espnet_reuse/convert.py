"""Convert a trained ``encoder: conformer`` experiment into ``conformer_reuse``.

Reuse layers have no Q, K or positional projections, so converting drops those
parameters of every layer that is not the first of its group; everything else is
copied unchanged. The result is loaded with ``strict=True`` into a model built
from the new config, so a mismatch is an error, never silently ignored (ESPnet's
own inference loads with ``strict=False``).
"""

import copy
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import torch
import yaml

from espnet_reuse.registration import ENCODER_NAME

StateDict = Dict[str, torch.Tensor]
REUSABLE_ENCODERS = ("conformer", ENCODER_NAME)


def select_parameters(
    state_dict: StateDict, target_keys: Iterable[str]
) -> Tuple[StateDict, List[str]]:
    """Keep the entries ``target_keys`` names; return them and the dropped names.

    Raises ``KeyError`` naming every target key the state dict lacks.
    """
    target = list(target_keys)
    missing = [key for key in target if key not in state_dict]
    if missing:
        raise KeyError(
            f"the checkpoint lacks {len(missing)} parameters the new layout needs: "
            + ", ".join(missing)
        )
    wanted = set(target)
    dropped = [key for key in state_dict if key not in wanted]
    return {key: state_dict[key] for key in target}, dropped


def reuse_config(config: Dict[str, Any], reuse_groups: Sequence[int]) -> Dict[str, Any]:
    """The training config with ``encoder: conformer_reuse`` and ``reuse_groups``."""
    encoder = config.get("encoder")
    if encoder not in REUSABLE_ENCODERS:
        raise ValueError(
            f"encoder is {encoder!r}; only {' or '.join(REUSABLE_ENCODERS)} "
            "experiments can be converted"
        )
    converted = copy.deepcopy(config)
    converted["encoder"] = ENCODER_NAME
    converted.setdefault("encoder_conf", {})
    converted["encoder_conf"]["reuse_groups"] = list(reuse_groups)
    return converted


def convert_experiment(
    config_file: Path,
    model_file: Path,
    reuse_groups: Sequence[int],
    out_dir: Path,
) -> List[str]:
    """Write ``out_dir/config.yaml`` and ``out_dir/<model_file name>``.

    Returns the names of the dropped parameters.
    """
    from espnet2.tasks.asr import ASRTask

    with open(config_file, encoding="utf-8") as f:
        config = reuse_config(yaml.safe_load(f), reuse_groups)
    out_dir.mkdir(parents=True, exist_ok=True)
    new_config_file = out_dir / "config.yaml"
    with open(new_config_file, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False, allow_unicode=True)

    model, _ = ASRTask.build_model_from_file(new_config_file, None, "cpu")
    state_dict = torch.load(model_file, map_location="cpu", weights_only=False)
    converted, dropped = select_parameters(state_dict, model.state_dict().keys())
    model.load_state_dict(converted, strict=True)
    torch.save(converted, out_dir / Path(model_file).name)
    return dropped

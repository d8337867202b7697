"""The ESPnet encoders with a reuse form, and the names the reuse forms are registered under.

Each reuse encoder is ESPnet's encoder with the reuse options added
(``reuse.ReuseEncoder``), registered as ESPnet's name with ``_reuse`` appended.
"""

import inspect
from typing import Dict, Tuple

from espnet_reuse.encoder.branchformer_reuse_encoder import BranchformerReuseEncoder
from espnet_reuse.encoder.conformer_reuse_encoder import ConformerReuseEncoder
from espnet_reuse.encoder.e_branchformer_reuse_encoder import EBranchformerReuseEncoder
from espnet_reuse.encoder.transformer_reuse_encoder import TransformerReuseEncoder
from espnet_reuse.espnet_api import (
    BranchformerEncoder,
    ConformerEncoder,
    EBranchformerEncoder,
    TransformerEncoder,
)

# ESPnet's encoder name -> (ESPnet's class, its reuse form)
FAMILIES: Dict[str, Tuple[type, type]] = {
    "conformer": (ConformerEncoder, ConformerReuseEncoder),
    "e_branchformer": (EBranchformerEncoder, EBranchformerReuseEncoder),
    "branchformer": (BranchformerEncoder, BranchformerReuseEncoder),
    "transformer": (TransformerEncoder, TransformerReuseEncoder),
}
REUSE_SUFFIX = "_reuse"


def reuse_encoder_name(encoder: str) -> str:
    """The registered reuse form of ESPnet's ``encoder`` (a reuse name maps to itself)."""
    family = encoder.removesuffix(REUSE_SUFFIX)
    if family not in FAMILIES:
        names = ", ".join(f"{f}, {f}{REUSE_SUFFIX}" for f in FAMILIES)
        raise ValueError(f"encoder is {encoder!r}; attention map reuse is available for {names}")
    return family + REUSE_SUFFIX


def num_blocks(encoder: str, encoder_conf: dict) -> int:
    """The layers of an ``encoder`` (a family or its reuse name) built from ``encoder_conf``
    (ESPnet's default where the config leaves ``num_blocks`` out)."""
    if "num_blocks" in encoder_conf:
        return int(encoder_conf["num_blocks"])
    espnet_class = FAMILIES[encoder.removesuffix(REUSE_SUFFIX)][0]
    return inspect.signature(espnet_class.__init__).parameters["num_blocks"].default

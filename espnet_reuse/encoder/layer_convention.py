"""How each ESPnet encoder family's layer is read: declared once per family.

Reuse works on ESPnet's own layers through hooks (``shared_map``, ``padding``), so it
must know, for each family, where a layer keeps its self-attention module and the
LayerNorm before it, and which of the layer's call arguments are the input and the
mask. ``LAYER_CONVENTIONS`` states that for every family with a reuse form, keyed by
ESPnet's encoder class; ``layer_convention(encoder)`` finds it (a reuse encoder is a
subclass of its ESPnet class) and checks every layer against it, so a family whose
layers do not match its declaration is an error naming the attribute, never a silent
miss.
"""

import inspect
from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Union

import torch

from espnet_reuse.espnet_api import (
    BranchformerEncoder,
    ConformerEncoder,
    EBranchformerEncoder,
    TransformerEncoder,
)

LayerInput = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]  # x, or (x, pos_emb)


@dataclass(frozen=True)
class LayerConvention:
    """One family's encoder layer, as its forward reads it.

    Attributes:
        attention: attribute holding the self-attention module (``None`` on a layer
            without one, e.g. a Branchformer layer with ``use_attn: false``).
        norm: attribute holding the LayerNorm applied before the attention when
            the layer normalises first (``normalize_before``, else always); only a
            layer with attention needs it.
        input_arg: name of the layer's first call argument: the input ``x``
            (B, T, D), or ``(x, pos_emb)`` with relative positions.
        mask_arg: name of the second: the mask (B, 1, T).
    """

    attention: str
    norm: str
    input_arg: str
    mask_arg: str = "mask"

    def attention_of(self, layer: torch.nn.Module) -> Optional[torch.nn.Module]:
        """The layer's self-attention module (``None`` when it has none)."""
        return getattr(layer, self.attention)

    def set_attention(self, layer: torch.nn.Module, attention: torch.nn.Module) -> None:
        """Replace the layer's self-attention module, under the same name."""
        setattr(layer, self.attention, attention)

    def normalised_input(self, layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, T, D) as the attention branch sees it (after the norm, if first)."""
        if getattr(layer, "normalize_before", True):
            return getattr(layer, self.norm)(x)
        return x

    def call_arguments(
        self, args: tuple, kwargs: dict
    ) -> Tuple[LayerInput, Optional[torch.Tensor]]:
        """The input and the mask of one call of the layer (a forward pre-hook's
        ``args`` and ``kwargs``)."""
        x_input = args[0] if args else kwargs[self.input_arg]
        mask = args[1] if len(args) > 1 else kwargs.get(self.mask_arg)
        return x_input, mask

    def check(self, layer: torch.nn.Module, where: str) -> None:
        """A ``TypeError`` naming what ``layer`` lacks of this declaration."""
        # a layer without attention (None) needs no norm before it
        roles = [("attention", self.attention)]
        if getattr(layer, self.attention, None) is not None:
            roles.append(("norm", self.norm))
        for role, name in roles:
            if not hasattr(layer, name):
                raise TypeError(
                    f"{where} ({type(layer).__name__}) has no {name!r}, the {role} attribute "
                    "its family declares (encoder.layer_convention.LAYER_CONVENTIONS)"
                )
        arguments = list(inspect.signature(layer.forward).parameters)[:2]
        if arguments != [self.input_arg, self.mask_arg]:
            raise TypeError(
                f"{where} ({type(layer).__name__}) is called with {arguments}, but its family "
                f"declares ({self.input_arg}, {self.mask_arg}) "
                "(encoder.layer_convention.LAYER_CONVENTIONS)"
            )


# ESPnet's encoder class -> the convention of its layers
LAYER_CONVENTIONS: Dict[type, LayerConvention] = {
    ConformerEncoder: LayerConvention("self_attn", "norm_mha", "x_input"),
    EBranchformerEncoder: LayerConvention("attn", "norm_mha", "x_input"),
    BranchformerEncoder: LayerConvention("attn", "norm_mha", "x_input"),
    TransformerEncoder: LayerConvention("self_attn", "norm1", "x"),
}


def layer_convention(encoder: torch.nn.Module) -> LayerConvention:
    """The declared convention of ``encoder``'s layers, checked on every layer."""
    family = next((c for c in LAYER_CONVENTIONS if isinstance(encoder, c)), None)
    if family is None:
        names = ", ".join(c.__name__ for c in LAYER_CONVENTIONS)
        raise TypeError(
            f"{type(encoder).__name__} declares no layer convention; reuse and batch-invariant "
            f"encoding know {names} (encoder.layer_convention.LAYER_CONVENTIONS)"
        )
    convention = LAYER_CONVENTIONS[family]
    for idx, layer in enumerate(encoder.encoders):
        convention.check(layer, f"layer {idx} of {type(encoder).__name__}")
    return convention

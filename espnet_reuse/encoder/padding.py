"""Batch-invariant encoding: padding in a batch must not change any utterance's output.

ESPnet's encoders let padding leak into the shorter utterances of a batch:

- **Lengths.** ``Conv2dSubsampling`` derives its output mask by slicing the padded
  input mask (``mask[:, :, :-2:2][:, :, :-2:2]``), so a shorter utterance in a
  padded batch keeps up to 2 more frames than when encoded alone; they are made
  from padding and attended to as valid keys.
- **Convolution.** No convolution over time is masked: the Conformer's convolution
  module, the E-Branchformer's and Branchformer's cgMLP (its spatial gating unit)
  and the E-Branchformer's merge module each have a depthwise convolution that mixes
  padded frames into the last frames of every shorter utterance (the attention
  branch's output at padded frames is not zero).
- **Features.** A batched STFT (``center=True``) reflects the *batch* at its end,
  so the last frames of a shorter utterance see padding instead of its own
  reflection.

``make_batch_invariant(encoder)`` (what the ``mask_padding`` option does) fixes the
first two with hooks, without touching parameters:
the subsampling's output mask is rebuilt from each utterance's true length (its
convolutions' length arithmetic), and the input of every depthwise convolution
in a layer is zeroed at padded frames, as wenet and icefall mask their convolution
modules.
An unpadded batch is unchanged, bit for bit. BatchNorm in training still takes
statistics over all frames, padded ones included. ``encode_batch`` fixes the third
by running the frontend one utterance at a time.
"""

from functools import partial
from typing import Dict, List, Optional, Tuple

import torch
from torch.utils.hooks import RemovableHandle

from espnet_reuse.encoder.layer_convention import LayerConvention, layer_convention
from espnet_reuse.espnet_api import extract_features, pad_list


def subsampled_lengths(embed: torch.nn.Module, lengths: torch.Tensor) -> torch.Tensor:
    """Frames each utterance has after ``embed`` when encoded alone.

    Applies ``L' = (L + 2p - d (k - 1) - 1) // s + 1`` for the time axis of every
    convolution of ``embed`` in order (ESPnet's convolutional subsamplings put
    time first in their kernels); an embedding without convolutions keeps ``L``.
    """
    for module in embed.modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d)):
            kernel, stride = module.kernel_size[0], module.stride[0]
            padding, dilation = module.padding[0], module.dilation[0]
            lengths = (lengths + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    return lengths


def _true_length_mask(embed, inputs, output):
    """Forward hook of ``embed``: its output mask from the true lengths."""
    if len(inputs) < 2 or inputs[1] is None or not isinstance(output, tuple):
        return output
    x, mask = output
    frames = (x[0] if isinstance(x, tuple) else x).size(1)
    lengths = subsampled_lengths(embed, inputs[1].sum(dim=-1).squeeze(-1)).clamp(0, frames)
    positions = torch.arange(frames, device=mask.device)
    return x, (positions[None, :] < lengths[:, None]).unsqueeze(1)


def depthwise_convolutions(layer: torch.nn.Module) -> Dict[str, torch.nn.Conv1d]:
    """The convolutions of ``layer`` that mix neighbouring frames channel by channel
    (``Conv1d`` over (B, C, T), kernel wider than one, a group per channel), by name."""
    return {
        name: m
        for name, m in layer.named_modules()
        if isinstance(m, torch.nn.Conv1d) and m.kernel_size[0] > 1 and m.groups == m.in_channels
    }


def _keep_layer_mask(
    layer, args, kwargs, convolutions: Tuple[str, ...], convention: LayerConvention
):
    """Forward pre-hook (``with_kwargs=True``) of a layer: hand its (B, 1, T) mask (the
    argument its family's ``convention`` names) to its depthwise convolutions
    (``convolutions``: their names in the layer) as ``padding_mask``, for this one call
    of the layer (``_drop_layer_mask`` clears it). Names, not modules, so that a replica
    of the layer (``DataParallel``) sets its own convolutions'."""
    _, mask = convention.call_arguments(args, kwargs)
    for name in convolutions:
        layer.get_submodule(name).padding_mask = mask


def _drop_layer_mask(layer, inputs, output, convolutions: Tuple[str, ...]):
    for name in convolutions:
        layer.get_submodule(name).padding_mask = None


def _zero_padded_frames(conv, inputs):
    """Forward pre-hook of a depthwise convolution: zero its (B, C, T) input at padding."""
    mask: Optional[torch.Tensor] = getattr(conv, "padding_mask", None)
    x = inputs[0]
    if mask is None or mask.size(-1) != x.size(-1):
        return None
    return (x.masked_fill(~mask, 0.0),) + tuple(inputs[1:])


def is_batch_invariant(encoder: torch.nn.Module) -> bool:
    """Whether ``make_batch_invariant``'s hooks are on ``encoder``."""
    return any(hook is _true_length_mask for hook in encoder.embed._forward_hooks.values())


def make_batch_invariant(encoder: torch.nn.Module) -> List[RemovableHandle]:
    """Make an ESPnet encoder batch-invariant, in place (an encoder that is already
    is left as it is: no handles).

    Works on the encoders whose layers declare their convention
    (``layer_convention``: ESPnet's Conformer, E-Branchformer, Branchformer and
    Transformer, and their reuse forms). Returns the hook handles; ``handle.remove()``
    restores ESPnet's behaviour.
    """
    if is_batch_invariant(encoder):
        return []
    convention = layer_convention(encoder)
    handles = [encoder.embed.register_forward_hook(_true_length_mask)]
    for layer in encoder.encoders:
        convolutions = depthwise_convolutions(layer)
        if not convolutions:
            continue
        names = tuple(convolutions)
        handles += [
            layer.register_forward_pre_hook(
                partial(_keep_layer_mask, convolutions=names, convention=convention),
                with_kwargs=True,
            ),
            layer.register_forward_hook(partial(_drop_layer_mask, convolutions=names)),
        ]
        handles += [
            conv.register_forward_pre_hook(_zero_padded_frames) for conv in convolutions.values()
        ]
    return handles


def features_one_by_one(
    model: torch.nn.Module, speech: torch.Tensor, lengths: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The frontend features (B, T, D) of each utterance computed alone, zero-padded.

    The lengths come to the host twice per batch (samples, then frames), not once
    per utterance.
    """
    feats = [
        extract_features(model, speech[i : i + 1, :n], lengths[i : i + 1])
        for i, n in enumerate(lengths.tolist())
    ]
    feat_lengths = torch.cat([n for _, n in feats])
    frames = feat_lengths.tolist()
    return pad_list([f[0, :n] for (f, _), n in zip(feats, frames)], 0.0), feat_lengths


def encode_batch(
    model: torch.nn.Module, speech: torch.Tensor, lengths: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``model.encode`` (ESPnet's ASR model) with features made one utterance at a time.

    With ``make_batch_invariant(model.encoder)`` applied, each utterance's encoder output
    and length equal those of encoding it alone, to float tolerance.
    """
    if model.frontend is None:
        return model.encode(speech, lengths)
    feats, feat_lengths = features_one_by_one(model, speech, lengths)
    frontend = model.frontend
    model.frontend = None  # for this call only: ESPnet's encode takes the features as given
    try:
        return model.encode(feats, feat_lengths)
    finally:
        model.frontend = frontend

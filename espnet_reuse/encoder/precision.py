"""Attention maps under mixed precision: one map in the compute dtype, finite masks.

CUDA's autocast runs ``softmax`` in float32 while matmuls run in bfloat16 or
float16, so a map used by ``torch.matmul(attn, v)`` is cast down by every matmul
that reads it, and each cast is a new (batch, head, time1, time2) tensor kept
for backward. A shared map read by every layer of its group would be copied
once per layer; ``in_compute_dtype`` casts it once, where it is made, so the group
reads (and autograd keeps) one copy. Without autocast it changes nothing.

Padding is masked by adding a large negative number to padded keys' scores.
ESPnet fills them with the dtype's minimum instead; adding that minimum to a
negative float16 score overflows to ``-inf``, and a row of ``-inf`` (an
utterance without any valid key) makes softmax return NaN. ``mask_bias``
uses half the minimum: still exactly zero probability after softmax, never
``-inf``.
"""

import torch


def compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    """The dtype autocast runs matmuls in on ``tensor``'s device, else ``tensor``'s own."""
    device = tensor.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return tensor.dtype


def in_compute_dtype(attn: torch.Tensor) -> torch.Tensor:
    """``attn`` (batch, head, time1, time2) in the dtype its matmuls run in (cast once)."""
    dtype = compute_dtype(attn)
    return attn if attn.dtype == dtype else attn.to(dtype)


def mask_bias(valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive bias (same shape as the boolean ``valid``): 0 at valid keys, a large
    finite negative number at padded ones."""
    bias = torch.zeros(valid.shape, dtype=dtype, device=valid.device)
    return bias.masked_fill_(~valid, torch.finfo(dtype).min / 2)

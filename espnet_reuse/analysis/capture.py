"""Run an ESPnet ASR encoder over a data directory and capture, per utterance,
every layer's attention maps and hidden states; one batch at a time, so memory
stays bounded by the batch, whatever the data set's size."""

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, List, Sequence

import torch

from espnet_reuse.decoding.inference import encoded_batches
from espnet_reuse.encoder.layer_convention import layer_convention


@dataclass
class UtteranceCapture:
    """What the encoder did with one utterance (padding cropped)."""

    utt: str
    maps: List[torch.Tensor]  # per layer (H, T, T)
    hidden: List[torch.Tensor]  # per layer (T, D)


@contextmanager
def pruned_heads(encoder: torch.nn.Module, heads: Sequence[tuple]):
    """Zero the attention output of ``(layer, head)`` pairs (before ``linear_out``)."""
    by_layer: Dict[int, List[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)
    handles = []
    for layer, chosen in by_layer.items():
        attention = layer_convention(encoder).attention_of(encoder.encoders[layer])
        keep = torch.ones(attention.h)
        keep[chosen] = 0.0
        scale = keep.repeat_interleave(attention.d_k)

        def zero_heads(module, inputs, scale=scale):
            return (inputs[0] * scale.to(inputs[0]),)

        handles.append(attention.linear_out.register_forward_pre_hook(zero_heads))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def layer_outputs(encoder: torch.nn.Module) -> Iterator[List[torch.Tensor]]:
    """A list that forward hooks fill with every layer's output (B, T, D), in order, as
    the encoder runs; the caller clears it between batches. The hooks are removed on exit."""
    outputs: List[torch.Tensor] = []

    def keep_output(module, inputs, output):
        x = output[0]
        outputs.append(x[0] if isinstance(x, tuple) else x)

    handles = [layer.register_forward_hook(keep_output) for layer in encoder.encoders]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def capture(
    model: torch.nn.Module,
    wav: Dict[str, str],
    lengths: Dict[str, int],
    batch_size: int,
    device: str,
) -> Iterator[UtteranceCapture]:
    """Yield one ``UtteranceCapture`` per utterance of ``wav``, longest first."""
    encoder = model.encoder
    convention = layer_convention(encoder)
    with layer_outputs(encoder) as hidden, torch.inference_mode():
        for batch in encoded_batches(model, wav, lengths, batch_size, device):
            maps = [convention.attention_of(layer).attn for layer in encoder.encoders]
            for b, utt in enumerate(batch.utts):
                n = int(batch.lengths[b])
                yield UtteranceCapture(
                    utt,
                    [m[b, :, :n, :n].float().cpu() for m in maps],
                    [h[b, :n].float().cpu() for h in hidden],
                )
            hidden.clear()  # the next batch's layers append anew

"""ESPnet's Whisper encoder whose layers share attention maps within groups.

The layout is the project's ``reuse_groups`` (``encoder.reuse_groups``): the first
block of a group computes its attention map, the other blocks of the group apply it
to their own values. Whisper's blocks are openai-whisper's ``ResidualAttentionBlock``
(attention ``attn``: ``query``, ``key`` without bias, ``value``, ``out``), not ESPnet's
layers, so the map's source and its users are Whisper's own here; the map travels
through the project's ``SharedMap`` (``encoder.shared_map``), one per group and call.

- a group's source keeps its parameters and computes its map on openai-whisper's
  explicit path (scaled ``q k^T``, softmax in float32), publishing it
  (``WhisperMapSource``); openai-whisper's fused path (``scaled_dot_product_attention``)
  keeps no map, so a source takes the explicit one, equal to float rounding;
- every other block of the group keeps only ``value`` and ``out`` and applies the
  group's map (``WhisperReuseAttention``): no ``query``, no ``key``, no softmax.

Without reuse (``reuse_groups`` None, or one block per group) nothing is replaced:
the encoder is ESPnet's, bit for bit.
"""

from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from typeguard import typechecked

from espnet_reuse import extras
from espnet_reuse.encoder.reuse_groups import check_reuse_groups, layer_groups, map_sources
from espnet_reuse.encoder.shared_map import SharedMap
from espnet_reuse.whisper.espnet_modules import LocalWhisperEncoder

extras.require("whisper")
from whisper.model import MultiHeadAttention  # noqa: E402


def _heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, D) to (B, H, T, D / H)."""
    return x.view(*x.shape[:2], n_head, -1).permute(0, 2, 1, 3)


class WhisperMapSource(MultiHeadAttention):
    """openai-whisper's self-attention (same parameters) on its explicit path, publishing
    its map (B, H, T, T) to its group's ``shared_map``."""

    shared_map: Optional[SharedMap] = None

    def qkv_attention(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """openai-whisper's ``qkv_attention`` without ``scaled_dot_product_attention``:
        q, k, v (B, T, D); returns (B, T, D) and the scores (B, H, T, T)."""
        n_ctx, n_state = q.shape[1:]
        scale = (n_state // self.n_head) ** -0.25
        q, k, v = (_heads(t, self.n_head) for t in (q, k, v))
        qk = (q * scale) @ (k * scale).transpose(-1, -2)
        if mask is not None:
            qk = qk + mask[:n_ctx, :n_ctx]
        qk = qk.float()
        w = F.softmax(qk, dim=-1).to(q.dtype)
        if self.shared_map is not None:
            self.shared_map.publish(w)
        return (w @ v).permute(0, 2, 1, 3).flatten(start_dim=2), qk.detach()


class WhisperReuseAttention(torch.nn.Module):
    """A reuse block's attention: Whisper's ``value`` and ``out`` projections applied
    with its group's map; called as openai-whisper's ``MultiHeadAttention``."""

    def __init__(self, attention: MultiHeadAttention) -> None:
        super().__init__()
        self.n_head = attention.n_head
        self.value = attention.value
        self.out = attention.out
        self.shared_map: Optional[SharedMap] = None

    def forward(
        self,
        x: torch.Tensor,
        xa: Optional[torch.Tensor] = None,
        mask: Optional[torch.Tensor] = None,
        kv_cache: Optional[dict] = None,
    ) -> Tuple[torch.Tensor, None]:
        """``out(A v(x))`` for x (B, T, D), A its group's map (B, H, T, T)."""
        attn = self.shared_map.get(x.size(1), None) if self.shared_map is not None else None
        if attn is None:
            raise RuntimeError("a Whisper reuse block ran without its group's map")
        context = attn @ _heads(self.value(x), self.n_head)
        return self.out(context.permute(0, 2, 1, 3).flatten(start_dim=2)), None


def share_maps(blocks: torch.nn.ModuleList, reuse_groups: List[int]) -> List[Tuple[int, int]]:
    """Give openai-whisper's ``blocks`` the checked layout ``reuse_groups``, in place;
    returns the (block, group) of every block that publishes or applies a map."""
    group_of = layer_groups(reuse_groups)
    users = []
    for idx, source in enumerate(map_sources(reuse_groups)):
        if reuse_groups[group_of[idx]] == 1:
            continue
        if source == idx:
            blocks[idx].attn.__class__ = WhisperMapSource
        else:
            blocks[idx].attn = WhisperReuseAttention(blocks[idx].attn)
        users.append((idx, group_of[idx]))
    return users


@contextmanager
def maps_shared(
    blocks: torch.nn.ModuleList, groups: int, users: List[Tuple[int, int]]
) -> Iterator[List[SharedMap]]:
    """One ``SharedMap`` per group on its ``users`` (``share_maps``) while inside; yields
    the maps, by group."""
    maps = [SharedMap() for _ in range(groups)]
    for idx, group in users:
        blocks[idx].attn.shared_map = maps[group]
    try:
        yield maps
    finally:
        for idx, _ in users:
            blocks[idx].attn.shared_map = None


class MapSharingAudioEncoder(torch.nn.Module):
    """openai-whisper's ``AudioEncoder`` with ``reuse_groups``, for openai-whisper's own
    decoding (``model.encoder = MapSharingAudioEncoder(model.encoder, [1, 2, 1])``)."""

    def __init__(self, encoder: torch.nn.Module, reuse_groups: List[int]) -> None:
        super().__init__()
        self.encoder = encoder
        self.reuse_groups = check_reuse_groups(reuse_groups, len(encoder.blocks))
        self.map_users = share_maps(encoder.blocks, self.reuse_groups)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """The encoder output (B, 1500, D) of log-mel features (B, n_mels, 3000)."""
        with maps_shared(self.encoder.blocks, len(self.reuse_groups), self.map_users):
            return self.encoder(mel)


class WhisperReuseEncoder(LocalWhisperEncoder):
    """ESPnet's Whisper encoder of ``whisper_checkpoint`` with ``reuse_groups`` (sizes of
    consecutive block groups summing to the blocks; default: no reuse); the other
    arguments are ESPnet's."""

    @typechecked
    def __init__(
        self,
        input_size: int = 1,
        dropout_rate: float = 0.0,
        whisper_checkpoint: str = "",
        use_specaug: bool = False,
        specaug_conf: Optional[dict] = None,
        do_pad_trim: bool = False,
        reuse_groups: Optional[List[int]] = None,
    ) -> None:
        super().__init__(
            input_size=input_size,
            dropout_rate=dropout_rate,
            whisper_checkpoint=whisper_checkpoint,
            use_specaug=use_specaug,
            specaug_conf=specaug_conf,
            do_pad_trim=do_pad_trim,
        )
        self.reuse_groups = check_reuse_groups(reuse_groups, len(self.encoders.blocks))
        self.map_users = share_maps(self.encoders.blocks, self.reuse_groups)

    def forward(self, *args, **kwargs):
        """ESPnet's Whisper encoding, each group's blocks sharing one map."""
        with maps_shared(self.encoders.blocks, len(self.reuse_groups), self.map_users):
            return super().forward(*args, **kwargs)

"""Attention map reuse for every ESPnet encoder whose layers hold a multi-head attention.

``ReuseEncoder`` is written once and mixed into thin registered classes, each an ESPnet
encoder with the reuse options added (``conformer_reuse``, ``e_branchformer_reuse``,
``branchformer_reuse``, ``transformer_reuse``). After ESPnet has built the encoder,
``setup_reuse`` turns it into its reuse form, in place and without new parameter
names, wherever ESPnet keeps the attention module (``self_attn`` or ``attn``):

- a group's first layer keeps its attention module's parameters and publishes its
  map to the group's ``SharedMap`` (``shared_map``: relative-position attention runs
  copy-free and publishes it itself, ``rel_position_attention``; ESPnet's other
  classes through a hook, ``shared_map.make_source``);
- every other layer of the group gets a ``SharedMapAttention`` that keeps only the
  V and output projections of ESPnet's module and applies the group's map;
- an input-independent group's layers all apply a ``LearnedRelativeMap``;
- the ``mask_padding`` option makes encoding batch-invariant
  (``padding.make_batch_invariant``).

``forward`` hands every group a fresh ``SharedMap`` for the call, through the
(layer, group) pairs ``setup_reuse`` installed, and takes it back afterwards, so no
map outlives the call that made it.
"""

import dataclasses
import inspect
from dataclasses import dataclass, fields
from functools import partial
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch.utils.hooks import RemovableHandle

from espnet_reuse.encoder.layer_convention import LayerConvention, layer_convention
from espnet_reuse.encoder.learned_map import LearnedRelativeMap
from espnet_reuse.encoder.padding import make_batch_invariant
from espnet_reuse.encoder.rel_position_attention import (
    FusedRelPositionAttention,
    StridedRelPositionAttention,
)
from espnet_reuse.encoder.reuse_groups import (
    check_reuse_groups,
    group_starts,
    layer_groups,
    map_sources,
)
from espnet_reuse.encoder.shared_map import SharedMap, make_source, map_if_source_skipped
from espnet_reuse.encoder.shared_map_attention import SharedMapAttention
from espnet_reuse.espnet_api import MultiHeadedAttention, RelPositionMultiHeadedAttention


@dataclass(frozen=True)
class ReuseOptions:
    """The options every reuse encoder adds to its ESPnet encoder, the one place they
    are documented; each family class builds them by name from its arguments, and
    ``checked`` validates them once, before anything is built.

    Attributes:
        reuse_groups: sizes of consecutive layer groups, summing to
            ``num_blocks`` (default: ``[1] * num_blocks``, no reuse). The first
            layer of a group computes its attention probabilities; each other
            layer projects only V, applies those probabilities (per head) and
            ``linear_out``. Gradients of every layer of a group flow into the
            map, hence into the map source's Q, K and positional projections.
        learned_map_groups: indices (from 0) of groups whose map is
            input-independent: per head, learned logits over relative offsets
            (``espnet_reuse.encoder.learned_map``); every layer of such a group,
            the first included, projects only V.
        learned_map_max_offset: largest relative offset with its own logit;
            farther keys share the edge logit.
        learned_map_init: ``patterns`` (identity, previous, next, left,
            right, global, head by head) or ``uniform``.
        mask_padding: in training and inference, take the output lengths and
            masks from each utterance's true length and zero padded frames at
            the input of every depthwise convolution
            (``espnet_reuse.encoder.padding``), so that padding never reaches an
            utterance's frames (BatchNorm's training statistics aside). Off by
            default: ESPnet's encoders let padding leak, and off keeps them
            bitwise. No parameters change, so checkpoints load either way.
        fused_attention: layers whose map no other layer reuses (single-layer
            groups) run relative-position attention through PyTorch's fused
            ``scaled_dot_product_attention`` (``FusedRelPositionAttention``,
            equal to ESPnet's to float tolerance). Their ``.attn`` is then
            ``None``, so attention plots and the analysis see no map there; a
            shared map is always computed explicitly. Off by default: on CPU
            the fused and the strided path are equally fast (docs/speed.md).
        reuse_head_mixing: each reuse layer mixes its group's H heads with a
            learned H x H matrix whose rows are distributions
            (``map_adaptation.HeadMixing``; the identity at initialisation).
        reuse_score_rank: 0 (off), or the rank r of a query-key correction of
            each reuse layer's own that reweights its group's map and renormalises
            it (``map_adaptation.ScoreCorrection``; no correction at
            initialisation).
    """

    reuse_groups: Optional[Sequence[int]] = None
    learned_map_groups: Sequence[int] = ()
    learned_map_max_offset: int = 64
    learned_map_init: str = "patterns"
    mask_padding: bool = False
    fused_attention: bool = False
    reuse_head_mixing: bool = False
    reuse_score_rank: int = 0

    def checked(self, num_blocks: int) -> "ReuseOptions":
        """These options with ``reuse_groups`` as the checked list of group sizes for
        ``num_blocks`` layers; a ``ValueError`` names the bad key."""
        groups = check_reuse_groups(self.reuse_groups, num_blocks)
        if isinstance(self.reuse_score_rank, bool) or self.reuse_score_rank < 0:
            raise ValueError(
                f"reuse_score_rank must be 0 (off) or a positive rank, not {self.reuse_score_rank}"
            )
        learned = list(self.learned_map_groups)
        if any(not 0 <= g < len(groups) for g in learned) or len(set(learned)) != len(learned):
            raise ValueError(
                f"learned_map_groups {learned} must name distinct groups "
                f"0..{len(groups) - 1} of reuse_groups {groups}"
            )
        return dataclasses.replace(self, reuse_groups=groups, learned_map_groups=learned)

    def sharing_layers(self) -> List[int]:
        """Layers (from 0) whose attention map is shared or learned, not their own
        (checked options)."""
        groups = self.reuse_groups
        return [
            layer
            for layer, g in enumerate(layer_groups(groups))
            if groups[g] > 1 or g in self.learned_map_groups
        ]


REUSE_OPTION_NAMES = tuple(f.name for f in fields(ReuseOptions))


def espnet_arguments(espnet_class: type, arguments: Dict[str, Any]) -> Dict[str, Any]:
    """The arguments of ``espnet_class.__init__`` among a constructor's ``locals()`` (one
    it leaves out keeps ESPnet's default)."""
    names = inspect.signature(espnet_class.__init__).parameters
    return {name: arguments[name] for name in names if name != "self" and name in arguments}


class ReuseEncoder(torch.nn.Module):
    """Layer-wise attention map reuse, mixed in before an ESPnet encoder class.

    A family class (``conformer_reuse_encoder`` and its siblings) takes ESPnet's
    arguments and the reuse options (``ReuseOptions``, documented there), builds
    ``ReuseOptions`` by name, and calls ``build_reuse``; the options in force are
    kept in ``reuse_options``.

    Parameter names are ESPnet's; reuse layers simply lack ``linear_q``,
    ``linear_k``, ``linear_pos`` and ``pos_bias_u/v``. Layers that compute
    relative-position attention (``rel_pos_type: latest``) use
    ``StridedRelPositionAttention``, ESPnet's math without its copies. Groups of
    more than one layer, and learned groups, need an attention that makes a map
    (ESPnet's ``selfattn``, ``rel_selfattn`` or ``legacy_rel_selfattn``).
    """

    reuse_options: ReuseOptions  # checked
    map_sources: List[int]  # each layer's map source (index)
    group_index: List[int]  # each layer's group (index)
    convention: LayerConvention  # how this family's layers are read
    reuse_hooks: List[RemovableHandle]  # every hook setup_reuse registered
    map_users: List[Tuple[int, int]]  # (layer, its group) whose attention publishes or
    # applies a group's map; indices, so that a replica (DataParallel) reaches its own

    @property
    def reuse_groups(self) -> List[int]:
        """The checked layout: sizes of consecutive layer groups."""
        return list(self.reuse_options.reuse_groups)

    def build_reuse(
        self, espnet_class: type, arguments: Dict[str, Any], options: ReuseOptions
    ) -> None:
        """Build ESPnet's ``espnet_class`` from the reuse constructor's ``locals()`` (its
        arguments mirror ESPnet's, so that ESPnet's ``--print_config`` shows every
        default), then ``setup_reuse`` with ``options`` (checked before anything is
        built: ``ReuseOptions.checked``)."""
        espnet_class.__init__(self, **espnet_arguments(espnet_class, arguments))
        self.setup_reuse(options)

    def setup_reuse(self, options: ReuseOptions) -> None:
        """Turn the ESPnet encoder ``self`` (built) into its reuse form, in place, with
        checked ``options``; the hooks it registers are kept in ``reuse_hooks``.

        It leaves the global random generator as it found it (what it builds draws from
        a fork), so that a model built after it (the CTC head, the decoder) gets the same
        initial parameters as with ESPnet's encoder: training runs of a baseline and a
        reuse layout with one seed start from the same shared parameters.
        """
        with torch.random.fork_rng(devices=[]):
            self._setup_reuse(options)

    def _setup_reuse(self, options: ReuseOptions) -> None:
        groups = list(options.reuse_groups)
        assert sum(groups) == len(self.encoders), "options not checked for this encoder"
        self.reuse_options = options
        convention = self.convention = layer_convention(self)
        self.map_sources = map_sources(groups)
        self.group_index = layer_groups(groups)
        self.reuse_hooks = []
        self.map_users = []
        starts = group_starts(groups)
        self._check_attention(groups, options.sharing_layers())
        self.learned_maps = torch.nn.ModuleDict(
            {
                str(g): LearnedRelativeMap(
                    convention.attention_of(self.encoders[starts[g]]).h,
                    options.learned_map_max_offset,
                    options.learned_map_init,
                )
                for g in sorted(options.learned_map_groups)
            }
        )
        for idx, layer in enumerate(self.encoders):
            attention = convention.attention_of(layer)
            learned = str(self.group_index[idx]) in self.learned_maps
            if self.map_sources[idx] != idx or learned:
                reusing = SharedMapAttention.with_projections_of(
                    attention, options.reuse_head_mixing, options.reuse_score_rank
                )
                convention.set_attention(layer, reusing)
                self.map_users.append((idx, self.group_index[idx]))
                if not learned:
                    hook = partial(map_if_source_skipped, convention=convention)
                    self.reuse_hooks.append(layer.register_forward_pre_hook(hook, with_kwargs=True))
                continue
            if not isinstance(attention, MultiHeadedAttention):
                continue  # no map to reuse (e.g. fast_selfattn) and none needed
            shared = groups[self.group_index[idx]] > 1
            if options.fused_attention and not shared:
                FusedRelPositionAttention.convert_in_place(attention)
            else:
                StridedRelPositionAttention.convert_in_place(attention)
            if shared:
                if not isinstance(attention, StridedRelPositionAttention):
                    self.reuse_hooks.append(make_source(attention))  # ESPnet's class
                self.map_users.append((idx, self.group_index[idx]))
        if options.mask_padding:
            self.reuse_hooks += make_batch_invariant(self)

    def remove_reuse(self) -> None:
        """ESPnet's encoder again, in place: every hook of ``setup_reuse`` removed and every
        attention module of ESPnet's class (bitwise ESPnet's outputs). Only a layout in
        which no layer reuses or learns a map: a reuse layer has no Q and K projections
        to go back to (``ValueError``)."""
        sharing = [
            idx
            for idx, layer in enumerate(self.encoders)
            if isinstance(self.convention.attention_of(layer), SharedMapAttention)
        ]
        if sharing:
            raise ValueError(
                f"layers {sharing} reuse a map (reuse_groups {self.reuse_groups}) and have no "
                "Q and K projections of their own: reuse cannot be removed from them"
            )
        for handle in self.reuse_hooks:
            handle.remove()
        self.reuse_hooks = []
        for layer in self.encoders:
            attention = self.convention.attention_of(layer)
            if isinstance(attention, (StridedRelPositionAttention, FusedRelPositionAttention)):
                attention.__class__ = RelPositionMultiHeadedAttention
        self.reuse_options = dataclasses.replace(
            self.reuse_options, mask_padding=False, fused_attention=False
        )

    def _check_attention(self, groups: List[int], sharing: Sequence[int]) -> None:
        """Every layer of a shared or learned group needs a multi-head attention."""
        for idx in sharing:
            attention = self.convention.attention_of(self.encoders[idx])
            if not isinstance(attention, MultiHeadedAttention):
                kind = "no attention" if attention is None else type(attention).__name__
                raise ValueError(
                    f"reuse_groups {groups}: layer {idx} has {kind}, which makes no "
                    "attention map to share; keep it in a group of its own, or use an "
                    "attention that makes one (selfattn, rel_selfattn, legacy_rel_selfattn)"
                )

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Encode as the ESPnet encoder does, sharing maps within groups."""
        self._attach_shared_maps()
        try:
            return super().forward(*args, **kwargs)
        finally:
            self._detach_shared_maps()

    def _attach_shared_maps(self) -> None:
        maps = [
            SharedMap(self.learned_maps[str(g)])
            if str(g) in self.learned_maps
            else SharedMap(source_layer=self.encoders[start])
            for g, start in enumerate(group_starts(self.reuse_groups))
        ]
        for idx, group in self.map_users:
            self.convention.attention_of(self.encoders[idx]).shared_map = maps[group]

    def _detach_shared_maps(self) -> None:
        for idx, _ in self.map_users:
            self.convention.attention_of(self.encoders[idx]).shared_map = None

"""The project's attention analysis on Whisper's encoder: per block and head, over
utterances of speech.

The same running sums as the Conformers' analysis (``analysis.accumulate``): CAD
curves, globalness, verticality and diagonality per head, the offset profiles behind
the head kinds, and the Jensen-Shannon divergence between blocks (head by index).
Because a trained model's heads are in no particular order across blocks, the blocks'
likeness is also measured with heads matched one to one (``heads.alignment``): each
pair of blocks' mean cosine similarity of maps by index (head h with head h) and
aligned. Maps are cut to each utterance's speech frames (Whisper pads every input to
30 seconds).
"""

from typing import Any, Dict, Iterable, List, Tuple

import numpy as np
import torch

from espnet_reuse.analysis.accumulate import AttentionStats
from espnet_reuse.analysis.capture import UtteranceCapture
from espnet_reuse.analysis.head_kinds import head_kinds
from espnet_reuse.whisper.heads import alignment, head_similarity, self_attention_maps


def block_similarity(maps: List[List[torch.Tensor]]) -> Tuple[np.ndarray, np.ndarray]:
    """Mean cosine similarity of every pair of blocks' maps, (L, L) by head index and
    (L, L) with heads aligned, from each utterance's maps (per block (H, T, T))."""
    blocks = len(maps[0])
    by_index, aligned = np.eye(blocks), np.eye(blocks)
    for a in range(blocks):
        for b in range(a + 1, blocks):
            similarity = head_similarity([utt[a] for utt in maps], [utt[b] for utt in maps])
            order = alignment(similarity)
            by_index[a, b] = by_index[b, a] = float(np.mean(np.diag(similarity)))
            matched = similarity[np.arange(len(order)), order]
            aligned[a, b] = aligned[b, a] = float(np.mean(matched))
    return by_index, aligned


def analyse(
    encoder: torch.nn.Module,
    utterances: Iterable[Tuple[str, torch.Tensor, int]],
    max_range: int = 20,
    max_offset: int = 64,
    similarity_utts: int = 40,
) -> Dict[str, Any]:
    """The analysis of openai-whisper's ``AudioEncoder`` over ``utterances`` (utt, log-mel
    (n_mels, 3000), speech frames of the encoder); the blocks' similarity from the first
    ``similarity_utts`` of them. Returns plain lists (JSON)."""
    stats = None
    kept: List[List[torch.Tensor]] = []
    for utt, mel, frames in utterances:
        maps = self_attention_maps(encoder, mel[None], frames)
        if stats is None:
            stats = AttentionStats(len(maps), maps[0].size(0), max_range, max_offset=max_offset)
        stats.add(UtteranceCapture(utt, maps, []))
        if len(kept) < similarity_utts:
            kept.append(maps)
    if stats is None:
        raise ValueError("no utterance to analyse")
    metrics = stats.mean_head_metrics()
    by_index, aligned = block_similarity(kept)
    return {
        "utterances": stats.utterances,
        "cad": stats.mean_cad().tolist(),
        "head_metrics": {name: values.tolist() for name, values in metrics.items()},
        "divergence": stats.mean_divergence().tolist(),
        "similarity_utterances": len(kept),
        "similarity_by_index": by_index.tolist(),
        "similarity_aligned": aligned.tolist(),
        "head_kinds": head_kinds(stats.mean_offset_profile(), metrics["verticality"]),
    }

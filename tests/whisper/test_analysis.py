"""The attention analysis of a Whisper encoder: blocks compared with heads by index and
aligned, and the whole analysis run on a tiny Whisper."""

import numpy as np
import pytest
import torch

from tiny_whisper import TINY

whisper = pytest.importorskip("whisper")
pytest.importorskip("sklearn")
from espnet_reuse.whisper.analysis import analyse, block_similarity  # noqa: E402


def random_maps(generator, heads=3, frames=7):
    return torch.rand(heads, frames, frames, generator=generator).softmax(-1)


def test_heads_in_another_order_are_found_alike_only_when_aligned():
    generator = torch.Generator().manual_seed(0)
    first = [random_maps(generator) for _ in range(2)]  # two utterances
    order = [2, 0, 1]
    maps = [[m, m[order], random_maps(generator)] for m in first]
    by_index, aligned = block_similarity(maps)
    assert aligned[0, 1] == pytest.approx(1.0)
    assert by_index[0, 1] < 0.99
    assert np.all(aligned >= by_index - 1e-12)  # the assignment is at least the diagonal
    assert np.allclose(np.diag(aligned), 1.0) and np.allclose(aligned, aligned.T)


def test_the_analysis_runs_on_a_tiny_whisper(tiny_checkpoint):
    model = whisper.load_model(str(tiny_checkpoint), device="cpu").eval()
    generator = torch.Generator().manual_seed(1)
    frames = 2 * TINY["n_audio_ctx"]
    utterances = [
        (f"u{i}", torch.randn(TINY["n_mels"], frames, generator=generator), speech)
        for i, speech in enumerate([12, 9, 5])
    ]
    result = analyse(model.encoder, utterances, max_range=3, max_offset=4, similarity_utts=2)
    blocks, heads = TINY["n_audio_layer"], TINY["n_audio_head"]
    assert result["utterances"] == 3 and result["similarity_utterances"] == 2
    cad = np.array(result["cad"])
    assert cad.shape == (blocks, 4) and np.all(np.diff(cad, axis=1) >= -1e-6)
    assert np.all((cad >= 0) & (cad <= 1 + 1e-6))
    assert np.array(result["head_metrics"]["globalness"]).shape == (blocks, heads)
    assert np.array(result["divergence"]).shape == (blocks, blocks)
    assert np.array(result["head_kinds"]["kind"]).shape == (blocks, heads)
    with pytest.raises(ValueError, match="no utterance"):
        analyse(model.encoder, [])

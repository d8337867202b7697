"""The GPU check's joint-search section: the batched joint CTC/attention beam search on
the device against ESPnet's own search, utterance by utterance, and both timed.

A random-weight hybrid model is enough to catch a wrong or slow path: a Transformer
decoder and a CTC head over random encoder outputs of 16 utterances of different
lengths, the CTC head made decisive so that hypotheses end as a trained model's do.
On CUDA the batched search runs under ``torch.cuda.set_sync_debug_mode("warn")`` and
its host synchronisations are counted against its steps.
"""

import time
import warnings
from typing import List, Tuple

import torch

from espnet_reuse import espnet_api
from espnet_reuse.decoding.attention_search import EspnetJointBeamSearch
from espnet_reuse.decoding.joint_search import BatchJointSearch


class HybridModel(torch.nn.Module):
    """What the joint searches read of an ESPnet hybrid ASR model: its attention decoder,
    CTC head, token list and ``<sos>``/``<eos>`` id."""

    def __init__(self, vocab: int, size: int, blocks: int) -> None:
        super().__init__()
        self.token_list = ["<blank>", "<unk>", *(f"t{i}" for i in range(vocab - 3)), "<sos/eos>"]
        self.sos = self.eos = vocab - 1
        self.decoder = espnet_api.TransformerDecoder(
            vocab, size, linear_units=4 * size, num_blocks=blocks, use_flash_attn=False
        )
        self.ctc = espnet_api.CTC(vocab, size)


def joint_search_checks(
    device: str, size: int = 256, blocks: int = 6, vocab: int = 500, beam_size: int = 10
) -> List[Tuple[str, bool, str]]:
    """Checks as (name, passed, detail): the batched search at batch 16 gives ESPnet's
    hypotheses, both timed; on CUDA, the batched search's host synchronisations."""
    torch.manual_seed(0)
    model = HybridModel(vocab, size, blocks).to(device).eval()
    with torch.no_grad():  # a decisive CTC head
        model.ctc.ctc_lo.weight.mul_(20)
    generator = torch.Generator().manual_seed(4)
    lengths = torch.randint(20, 120, (16,), generator=generator).sort(descending=True)[0]
    encoder_output = torch.randn(16, int(lengths[0]), size, generator=generator).to(device)
    lengths = lengths.to(device)
    batched = BatchJointSearch(model, beam_size, ctc_weight=0.3)
    espnet = EspnetJointBeamSearch(model, beam_size, ctc_weight=0.3)
    with torch.inference_mode():
        batched(encoder_output[:2], lengths[:2])  # warm-up
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if device.startswith("cuda"):
                torch.cuda.set_sync_debug_mode("warn")
            try:
                ours = batched(encoder_output, lengths)
            finally:
                if device.startswith("cuda"):
                    torch.cuda.set_sync_debug_mode("default")
        batched_seconds = time.perf_counter() - start
        start = time.perf_counter()
        theirs = espnet(encoder_output, lengths)
        espnet_seconds = time.perf_counter() - start
    same = sum(a.token_ids == b.token_ids for a, b in zip(ours, theirs))
    tokens = max(len(h.token_ids) for h in theirs)
    syncs = sum("synchroniz" in str(w.message) for w in caught)
    checks = [
        (
            f"joint search batch 16 = ESPnet's, utterance by utterance (beam {beam_size})",
            same == len(theirs) and tokens > 0,
            f"{same}/{len(theirs)} utterances with ESPnet's tokens (up to {tokens} tokens); "
            f"ESPnet {espnet_seconds:.2f} s, batched {batched_seconds:.2f} s "
            f"({espnet_seconds / batched_seconds:.1f}x)",
        )
    ]
    if device.startswith("cuda"):
        steps = tokens + 1  # at least: the longest hypothesis and its <eos>
        checks.append(
            (
                "joint search: host synchronisations a step",
                syncs <= 3 * steps,
                f"{syncs} synchronisations reported for at least {steps} steps",
            )
        )
    return checks

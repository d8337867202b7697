"""Whisper tiny.en's encoder at its 30-second window, with and without shared maps.

Every layout's encoder forward (openai-whisper's ``AudioEncoder``, log-mel input
(batch, 80, 3000), 1500 frames out) is timed in the same rounds as the unchanged
encoder, the layouts in a new random order each round (``time_interleaved``); the
speed-up is the median of the per-round ratios with its 95 % interval
(``Ratio.paired``). The unchanged encoder runs openai-whisper's fused attention
(``scaled_dot_product_attention``); a map source takes the explicit path, which keeps
its map, so "every block explicit" (each block its own group's source) is timed too:
the cost of keeping maps without sharing any. Each layout's FLOPs come from PyTorch's
flop counter, which does not count the fused attention: they compare only layouts
whose every block runs the explicit path or reuses a map (the second row, ``[2, 2]``
and ``[4]``).
The weights do not change the time, so the heads are not aligned here.

    python egs/librispeech_reuse/whisper_conversion/encoder_speed.py \\
        egs/librispeech_reuse/whisper_conversion/tiny_en_encoder_speed.json
"""

import argparse
import copy
import json
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch.utils.flop_counter import FlopCounterMode

from espnet_reuse.benchmark.measure import Ratio, time_interleaved
from espnet_reuse.benchmark.suite import processor_name
from espnet_reuse.whisper.convert import load_tiny_en
from espnet_reuse.whisper.reuse_encoder import MapSharingAudioEncoder, WhisperMapSource

LAYOUTS: Dict[str, Optional[List[int]]] = {  # None: the unchanged encoder
    "unchanged": None,
    "every block explicit": [1, 1, 1, 1],
    "[1, 2, 1]": [1, 2, 1],
    "[2, 1, 1]": [2, 1, 1],
    "[2, 2]": [2, 2],
    "[4]": [4],
}


def explicit(encoder: torch.nn.Module) -> torch.nn.Module:
    """``encoder`` with every block on the explicit attention path of a map source
    (keeping no map: no group shares one)."""
    for block in encoder.blocks:
        block.attn.__class__ = WhisperMapSource
    return encoder


def encoders(original: torch.nn.Module) -> Dict[str, torch.nn.Module]:
    """Each layout's encoder, built from copies of ``original``."""
    built = {}
    for name, groups in LAYOUTS.items():
        encoder = copy.deepcopy(original)
        if groups is None:
            built[name] = encoder
        elif max(groups) == 1:
            built[name] = explicit(encoder)
        else:
            built[name] = MapSharingAudioEncoder(encoder, groups)
    return built


def flops(encoder: torch.nn.Module, mel: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        encoder(mel)
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--batch", type=int, default=1, help="30-second windows per forward")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_tiny_en()
    built = encoders(model.encoder)
    mel = torch.randn(
        args.batch, model.dims.n_mels, 3000, generator=torch.Generator().manual_seed(0)
    )

    def step(encoder: torch.nn.Module):
        def run() -> None:
            with torch.inference_mode():
                encoder(mel)

        return run

    with torch.inference_mode():  # the layouts' outputs, to show what sharing changes
        reference = built["unchanged"](mel)
        difference = {n: float((e(mel) - reference).abs().max()) for n, e in built.items()}
    timings = time_interleaved(
        {name: step(e) for name, e in built.items()}, args.repeats, warmup=2, device="cpu"
    )
    rows = {}
    for name, encoder in built.items():
        ratio = Ratio.paired(timings["unchanged"], timings[name])
        rows[name] = {
            "groups": LAYOUTS[name],
            "seconds": timings[name].median,
            "speed_up": [ratio.median, ratio.low, ratio.high],
            "flops": flops(encoder, mel),
            "max_abs_difference": difference[name],
        }
        print(name, rows[name], flush=True)
    args.out.write_text(
        json.dumps(
            {
                "processor": processor_name(),
                "threads": args.threads,
                "batch": args.batch,
                "repeats": args.repeats,
                "layouts": rows,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()

"""Whisper tiny.en sharing attention maps without any training, on the recorded prompts.

Each layout's greedy WER (openai-whisper's decoding of the converted model) against the
unchanged model's, paired per utterance (bootstrap over utterances: one speaker).
"aligned": each reuse block's heads put in the order of its source's heads first
(``espnet_reuse.whisper.heads``: an assignment over the heads' mean cosine similarity of
maps, measured on the first ``--calibration`` utterances, which are then left out of the
scoring); "by index": head h applies its source's head h. Results are written after
each layout; a rerun skips the layouts already there.

    python egs/librispeech_reuse/whisper_conversion/reuse_without_training.py \\
        downloads/books_librispeech/LibriSpeech/test-real \\
        egs/librispeech_reuse/whisper_conversion/tiny_en_reuse_test_real.json
"""

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
import whisper

from espnet_reuse.bootstrap import bootstrap_wer
from espnet_reuse.corpus import text
from espnet_reuse.encoder.reuse_groups import group_starts, map_sources
from espnet_reuse.error_counts import align, utterance_errors, words
from espnet_reuse.whisper.convert import load_tiny_en
from espnet_reuse.whisper.heads import (
    alignment,
    head_similarity,
    permute_heads,
    self_attention_maps,
)
from espnet_reuse.whisper.reuse_encoder import MapSharingAudioEncoder
from espnet_reuse.whisper.speech import utterances

LAYOUTS = [
    ([1, 1, 1, 1], False),
    ([1, 2, 1], False),
    ([1, 2, 1], True),
    ([2, 1, 1], True),
    ([1, 1, 2], True),
    ([2, 2], True),
]


def aligned(model, groups, calibration):
    """``model`` with each reuse block's heads in the order of its source's."""
    maps = [
        self_attention_maps(model.encoder, mel[None], frames) for _, mel, frames, _ in calibration
    ]
    orders = {}
    for block, source in enumerate(map_sources(groups)):
        if source != block:
            similarity = head_similarity([m[source] for m in maps], [m[block] for m in maps])
            orders[block] = alignment(similarity)
            permute_heads(model.encoder.blocks[block].attn, orders[block])
    return orders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--calibration", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--max_tokens", type=int, default=224, help="per utterance (openai-whisper's default)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    original = load_tiny_en()
    data = list(utterances(args.part))
    calibration, scored = data[: args.calibration], data[args.calibration :]
    options = whisper.DecodingOptions(
        language="en", without_timestamps=True, fp16=False, sample_len=args.max_tokens
    )
    results = json.loads(args.out.read_text()) if args.out.exists() else {"layouts": {}}
    results.update(calibration=[u for u, *_ in calibration], scored=len(scored))
    for groups, align_heads in LAYOUTS:
        name = (
            f"{groups}{' aligned' if align_heads else ' by index'}"
            if max(groups) > 1
            else "unchanged"
        )
        if name in results["layouts"]:
            continue
        start = time.time()
        model = copy.deepcopy(original)
        orders = aligned(model, groups, calibration) if align_heads else {}
        model.encoder = MapSharingAudioEncoder(model.encoder, groups)
        hyps = {}
        with torch.no_grad():
            for utt, mel, _, _ in scored:
                spoken = whisper.decode(model, mel, options).text
                hyps[utt] = text.transcript(text.spoken_form(spoken))
        output = align([words(ref) for *_, ref in scored], [words(hyps[u]) for u, *_ in scored])
        errors, counts = (list(column) for column in zip(*utterance_errors(output)))
        record = {
            "groups": groups,
            "maps": len(group_starts(groups)),
            "heads_aligned": align_heads,
            "orders": orders,
            "wer": dataclasses.astuple(bootstrap_wer(np.array([errors]), np.array(counts))),
            "errors": dict(zip([u for u, *_ in scored], errors)),
            "words": dict(zip([u for u, *_ in scored], counts)),
            "hypotheses": hyps,
            "seconds": round(time.time() - start, 1),
        }
        base = results["layouts"].get("unchanged")
        if base is not None:
            base_errors = [base["errors"][u] for u, *_ in scored]
            record["difference"] = dataclasses.astuple(
                bootstrap_wer(np.array([errors]), np.array(counts), np.array([base_errors]))
            )
        results["layouts"][name] = record
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        print(name, record["wer"], record.get("difference"), record["seconds"], flush=True)


if __name__ == "__main__":
    main()

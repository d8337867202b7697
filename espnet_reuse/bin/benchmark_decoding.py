"""Real-time factor of CTC decoding: the recipe's decoders against ESPnet's Speech2Text.

Example::

    python -m espnet_reuse.bin.benchmark_decoding \\
        --asr_train_config exp/asr_x/config.yaml --asr_model_file exp/asr_x/valid.loss.ave.pth \\
        --data_dir dump/raw/test_clean --max_utts 40
"""

import argparse
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

from espnet_reuse.recipe.ctc_decode import (
    PrefixBeamSearch,
    encoded_batches,
    greedy_search,
    load_asr_model,
    load_batch,
)
from espnet_reuse.recipe.kaldi_data import read_num_samples, read_table


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--asr_train_config", type=Path, required=True)
    p.add_argument("--asr_model_file", type=Path, required=True)
    p.add_argument("--data_dir", type=Path, required=True)
    p.add_argument("--max_utts", type=int, default=40, help="0: all")
    p.add_argument("--beam_size", type=int, default=10)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--fs", type=int, default=16000)
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Decode the same utterances with each decoder and print RTFs as a Markdown table."""
    args = get_parser().parse_args(cmd)
    if args.threads:
        torch.set_num_threads(args.threads)
    wav = read_table(args.data_dir / "wav.scp")
    lengths = read_num_samples(args.data_dir, args.max_utts)
    audio_seconds = sum(lengths.values()) / args.fs
    model = load_asr_model(args.asr_train_config, args.asr_model_file, "cpu")
    beam = PrefixBeamSearch(model.token_list, args.beam_size)
    seconds: Dict[str, float] = {}

    def batched(name: str, search, batch_size: int) -> None:
        start = time.perf_counter()
        with torch.inference_mode():
            for _, enc, enc_lengths in encoded_batches(model, wav, lengths, batch_size, "cpu"):
                if search is not None:
                    search(model.ctc.log_softmax(enc), enc_lengths)
        seconds[name] = time.perf_counter() - start

    batched(f"encoder only (batch {args.batch_size})", None, args.batch_size)
    batched(f"greedy (batch {args.batch_size})", greedy_search, args.batch_size)
    batched(f"prefix beam {args.beam_size} (batch {args.batch_size})", beam, args.batch_size)
    batched("encoder only (batch 1)", None, 1)
    batched(f"prefix beam {args.beam_size} (batch 1)", beam, 1)

    from espnet_reuse.bin.asr_inference import Speech2Text

    speech2text = Speech2Text(
        str(args.asr_train_config), str(args.asr_model_file), device="cpu",
        ctc_weight=1.0, lm_weight=0.0, beam_size=args.beam_size, nbest=1,
    )  # fmt: skip
    start = time.perf_counter()
    for utt in sorted(lengths):
        speech, _ = load_batch(wav, [utt])
        speech2text(speech[0])
    seconds[f"ESPnet Speech2Text, ctc_weight 1.0, beam {args.beam_size} (batch 1)"] = (
        time.perf_counter() - start
    )

    print(f"{len(lengths)} utterances, {audio_seconds:.1f} s of audio, "
          f"{torch.get_num_threads()} CPU threads\n")  # fmt: skip
    print("|decoding|seconds|RTF|")
    print("|---|---|---|")
    for name, value in seconds.items():
        print(f"|{name}|{value:.2f}|{value / audio_seconds:.4f}|")


if __name__ == "__main__":
    main()

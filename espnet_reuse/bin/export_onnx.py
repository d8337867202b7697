"""Export a trained experiment's encoder and CTC head to ONNX, and check the export.

    python -m espnet_reuse.bin.export_onnx \\
        --asr_train_config exp/asr_x/config.yaml --asr_model_file exp/asr_x/valid.loss.ave.pth \\
        --out exp/asr_x/valid.loss.ave.onnx [--data_dirs dump/raw/test_clean ...]

Writes the graph (features in, CTC log-probabilities out: ``espnet_reuse.export.onnx_export``),
then compares ONNX Runtime with PyTorch on padded batches of lengths the export never
saw, lists what each layer's attention computes in the graph, and, with
``--data_dirs``, counts the utterances whose greedy CTC tokens differ. Exits 1 when a
check fails.
"""

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from espnet_reuse.extras import command_needs

command_needs("onnx")

from espnet_reuse import safe_load
from espnet_reuse.decoding.inference import load_asr_model
from espnet_reuse.export.onnx_check import check_export, differing_words
from espnet_reuse.export.onnx_export import export_onnx


def get_parser() -> argparse.ArgumentParser:
    """The command's options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--asr_train_config", type=Path, required=True, help="the experiment's config")
    p.add_argument("--asr_model_file", type=Path, required=True, help="its model (.pth)")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--data_dirs", type=Path, nargs="*", default=[], help="sets to compare words on")
    p.add_argument("--batch_size", type=int, default=16, help="batch of the word comparison")
    safe_load.add_trust_option(p)
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Export, check and print what was found."""
    args = get_parser().parse_args(cmd)
    safe_load.set_trusted(args.trust_model_file)
    model = load_asr_model(args.asr_train_config, args.asr_model_file, "cpu")
    export_onnx(model, args.out)
    check = check_export(model, args.out)
    print(f"wrote {args.out}")
    print("\n".join(check.report()))
    passed = check.passed
    for data_dir in args.data_dirs:
        differing, total = differing_words(model, args.out, data_dir, args.batch_size)
        print(f"{data_dir}: {differing} of {total} utterances differ in greedy CTC tokens")
        passed &= differing == 0
    if not passed:
        print("the export check FAILED", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

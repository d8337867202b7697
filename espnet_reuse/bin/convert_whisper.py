"""Convert Whisper's CTranslate2 files to openai-whisper's checkpoint (float32), which
``whisper.load_model`` and ESPnet's Whisper encoder and decoder load.

    python -m espnet_reuse.bin.convert_whisper exp/whisper/tiny_en.pt
    python -m espnet_reuse.bin.convert_whisper exp/whisper/base.pt --model_dir DIR

Without ``--model_dir`` it converts Whisper tiny.en from the ``reference`` extra.
"""

import argparse
from pathlib import Path
from typing import List, Optional

from espnet_reuse.extras import command_needs
from espnet_reuse.whisper.convert import convert, tiny_en_dir


def get_parser() -> argparse.ArgumentParser:
    """The command's options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("output", type=Path, help="the checkpoint to write")
    p.add_argument("--model_dir", type=Path, help="CTranslate2 files (model.bin)")
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Convert and print the model's dimensions."""
    args = get_parser().parse_args(cmd)
    model_dir = args.model_dir
    if model_dir is None:
        command_needs("reference")  # Whisper tiny.en's files come in that extra
        model_dir = tiny_en_dir()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    print(convert(model_dir, args.output))


if __name__ == "__main__":
    main()

"""Build a LibriSpeech-shaped corpus of book text read by several synthesizers, in rooms
and noise, with recorded prompts as ``test-real`` (``espnet_reuse.corpus``).

    python -m espnet_reuse.bin.make_corpus downloads/books_librispeech --corpus_size study

Prints what it built (hours, speakers per engine, words, vocabulary, conditions); a
second call finds the corpus built and a killed one resumes. ``./run.sh
--demo_corpus books`` builds the demo size in its stage 1.
"""

import argparse
from pathlib import Path
from typing import List, Optional

from espnet_reuse.extras import command_needs

command_needs("corpus")

from espnet_reuse.corpus.build import build_corpus
from espnet_reuse.corpus.plan import SIZES


def get_parser() -> argparse.ArgumentParser:
    """The command's options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=Path, help="output folder (LibriSpeech/ is made inside)")
    p.add_argument("--corpus_size", choices=list(SIZES), default="demo", help="how much")
    p.add_argument("--seed", type=int, default=0, help="speakers, conditions and sentences")
    p.add_argument("--nj", type=int, default=2, help="parallel processes")
    p.add_argument("--cache", type=Path, help="downloaded packages (default: ROOT/../corpus_cache)")
    return p


def main(cmd: Optional[List[str]] = None) -> None:
    """Build the corpus and print where it is."""
    args = get_parser().parse_args(cmd)
    print(build_corpus(args.root, args.corpus_size, args.seed, args.nj, args.cache))


if __name__ == "__main__":
    main()

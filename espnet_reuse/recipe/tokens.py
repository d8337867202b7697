"""Stage 5: ESPnet's token list (sentencepiece pieces or characters) and a lexicon.

The token list is ESPnet's: ``<blank>``, ``<unk>``, the units, ``<sos/eos>``. The
lexicon spells every training word in units, for the lexicon-constrained beam
search (characters are spelled without ``<space>``, which separates the words).
"""

import io
from collections import Counter
from pathlib import Path
from typing import List, Sequence

from espnet_reuse import atomic
from espnet_reuse.decoding.inference import SPACE
from espnet_reuse.kaldi_data import read_table

BLANK, UNK, SOS_EOS = "<blank>", "<unk>", "<sos/eos>"
LEXICON = "lexicon.txt"


def train_tokens(
    text_files: Sequence[Path],
    out_dir: Path,
    token_type: str = "bpe",
    nbpe: int = 5000,
    bpemode: str = "unigram",
    character_coverage: float = 1.0,
    input_sentence_size: int = 100_000_000,
) -> Path:
    """Write ``out_dir/{tokens.txt,lexicon.txt}`` (and ``bpe.model`` for ``bpe``)
    from Kaldi ``text`` files; return the token list."""
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = [t for f in text_files for t in read_table(f, allow_empty_values=True).values()]
    if token_type == "bpe":
        processor = _train_sentencepiece(
            texts, out_dir, nbpe, bpemode, character_coverage, input_sentence_size
        )
        units = [processor.id_to_piece(i) for i in range(1, processor.get_piece_size())]

        def spell(word: str) -> List[str]:
            return processor.encode(word, out_type=str)

    elif token_type == "char":
        counts = Counter(c for t in texts for c in " ".join(t.split()))
        units = [SPACE if c == " " else c for c, _ in counts.most_common()]  # as ESPnet orders
        spell = list
    else:
        raise ValueError(f"token_type must be bpe or char, got {token_type!r}")
    token_list = out_dir / "tokens.txt"
    atomic.write_text(token_list, "".join(f"{t}\n" for t in [BLANK, UNK, *units, SOS_EOS]))
    words = sorted({w for t in texts for w in t.split()})
    atomic.write_text(out_dir / LEXICON, "".join(f"{w} {' '.join(spell(w))}\n" for w in words))
    return token_list


def _train_sentencepiece(
    texts: List[str],
    out_dir: Path,
    nbpe: int,
    bpemode: str,
    character_coverage: float,
    input_sentence_size: int,
):
    """Train ``out_dir/bpe.model`` on ``texts``; return its processor."""
    import sentencepiece as spm

    sentences = out_dir / "train.txt"
    atomic.write_text(sentences, "".join(f"{t}\n" for t in texts))
    model = io.BytesIO()  # sentencepiece ignores write errors of its own model files
    spm.SentencePieceTrainer.train(
        input=str(sentences),
        model_writer=model,
        vocab_size=nbpe,
        model_type=bpemode,
        character_coverage=character_coverage,
        input_sentence_size=input_sentence_size,
        unk_id=0,
        bos_id=-1,
        eos_id=-1,
        minloglevel=2,
    )
    atomic.write_bytes(out_dir / "bpe.model", model.getvalue())
    return spm.SentencePieceProcessor(model_proto=model.getvalue())

"""Stage 5: a sentencepiece model and ESPnet's token list from the training text."""

from pathlib import Path

import sentencepiece as spm

from espnet_reuse.kaldi_data import read_table

BLANK, UNK, SOS_EOS = "<blank>", "<unk>", "<sos/eos>"
LEXICON = "lexicon.txt"


def train_tokens(text_file: Path, out_dir: Path, nbpe: int, bpemode: str) -> Path:
    """Write ``out_dir/{bpe.model,tokens.txt,lexicon.txt}``; return the token list.

    The token list is ESPnet's: ``<blank>``, ``<unk>``, the pieces, ``<sos/eos>``.
    The lexicon spells every word of the training text in pieces, for the
    lexicon-constrained beam search.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    sentences = out_dir / "train.txt"
    texts = list(read_table(text_file, allow_empty_values=True).values())
    sentences.write_text("".join(f"{t}\n" for t in texts))
    spm.SentencePieceTrainer.train(
        input=str(sentences),
        model_prefix=str(out_dir / "bpe"),
        vocab_size=nbpe,
        model_type=bpemode,
        character_coverage=1.0,
        input_sentence_size=100_000_000,
        unk_id=0,
        bos_id=-1,
        eos_id=-1,
        minloglevel=2,
    )
    processor = spm.SentencePieceProcessor(model_file=str(out_dir / "bpe.model"))
    pieces = [processor.id_to_piece(i) for i in range(1, processor.get_piece_size())]
    token_list = out_dir / "tokens.txt"
    token_list.write_text("".join(f"{t}\n" for t in [BLANK, UNK, *pieces, SOS_EOS]))
    words = sorted({w for t in texts for w in t.split()})
    (out_dir / LEXICON).write_text(
        "".join(f"{w} {' '.join(processor.encode(w, out_type=str))}\n" for w in words)
    )
    return token_list

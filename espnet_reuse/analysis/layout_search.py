"""Rank ``reuse_groups`` layouts by converting a trained baseline to each, without training.

Rule: convert the trained ``conformer`` to every candidate layout (every
composition of its ``L`` layers into ``k`` consecutive groups, ``C(L-1, k-1)`` of
them; a random sample where there are more than ``max_candidates``), encode a
development set with each converted model and rank the layouts by its mean CTC
loss per utterance (ties broken by greedy WER). A reuse layer then attends with
its group's first layer's map instead of its own, so the loss measures how much
each grouping hurts the trained model before any adaptation, where the
divergence rule (``espnet_reuse.analysis.layout``) only compares the maps.
"""

import itertools
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Sequence, Tuple

import torch
from tqdm import tqdm

from espnet_reuse.convert import convert_experiment
from espnet_reuse.decoding.inference import (
    EncodedBatch,
    experiment_tokenizer,
    load_asr_model,
    recognise,
)
from espnet_reuse.error_counts import word_error_rate
from espnet_reuse.kaldi_data import read_num_samples, read_table


@dataclass
class Candidate:
    """One layout's score on the development set, converted without training."""

    reuse_groups: List[int]
    ctc_loss: float
    wer: float


def compositions(layers: int, groups: int) -> Iterator[List[int]]:
    """Every way to cut ``layers`` consecutive layers into ``groups`` non-empty groups."""
    if not 1 <= groups <= layers:
        raise ValueError(f"groups must be within 1..{layers}, got {groups}")
    for cuts in itertools.combinations(range(1, layers), groups - 1):
        bounds = (0, *cuts, layers)
        yield [b - a for a, b in zip(bounds, bounds[1:])]


def candidate_layouts(
    layers: int, groups: int, max_candidates: int, seed: int = 0
) -> List[List[int]]:
    """All compositions, or ``max_candidates`` of them drawn at random (seeded)."""
    every = list(compositions(layers, groups))
    if len(every) <= max_candidates:
        return every
    return random.Random(seed).sample(every, max_candidates)


def evaluate(
    config_file: Path,
    model_file: Path,
    data_dir: Path,
    max_utts: int = 0,
    batch_size: int = 16,
    device: str = "cpu",
) -> Tuple[float, float]:
    """Mean CTC loss per utterance and greedy WER (%) of a model on ``data_dir``."""
    model = load_asr_model(config_file, model_file, device)
    wav = read_table(data_dir / "wav.scp")
    refs = read_table(data_dir / "text", allow_empty_values=True)
    lengths = read_num_samples(data_dir, max_utts)
    index = {token: i for i, token in enumerate(model.token_list)}
    tokenizer = experiment_tokenizer(config_file)
    losses: List[float] = []

    def add_loss(batch: EncodedBatch) -> None:
        targets = [
            torch.tensor([index.get(t, index["<unk>"]) for t in tokenizer.text2tokens(refs[u])])
            for u in batch.utts
        ]
        target_lengths = torch.tensor([len(t) for t in targets])
        padded = torch.nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=-1)
        # ESPnet's CTC loss is the batch's sum divided by the batch size
        loss = model.ctc(batch.output, batch.lengths, padded, target_lengths)
        losses.append(float(loss) * len(batch.utts))

    hyps = recognise(
        model, wav, lengths, batch_size, device, to_text=tokenizer.tokens2text, on_batch=add_loss
    )
    texts = {utt: hyp.text for utt, hyp in hyps.items()}
    return sum(losses) / len(hyps), word_error_rate(refs, texts)


def rank_layouts(
    config_file: Path,
    model_file: Path,
    data_dir: Path,
    layouts: Sequence[List[int]],
    max_utts: int = 0,
    device: str = "cpu",
) -> List[Candidate]:
    """Convert the trained baseline to each layout and score it; best (least loss) first."""
    ranked = []
    with tempfile.TemporaryDirectory() as tmp:
        for groups in tqdm(layouts, desc="converted layouts", unit="layout"):
            out = Path(tmp) / "_".join(map(str, groups))
            convert_experiment(config_file, model_file, groups, out)
            loss, wer = evaluate(
                out / "config.yaml", out / Path(model_file).name, data_dir, max_utts, device=device
            )
            ranked.append(Candidate(list(groups), loss, wer))
    return sorted(ranked, key=lambda c: (c.ctc_loss, c.wer))

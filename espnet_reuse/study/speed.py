"""Encoder speed of the trained models, side by side in paired rounds.

Every model encodes the same inputs in every round, in a new random order each
round (``espnet_reuse.benchmark.measure.time_interleaved``); a layout's speed-up
over the baseline is the median of the per-round ratios baseline time / layout
time, with its distribution-free 95 % interval. Inputs: the test utterances
one at a time (the demo's 2-3 s), the same audio concatenated into 15 s and
30 s inputs (LibriSpeech's utterances average about 12 s and reach 35 s), and a
training step (forward, backward, Adam) on a batch of test utterances;
``saved_bytes`` counts what each encoder keeps for backward on that batch.
"""

from pathlib import Path
from typing import Callable, Dict, List, Tuple

import torch

from espnet_reuse.benchmark.measure import (
    Ratio,
    saved_for_backward_bytes,
    time_interleaved,
    training_step,
)
from espnet_reuse.decoding.inference import load_asr_model, load_batch
from espnet_reuse.encoder.padding import features_one_by_one
from espnet_reuse.kaldi_data import read_num_samples, read_table

Inputs = List[Tuple[torch.Tensor, torch.Tensor]]  # (1 or B, T, D) features, lengths
TEST_AUDIO = "test utterances"
TRAIN_STEP = "train step"


def _features(model: torch.nn.Module, speech: torch.Tensor, lengths: torch.Tensor) -> tuple:
    with torch.inference_mode():
        feats, feat_lengths = features_one_by_one(model, speech, lengths)
        if model.normalize is not None:
            feats, feat_lengths = model.normalize(feats, feat_lengths)
    return feats.clone(), feat_lengths.clone()


def speed_inputs(
    model: torch.nn.Module,
    data_dirs: List[Path],
    utterances: int,
    long_seconds: List[float],
    train_batch: int,
    fs: int = 16000,
) -> Dict[str, Inputs]:
    """Normalised features of the first ``utterances`` test utterances (one per
    input), of their audio concatenated to each of ``long_seconds``, and one
    padded batch of ``train_batch`` of them (key ``TRAIN_STEP``)."""
    audio = []
    for data_dir in data_dirs:
        wav = read_table(data_dir / "wav.scp")
        for utt in sorted(read_num_samples(data_dir))[: utterances - len(audio)]:
            audio.append(load_batch(wav, [utt])[0][0])
    if not audio:
        raise ValueError(f"no utterances in {[str(d) for d in data_dirs]}")
    inputs: Dict[str, Inputs] = {
        TEST_AUDIO: [_features(model, a[None], torch.tensor([len(a)])) for a in audio]
    }
    joined = torch.cat(audio)
    for seconds in long_seconds:
        size = int(seconds * fs)
        pieces = [joined[i : i + size] for i in range(0, len(joined) - size + 1, size)]
        if not pieces:  # less audio than one input: repeat it
            pieces = [joined.repeat(size // len(joined) + 1)[:size]]
        inputs[f"{seconds:g} s"] = [_features(model, p[None], torch.tensor([size])) for p in pieces]
    batch = audio[:train_batch]
    speech = torch.nn.utils.rnn.pad_sequence(batch, batch_first=True)
    inputs[TRAIN_STEP] = [_features(model, speech, torch.tensor([len(a) for a in batch]))]
    return inputs


def _encode_all(encoder: torch.nn.Module, inputs: Inputs) -> Callable[[], None]:
    def step() -> None:
        encoder.eval()
        with torch.inference_mode():
            for feats, lengths in inputs:
                encoder(feats, lengths)

    return step


def load_encoders(models: Dict[str, Tuple[Path, Path]], device: str) -> Dict[str, torch.nn.Module]:
    """Model name -> the encoder of its (config, model file), on ``device``."""
    return {name: load_asr_model(*files, device).encoder for name, files in models.items()}


def speedups(
    encoders: Dict[str, torch.nn.Module],
    baseline: str,
    inputs: Dict[str, Inputs],
    rounds: int,
    device: str = "cpu",
) -> Dict[str, Dict[str, Ratio]]:
    """input name -> model name -> speed-up of its encoder over ``baseline``'s, timed on
    ``device`` (where ``encoders`` are; the training step updates their weights)."""
    result = {}
    for input_name, on_host in inputs.items():
        data = [(feats.to(device), lengths.to(device)) for feats, lengths in on_host]
        if input_name == TRAIN_STEP:
            steps = {n: training_step(e, *data[0]) for n, e in encoders.items()}
        else:
            steps = {n: _encode_all(e, data) for n, e in encoders.items()}
        timings = time_interleaved(steps, rounds, warmup=1, device=device)
        result[input_name] = {
            name: Ratio.paired(timings[baseline], timings[name]) for name in encoders
        }
    return result


def saved_bytes(encoders: Dict[str, torch.nn.Module], batch: Inputs) -> Dict[str, int]:
    """Model name -> bytes its encoder keeps for backward in one training forward of
    ``batch`` (``[(features, lengths)]``, on the host; a count of tensor sizes, the same
    on any device and for any weights)."""
    saved = {}
    for name, encoder in encoders.items():
        device = next(encoder.parameters()).device
        feats, lengths = (t.to(device) for t in batch[0])
        saved[name] = saved_for_backward_bytes(encoder, feats, lengths)
    return saved

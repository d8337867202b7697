"""Stage 12: decoding ESPnet ASR models, batched and batch-invariant.

On the CTC head: batched greedy (arg-max, collapse repeats, drop blanks, all on
tensors) and CTC prefix beam search with flashlight's decoder as wrapped by
``torchaudio.models.decoder.ctc_decoder``, free or constrained to the words of a
lexicon (``lexicon: true``: the training text's words, spelled in tokens; no
language model either way). With the attention decoder of a hybrid CTC/attention
model: joint CTC/attention beam search batched over utterances
(``joint_beam``, ``espnet_reuse.decoding.joint_search``: ESPnet's hypotheses), ESPnet's own
joint search one utterance at a time (``espnet_joint_beam``, for comparison) and
CTC prefix beam search rescored by the decoder (``attention_rescoring``,
``espnet_reuse.decoding.attention_search``). Each writes ESPnet's 1-best layout
(``text``, ``token``, ``token_int``, ``score``) and the real-time factor (``rtf.json``);
CPU decoding runs ``nj`` worker processes, GPU decoding one worker process per visible
GPU.
"""

import json
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import yaml
from tqdm import tqdm

from espnet_reuse import atomic
from espnet_reuse.decoding.attention_search import AttentionRescoring, EspnetJointBeamSearch
from espnet_reuse.decoding.inference import (
    EncoderSearch,
    Hypothesis,
    PrefixBeamSearch,
    Search,
    greedy_search,
    load_asr_model,
    recognise,
    tokens_to_text,
)
from espnet_reuse.decoding.joint_search import BatchJointSearch
from espnet_reuse.devices import cuda_devices
from espnet_reuse.kaldi_data import read_num_samples, read_table, write_table

CTC_DECODERS = ("greedy", "prefix_beam")
JOINT_SEARCHES = {"joint_beam": BatchJointSearch, "espnet_joint_beam": EspnetJointBeamSearch}
ATTENTION_DECODERS = (*JOINT_SEARCHES, "attention_rescoring")  # need an attention decoder
DECODERS = CTC_DECODERS + ATTENTION_DECODERS
WEIGHT_KEYS = ("ctc_weight", "penalty")  # the attention decoders' keys
BEAM_SEARCH_KEYS = ("maxlenratio", "minlenratio")  # the joint searches' only
RTF_FILE = "rtf.json"
SHARD_UTTS = 100  # utterances a decoding shard at most: the progress bar's step


@dataclass
class DecodeConfig:
    """The keys of an inference config (``conf/decode_*.yaml``)."""

    decoder: str = "greedy"
    beam_size: int = 10  # prefix_beam, joint searches; attention_rescoring: the N-best's size
    batch_size: int = 16  # utterances encoded (joint_beam: and searched) together
    lexicon: bool = False  # prefix_beam only
    ctc_weight: float = 0.3  # joint searches, attention_rescoring: CTC's share of the score
    penalty: float = 0.0  # joint searches, attention_rescoring: length bonus per token
    maxlenratio: float = 0.0  # joint searches: ESPnet's (0: end detection)
    minlenratio: float = 0.0  # joint searches: ESPnet's

    @classmethod
    def from_yaml(cls, path: Optional[Path], overrides: str = "") -> "DecodeConfig":
        """Read a config, then ``overrides`` (``"--beam_size 20 --batch_size 1"``, as
        ``asr.sh --inference_args``); unknown keys and decoders are errors naming them."""
        values = (yaml.safe_load(path.read_text()) if path else None) or {}
        words = overrides.split()
        if len(words) % 2 or any(not w.startswith("--") for w in words[::2]):
            raise ValueError(f"inference_args must be '--key value' pairs, got {overrides!r}")
        for key, value in zip(words[::2], words[1::2]):
            values[key[2:]] = yaml.safe_load(value)
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        config = cls(**values)
        if config.decoder not in DECODERS:
            raise ValueError(f"{path}: decoder must be one of {DECODERS}")
        if config.lexicon and config.decoder != "prefix_beam":
            raise ValueError(f"{path}: lexicon: true needs decoder: prefix_beam")
        keys = {name: WEIGHT_KEYS + BEAM_SEARCH_KEYS for name in JOINT_SEARCHES}
        keys["attention_rescoring"] = WEIGHT_KEYS
        used = keys.get(config.decoder, ())
        unused = sorted(set(values) & set(WEIGHT_KEYS + BEAM_SEARCH_KEYS) - set(used))
        if unused:
            raise ValueError(f"{path}: decoder {config.decoder} does not use {unused}")
        return config

    @property
    def uses_attention_decoder(self) -> bool:
        """Whether this decoding needs a model with an attention decoder."""
        return self.decoder in ATTENTION_DECODERS

    def search(
        self, model: torch.nn.Module, lexicon: Optional[Path]
    ) -> Union[Search, EncoderSearch]:
        """The search this config names, for ``model`` (``lexicon``: for ``lexicon: true``)."""
        if self.decoder == "prefix_beam":
            return PrefixBeamSearch(
                model.token_list, self.beam_size, lexicon if self.lexicon else None
            )
        if self.decoder in JOINT_SEARCHES:
            return JOINT_SEARCHES[self.decoder](
                model,
                self.beam_size,
                self.ctc_weight,
                self.penalty,
                self.maxlenratio,
                self.minlenratio,
            )
        if self.decoder == "attention_rescoring":
            return AttentionRescoring(model, self.beam_size, self.ctc_weight, self.penalty)
        return greedy_search


@dataclass
class DecodeTask:
    """One data directory decoded with one inference config into ``out_dir``."""

    data_dir: Path
    decode: DecodeConfig
    out_dir: Path


_WORKER_MODEL: Optional[Tuple[torch.nn.Module, str]] = None


def _load_worker_model(
    config_file: Path,
    model_file: Path,
    devices: "multiprocessing.Queue[str]",
    threads: int,
) -> None:
    """Load the model once a worker process, on the next device of ``devices``."""
    global _WORKER_MODEL
    torch.set_num_threads(threads)
    device = devices.get()
    _WORKER_MODEL = (load_asr_model(config_file, model_file, device), device)


@dataclass
class Shard:
    """Up to ``SHARD_UTTS`` utterances of one task, decoded by one worker."""

    decode: DecodeConfig
    wav: Dict[str, str]  # utterance id -> audio file
    lengths: Dict[str, int]  # utterance id -> samples
    lexicon: Optional[Path]


def _decode_shard(shard: Shard) -> Tuple[Dict[str, Hypothesis], float]:
    assert _WORKER_MODEL is not None
    return _decode_with(*_WORKER_MODEL, shard)


def _decode_with(
    model: torch.nn.Module, device: str, shard: Shard
) -> Tuple[Dict[str, Hypothesis], float]:
    """A shard's hypotheses and its decoding seconds."""
    search = shard.decode.search(model, shard.lexicon)
    start = time.perf_counter()
    hyps = recognise(model, shard.wav, shard.lengths, shard.decode.batch_size, device, search)
    return hyps, time.perf_counter() - start


def decode_tasks(
    tasks: Sequence[DecodeTask],
    config_file: Path,
    model_file: Path,
    gpu_inference: bool = False,
    nj: int = 1,
    fs: int = 16000,
    lexicon: Optional[Path] = None,
) -> List[float]:
    """Decode every task with one model; return each task's RTF.

    ``lexicon`` serves the tasks whose config asks for ``lexicon: true``.

    Every task's utterances are split into shards of at most ``SHARD_UTTS``
    (a progress bar counts them); worker processes load the model once each and
    share the shards: ``nj`` on CPU, one per visible GPU with ``gpu_inference``.
    Decoding is batch-invariant, so the split changes no result. RTF is
    decoding time (model and search, audio reading included, model loading
    excluded) summed over workers, divided by the audio duration.
    """
    shards, owners = [], []
    devices = cuda_devices() if gpu_inference else ["cpu"] * max(1, nj)
    jobs = len(devices)
    if not jobs:
        raise ValueError("--gpu_inference true, but torch sees no GPU")
    for idx, task in enumerate(tasks):
        wav = read_table(task.data_dir / "wav.scp")
        lengths = read_num_samples(task.data_dir)
        pieces = min(len(lengths), max(jobs, math.ceil(len(lengths) / SHARD_UTTS)))
        for part in np.array_split(np.array(sorted(lengths)), pieces):
            shards.append(
                Shard(
                    task.decode, {u: wav[u] for u in part}, {u: lengths[u] for u in part}, lexicon
                )
            )
            owners.append(idx)
    progress = tqdm(total=sum(len(shard.lengths) for shard in shards), desc="decoding", unit="utt")

    def counted(result):
        progress.update(len(result[0]))
        return result

    if jobs == 1 and not gpu_inference:  # one CPU worker: this process (a fork of a
        # process that ran torch's threads can hang in its first parallel region)
        model = load_asr_model(config_file, model_file, "cpu")
        with progress:
            results = [counted(_decode_with(model, "cpu", shard)) for shard in shards]
    else:
        threads = 1 if gpu_inference else max(1, (os.cpu_count() or 1) // jobs)
        # CUDA cannot be used in forked workers: GPU workers start fresh (spawn)
        context = multiprocessing.get_context("spawn" if gpu_inference else None)
        device_queue = context.Queue()
        for device in devices:
            device_queue.put(device)
        with (
            progress,
            ProcessPoolExecutor(
                jobs,
                mp_context=context,
                initializer=_load_worker_model,
                initargs=(config_file, model_file, device_queue, threads),
            ) as pool,
        ):
            results = [counted(result) for result in pool.map(_decode_shard, shards)]
    rtfs = []
    to_text = tokens_to_text(config_file)
    for idx, task in enumerate(tasks):
        hyps: Dict[str, Hypothesis] = {}
        seconds, samples = 0.0, 0
        for (shard_hyps, shard_seconds), shard, owner in zip(results, shards, owners):
            if owner == idx:
                hyps.update(shard_hyps)
                seconds += shard_seconds
                samples += sum(shard.lengths.values())
        _write_outputs(task.out_dir, hyps, to_text)
        audio_seconds = samples / fs
        rtf = seconds / audio_seconds if audio_seconds else math.nan
        device = f"{'cuda' if gpu_inference else 'cpu'}, {jobs} workers"
        timing = {
            "rtf": rtf,
            "decode_seconds": seconds,
            "audio_seconds": audio_seconds,
            "decoder": task.decode.decoder,
            "batch_size": task.decode.batch_size,
            "device": device,
        }
        atomic.write_text(task.out_dir / RTF_FILE, json.dumps(timing, indent=2) + "\n")
        rtfs.append(rtf)
    return rtfs


def _write_outputs(
    out_dir: Path, hyps: Dict[str, Hypothesis], to_text: Callable[[List[str]], str]
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tokens = {u: h.tokens or [] for u, h in hyps.items()}
    write_table(out_dir / "token", {u: " ".join(t) for u, t in tokens.items()})
    write_table(
        out_dir / "token_int", {u: " ".join(map(str, h.token_ids)) for u, h in hyps.items()}
    )
    write_table(out_dir / "score", {u: f"{h.score:.4f}" for u, h in hyps.items()})
    write_table(out_dir / "text", {u: to_text(t) for u, t in tokens.items()})

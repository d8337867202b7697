"""Stage 12: fast CTC decoding of ESPnet ASR models.

Two decoders: batched greedy (arg-max, collapse repeats, drop blanks, all on
tensors) and CTC prefix beam search with flashlight's lexicon-free decoder as
wrapped by ``torchaudio.models.decoder.ctc_decoder``. Both write ESPnet's
1-best layout (``text``, ``token``, ``token_int``, ``score``) and the real-time
factor; CPU decoding runs ``nj`` worker processes, GPU decoding one process.
"""

import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import yaml

from espnet_reuse.recipe.kaldi_data import read_table, write_table

DECODERS = ("greedy", "prefix_beam")


@dataclass
class DecodeConfig:
    """The keys of an inference config (``conf/decode_*.yaml``)."""

    decoder: str = "greedy"
    beam_size: int = 10
    batch_size: int = 16

    @classmethod
    def from_yaml(cls, path: Optional[Path]) -> "DecodeConfig":
        """Read a config; unknown keys and decoders are errors naming them."""
        values = yaml.safe_load(path.read_text()) if path else {}
        unknown = set(values or {}) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        config = cls(**(values or {}))
        if config.decoder not in DECODERS:
            raise ValueError(f"{path}: decoder must be one of {DECODERS}")
        return config


@dataclass
class Hypothesis:
    """One decoded utterance."""

    token_ids: List[int]
    score: float
    tokens: Optional[List[str]] = None


def load_asr_model(config_file: Path, model_file: Path, device: str) -> torch.nn.Module:
    """Build an ESPnet ASR model and load its weights with ``strict=True``."""
    import espnet_reuse.registration as registration

    registration.register()
    from espnet2.tasks.asr import ASRTask

    model, _ = ASRTask.build_model_from_file(config_file, None, device)
    state_dict = torch.load(model_file, map_location=device, weights_only=False)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def greedy_search(
    log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0
) -> List[Hypothesis]:
    """Arg-max CTC decoding of a padded batch (B, T, V)."""
    best_scores, best = log_probs.max(dim=-1)
    valid = torch.arange(best.size(1), device=best.device)[None, :] < lengths[:, None]
    previous = torch.nn.functional.pad(best[:, :-1], (1, 0), value=blank)
    keep = valid & (best != blank) & (best != previous)
    scores = (best_scores * valid).sum(dim=1)
    return [
        Hypothesis(best[b][keep[b]].tolist(), float(scores[b]))
        for b in range(best.size(0))
    ]


class PrefixBeamSearch:
    """CTC prefix beam search without lexicon or LM (flashlight through torchaudio).

    Hypotheses that reach the same prefix are merged by adding their
    probabilities (``log_add``), as prefix beam search requires.
    """

    def __init__(self, token_list: Sequence[str], beam_size: int) -> None:
        from torchaudio.models.decoder import ctc_decoder

        self._decoder = ctc_decoder(
            lexicon=None,
            tokens=list(token_list),
            lm=None,
            beam_size=beam_size,
            blank_token=token_list[0],
            sil_token=token_list[0],
            unk_word=token_list[1],
            log_add=True,
        )

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> List[Hypothesis]:
        results = self._decoder(log_probs.float().cpu(), lengths.int().cpu())
        return [Hypothesis(r[0].tokens.tolist(), float(r[0].score)) for r in results]


def length_sorted_batches(lengths: Dict[str, int], batch_size: int) -> List[List[str]]:
    """Utterance ids in batches, longest first (little padding)."""
    ordered = sorted(lengths, key=lambda u: -lengths[u])
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def load_batch(wav: Dict[str, str], utts: List[str]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded waveforms (B, samples) and their lengths."""
    import soundfile

    audio = [soundfile.read(wav[u], dtype="float32")[0] for u in utts]
    lengths = torch.tensor([len(a) for a in audio])
    batch = torch.zeros(len(audio), int(lengths.max()))
    for i, a in enumerate(audio):
        batch[i, : len(a)] = torch.from_numpy(a)
    return batch, lengths


@dataclass
class _Job:
    config_file: Path
    model_file: Path
    decode: DecodeConfig
    wav: Dict[str, str]
    lengths: Dict[str, int]
    device: str
    threads: int


def _decode_job(job: _Job) -> Tuple[Dict[str, Hypothesis], float]:
    torch.set_num_threads(job.threads)
    model = load_asr_model(job.config_file, job.model_file, job.device)
    if job.decode.decoder == "greedy":
        search = greedy_search
    else:
        search = PrefixBeamSearch(model.token_list, job.decode.beam_size)
    hyps: Dict[str, Hypothesis] = {}
    start = time.perf_counter()
    with torch.inference_mode():
        for utts in length_sorted_batches(job.lengths, job.decode.batch_size):
            speech, speech_lengths = load_batch(job.wav, utts)
            enc, enc_lengths = model.encode(speech.to(job.device), speech_lengths.to(job.device))
            log_probs = model.ctc.log_softmax(enc)
            for utt, hyp in zip(utts, search(log_probs, enc_lengths)):
                hyp.tokens = [model.token_list[i] for i in hyp.token_ids]
                hyps[utt] = hyp
    return hyps, time.perf_counter() - start


def decode_data_dir(
    data_dir: Path,
    config_file: Path,
    model_file: Path,
    decode: DecodeConfig,
    out_dir: Path,
    bpemodel: Optional[Path],
    ngpu: int = 0,
    nj: int = 1,
    fs: int = 16000,
) -> float:
    """Decode every utterance of ``data_dir`` into ``out_dir``; return the RTF.

    RTF is decoding time (model and search, audio reading included, model
    loading excluded) summed over workers, divided by the audio duration.
    """
    wav = read_table(data_dir / "wav.scp")
    lengths = {u: int(n) for u, n in read_table(data_dir / "utt2num_samples").items()}
    if ngpu > 0:
        jobs = [_Job(config_file, model_file, decode, wav, lengths, "cuda", 1)]
        results = [_decode_job(jobs[0])]
    else:
        nj = max(1, min(nj, len(lengths)))
        threads = max(1, (os.cpu_count() or 1) // nj)
        shards = np.array_split(np.array(sorted(lengths)), nj)
        jobs = [
            _Job(config_file, model_file, decode, wav, {u: lengths[u] for u in s}, "cpu", threads)
            for s in shards
        ]
        with ProcessPoolExecutor(nj) as pool:
            results = list(pool.map(_decode_job, jobs))
    hyps = {u: h for shard, _ in results for u, h in shard.items()}
    seconds = sum(t for _, t in results)
    _write_outputs(out_dir, hyps, bpemodel)
    audio_seconds = sum(lengths.values()) / fs
    rtf = seconds / audio_seconds if audio_seconds else math.nan
    device = "cuda" if ngpu > 0 else f"cpu, {len(jobs)} jobs"
    (out_dir / "rtf").write_text(
        f"RTF {rtf:.4f}: {seconds:.1f} s decoding for {audio_seconds:.1f} s audio "
        f"({decode.decoder}, {device})\n"
    )
    return rtf


def text_from_tokens(bpemodel: Optional[Path]) -> Callable[[List[str]], str]:
    """Tokens to text: sentencepiece pieces with ``bpemodel``, else characters."""
    if bpemodel:
        import sentencepiece as spm

        return spm.SentencePieceProcessor(model_file=str(bpemodel)).decode_pieces
    return lambda tokens: "".join(tokens).replace("<space>", " ")


def _write_outputs(
    out_dir: Path, hyps: Dict[str, Hypothesis], bpemodel: Optional[Path]
) -> None:
    to_text = text_from_tokens(bpemodel)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokens = {u: h.tokens or [] for u, h in hyps.items()}
    write_table(out_dir / "token", {u: " ".join(t) for u, t in tokens.items()})
    write_table(out_dir / "token_int", {u: " ".join(map(str, h.token_ids)) for u, h in hyps.items()})
    write_table(out_dir / "score", {u: f"{h.score:.4f}" for u, h in hyps.items()})
    write_table(out_dir / "text", {u: to_text(t) for u, t in tokens.items()})

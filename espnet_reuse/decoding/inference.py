"""Batched inference with trained ESPnet ASR models: loading, batching, encoding, CTC search.

The core that the recipe's decoding, the attention analysis and the benchmarks
share. Every batch is encoded batch-invariantly (``espnet_reuse.encoder.padding``): an
utterance gets the same encoder output, hence the same hypothesis, whichever
utterances share its batch.
"""

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import yaml

from espnet_reuse import espnet_api, safe_load
from espnet_reuse.encoder.padding import encode_batch, make_batch_invariant
from espnet_reuse.registration import asr_task

SPACE = "<space>"  # ESPnet's word separator in character token lists


@dataclass
class Hypothesis:
    """One decoded utterance."""

    token_ids: List[int]
    score: float
    tokens: Optional[List[str]] = None
    text: Optional[str] = None


def load_asr_model(config_file: Path, model_file: Path, device: str) -> torch.nn.Module:
    """Build an ESPnet ASR model, load its weights with ``strict=True``, mask padding.

    The weights are read as data (``safe_load.load``): a file that holds more than
    tensors is refused unless model files are trusted.

    The encoder is made batch-invariant (``make_batch_invariant``: true-length masks,
    masked depthwise convolutions): parameters are untouched and an unpadded batch is encoded
    exactly as ESPnet encodes it.
    """
    model, _ = asr_task().build_model_from_file(config_file, None, device)
    state_dict = safe_load.load(model_file, map_location=device)
    model.load_state_dict(state_dict, strict=True)
    make_batch_invariant(model.encoder)
    return model.eval()


def experiment_tokenizer(config_file: Path):
    """ESPnet's tokenizer of a trained experiment (its ``token_type`` and ``bpemodel``)."""
    config = yaml.safe_load(Path(config_file).read_text())
    token_type = config.get("token_type") or "char"
    return espnet_api.build_tokenizer(token_type, config.get("bpemodel"))


def tokens_to_text(config_file: Path) -> Callable[[List[str]], str]:
    """Tokens to text as ESPnet's ``Speech2Text`` does, with the experiment's tokenizer."""
    return experiment_tokenizer(config_file).tokens2text


def greedy_search(
    log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0
) -> List[Hypothesis]:
    """Arg-max CTC decoding of a padded batch (B, T, V), on its device; the results
    come to the host in one transfer (one synchronisation a batch)."""
    best_scores, best = log_probs.max(dim=-1)
    valid = torch.arange(best.size(1), device=best.device)[None, :] < lengths[:, None]
    previous = torch.nn.functional.pad(best[:, :-1], (1, 0), value=blank)
    keep = valid & (best != blank) & (best != previous)
    scores = (best_scores * valid).sum(dim=1)
    best, keep, scores = (t.cpu() for t in (best, keep, scores))
    return [Hypothesis(best[b][keep[b]].tolist(), float(scores[b])) for b in range(best.size(0))]


class PrefixBeamSearch:
    """CTC prefix beam search without LM (flashlight through torchaudio).

    Hypotheses that reach the same prefix are merged by adding their
    probabilities (``log_add``), as prefix beam search requires. With a
    ``lexicon`` file (``word token token ...`` lines) only its words are output;
    words are separated by ``<space>`` in a character token list, else by blanks
    (sentencepiece pieces mark word starts themselves).
    """

    def __init__(
        self,
        token_list: Sequence[str],
        beam_size: int,
        lexicon: Optional[Path] = None,
        nbest: int = 1,
    ) -> None:
        from torchaudio.models.decoder import ctc_decoder

        silence = SPACE if SPACE in token_list else token_list[0]
        self._silence = list(token_list).index(silence)
        self._decoder = ctc_decoder(
            lexicon=str(lexicon) if lexicon else None,
            tokens=list(token_list),
            lm=None,
            beam_size=beam_size,
            blank_token=token_list[0],
            sil_token=silence,
            unk_word=token_list[1],
            log_add=True,
            nbest=nbest,
        )

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> List[Hypothesis]:
        return [hyps[0] for hyps in self.nbest(log_probs, lengths)]

    def nbest(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> List[List[Hypothesis]]:
        """Up to ``nbest`` distinct hypotheses per utterance, best first, from (B, T, V)
        log-probabilities and (B,) lengths."""
        results = self._decoder(log_probs.float().cpu(), lengths.int().cpu())
        nbests = []
        for result in results:
            distinct: Dict[Tuple[int, ...], Hypothesis] = {}
            for r in result:  # best first: a repeated token sequence keeps its best score
                ids = self._strip(r.tokens.tolist())
                distinct.setdefault(tuple(ids), Hypothesis(ids, float(r.score)))
            nbests.append(list(distinct.values()))
        return nbests

    def _strip(self, ids: List[int]) -> List[int]:
        """Without the word separators the decoder puts around the sentence."""
        start, end = 0, len(ids)
        while start < end and ids[start] == self._silence:
            start += 1
        while end > start and ids[end - 1] == self._silence:
            end -= 1
        return ids[start:end]


def length_sorted_batches(lengths: Dict[str, int], batch_size: int) -> List[List[str]]:
    """Utterance ids in batches, longest first (little padding)."""
    ordered = sorted(lengths, key=lambda u: -lengths[u])
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def load_batch(wav: Dict[str, str], utts: List[str]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded waveforms (B, samples) and their lengths."""
    import soundfile

    audio = [torch.from_numpy(soundfile.read(wav[u], dtype="float32")[0]) for u in utts]
    return espnet_api.pad_list(audio, 0.0), torch.tensor([len(a) for a in audio])


class EncodedBatch(NamedTuple):
    """One batch through the encoder."""

    utts: List[str]  # utterance ids, longest first
    output: torch.Tensor  # (B, T, D) encoder output
    lengths: torch.Tensor  # (B,) output frames of each utterance


def encoded_batches(
    model: torch.nn.Module,
    wav: Dict[str, str],
    lengths: Dict[str, int],
    batch_size: int,
    device: str,
) -> Iterator[EncodedBatch]:
    """The length-sorted batches of a data set, encoded batch-invariantly."""
    for utts in length_sorted_batches(lengths, batch_size):
        speech, speech_lengths = load_batch(wav, utts)
        enc, enc_lengths = encode_batch(model, speech.to(device), speech_lengths.to(device))
        yield EncodedBatch(utts, enc, enc_lengths)


Search = Callable[[torch.Tensor, torch.Tensor], List[Hypothesis]]  # (B, T, V) log-probs, lengths


class EncoderSearch(abc.ABC):
    """A search that reads the encoder output itself (e.g. through an attention decoder),
    not only the CTC head's log-probabilities."""

    @abc.abstractmethod
    def __call__(self, encoder_output: torch.Tensor, lengths: torch.Tensor) -> List[Hypothesis]:
        """Hypotheses of a batch: ``encoder_output`` (B, T, D), ``lengths`` (B,)."""


def recognise(
    model: torch.nn.Module,
    wav: Dict[str, str],
    lengths: Dict[str, int],
    batch_size: int,
    device: str,
    search: Union[Search, EncoderSearch] = greedy_search,
    to_text: Optional[Callable[[List[str]], str]] = None,
    on_batch: Optional[Callable[[EncodedBatch], None]] = None,
) -> Dict[str, Hypothesis]:
    """Recognise a data set: length-sorted batches, batch-invariant encoding, a
    ``search`` (on the CTC head: greedy or a ``PrefixBeamSearch``; or an
    ``EncoderSearch``), tokens, and text with ``to_text``.

    ``on_batch`` sees every ``EncodedBatch`` (e.g. to add up a loss). Returns
    utterance id -> hypothesis.
    """
    hyps: Dict[str, Hypothesis] = {}
    with torch.inference_mode():
        for batch in encoded_batches(model, wav, lengths, batch_size, device):
            if on_batch is not None:
                on_batch(batch)
            if isinstance(search, EncoderSearch):
                found = search(batch.output, batch.lengths)
            else:
                found = search(model.ctc.log_softmax(batch.output), batch.lengths)
            for utt, hyp in zip(batch.utts, found):
                hyp.tokens = [model.token_list[i] for i in hyp.token_ids]
                if to_text is not None:
                    hyp.text = to_text(hyp.tokens)
                hyps[utt] = hyp
    return hyps

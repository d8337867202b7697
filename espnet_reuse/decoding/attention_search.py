"""Decoding a hybrid CTC/attention model: the searches that use its attention decoder.

Two ``EncoderSearch`` es, each decoding every utterance of an encoded batch on its own
(sliced to its true length), so a hypothesis does not depend on which utterances
share the batch:

- ``EspnetJointBeamSearch``: ESPnet's own joint CTC/attention beam search (its
  ``BatchBeamSearch``, the search ``Speech2Text`` runs), label-synchronous, one decoder
  step per output token, one utterance at a time; kept for comparison with the
  recipe's joint search, ``espnet_reuse.decoding.joint_search``, which batches utterances.
- ``AttentionRescoring``: CTC prefix beam search gives an N-best list, and the attention
  decoder scores all of it in one teacher-forced pass (attention rescoring as wenet and
  icefall do it); the best of ``(1 - ctc_weight) * attention + ctc_weight * CTC +
  penalty * length`` wins.
"""

import logging
from typing import List

import torch

from espnet_reuse import espnet_api
from espnet_reuse.decoding.beam_rules import BLANK
from espnet_reuse.decoding.inference import EncoderSearch, Hypothesis, PrefixBeamSearch


def has_attention_decoder(config: dict) -> bool:
    """Whether the ESPnet ASR model of a training ``config`` has an attention decoder
    beside its CTC head (ESPnet builds none when ``ctc_weight`` is 1; its default is 0.5)."""
    ctc_weight = (config.get("model_conf") or {}).get("ctc_weight", 0.5)
    return config.get("decoder") not in (None, "none") and ctc_weight < 1.0


def check_hybrid(model: torch.nn.Module, ctc_weight: float) -> None:
    """Refuse a model without an attention decoder and a weight outside [0, 1]."""
    if getattr(model, "decoder", None) is None:  # ESPnet built none (has_attention_decoder)
        raise ValueError(
            "this model has no attention decoder (a CTC model): decode it with the CTC "
            "decoders (decoder: greedy or prefix_beam)"
        )
    if not 0.0 <= ctc_weight <= 1.0:
        raise ValueError(f"ctc_weight must lie in [0, 1], got {ctc_weight}")


class EspnetJointBeamSearch(EncoderSearch):
    """ESPnet's joint CTC/attention beam search, one utterance at a time.

    ``maxlenratio`` and ``minlenratio`` are ``Speech2Text``'s (0: end detection, no
    minimum); an utterance that ends no hypothesis gets an empty one.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        beam_size: int = 10,
        ctc_weight: float = 0.3,
        penalty: float = 0.0,
        maxlenratio: float = 0.0,
        minlenratio: float = 0.0,
    ) -> None:
        check_hybrid(model, ctc_weight)
        device = next(model.parameters()).device
        self._search = espnet_api.joint_beam_search(model, beam_size, ctc_weight, penalty)
        self._search.to(device)
        self.maxlenratio = maxlenratio
        self.minlenratio = minlenratio

    def __call__(self, encoder_output: torch.Tensor, lengths: torch.Tensor) -> List[Hypothesis]:
        hyps = []
        # ESPnet's search logs every utterance's lengths at INFO: its package says warnings only
        package = logging.getLogger(type(self._search).__module__.rpartition(".")[0])
        level = package.level
        package.setLevel(logging.WARNING)
        try:
            for enc, length in zip(encoder_output, lengths.tolist()):
                found = self._search(
                    x=enc[:length], maxlenratio=self.maxlenratio, minlenratio=self.minlenratio
                )
                if not found:
                    hyps.append(Hypothesis([], float("-inf")))
                    continue
                ids = found[0].yseq[1:-1].tolist()  # without <sos> and <eos>
                hyps.append(Hypothesis([i for i in ids if i != BLANK], float(found[0].score)))
        finally:
            package.setLevel(level)
        return hyps


class AttentionRescoring(EncoderSearch):
    """CTC prefix beam search N-best (``beam_size`` hypotheses), rescored by the
    attention decoder in one teacher-forced pass per utterance."""

    def __init__(
        self,
        model: torch.nn.Module,
        beam_size: int = 10,
        ctc_weight: float = 0.3,
        penalty: float = 0.0,
    ) -> None:
        check_hybrid(model, ctc_weight)
        self.model = model
        self.ctc_weight = ctc_weight
        self.penalty = penalty
        self._prefix_search = PrefixBeamSearch(model.token_list, beam_size, nbest=beam_size)

    def __call__(self, encoder_output: torch.Tensor, lengths: torch.Tensor) -> List[Hypothesis]:
        nbests = self._prefix_search.nbest(self.model.ctc.log_softmax(encoder_output), lengths)
        hyps = []
        for enc, length, candidates in zip(encoder_output, lengths.tolist(), nbests):
            attention = attention_scores(
                self.model, enc[:length], [c.token_ids for c in candidates]
            )
            totals = [
                (1.0 - self.ctc_weight) * att
                + self.ctc_weight * c.score
                + self.penalty * len(c.token_ids)
                for c, att in zip(candidates, attention.tolist())
            ]
            best = max(range(len(candidates)), key=totals.__getitem__)
            hyps.append(Hypothesis(candidates[best].token_ids, totals[best]))
        return hyps


def attention_scores(
    model: torch.nn.Module, encoder_output: torch.Tensor, token_ids: List[List[int]]
) -> torch.Tensor:
    """Log-probability of each token sequence (then ``<eos>``) under the attention
    decoder, given one utterance's encoder output (T, D): (N,) for N sequences, all
    in one teacher-forced pass."""
    device = encoder_output.device
    count = len(token_ids)
    lengths = torch.tensor([len(ids) + 1 for ids in token_ids], device=device)
    width = int(lengths.max())
    ys_in = torch.full((count, width), model.eos, dtype=torch.long, device=device)
    ys_out = torch.full((count, width), model.eos, dtype=torch.long, device=device)
    for n, ids in enumerate(token_ids):
        ys_in[n, : len(ids) + 1] = torch.tensor([model.sos, *ids], device=device)
        ys_out[n, : len(ids)] = torch.tensor(ids, dtype=torch.long, device=device)
    memory = encoder_output[None].expand(count, -1, -1)
    memory_lengths = torch.full((count,), encoder_output.size(0), device=device)
    logits, _ = model.decoder(memory, memory_lengths, ys_in, lengths)
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    token_scores = log_probs.gather(-1, ys_out[..., None]).squeeze(-1)
    valid = torch.arange(width, device=device)[None, :] < lengths[:, None]
    return (token_scores * valid).sum(dim=1)

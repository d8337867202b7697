"""Joint CTC/attention beam search batched over utterances and hypotheses.

ESPnet's joint search (``BatchBeamSearch`` as ``Speech2Text`` runs it, without LM)
decodes one utterance at a time. ``BatchJointSearch`` keeps ESPnet's scoring rules
and decodes the encoder's whole batch together: every step is one decoder call (with
its cache) and one CTC prefix scoring (``ctc_prefix_score``) for all live hypotheses
of all utterances, with ``beam_size`` hypothesis slots per utterance. ESPnet's rules:
the weighted score ``(1 - ctc_weight) * decoder + ctc_weight * CTC + penalty * length``;
the CTC pre-beam of ``int(1.5 * beam_size)`` tokens per hypothesis chosen by the
decoder's and length bonus' weighted score; the best ``beam_size`` extensions an
utterance; hypotheses ending in ``<eos>`` leave the beam (and count from
``minlenratio`` on); ``<eos>`` appended to all at the maximum length
(``maxlenratio``); end detection when ``maxlenratio`` is 0. An utterance whose
search has ended leaves the batch. The decoder attends to each utterance's own
frames only, so an utterance gets the hypotheses it gets alone. With
``cache_keys_values`` (the default, where the decoder allows it) the decoder projects
each prefix position and each utterance's encoder output to keys and values once,
not at every step for every hypothesis as ESPnet's decoder step does
(``espnet_reuse.decoding.decoder_step``).

Each step reads as ESPnet's search loop: score (``_score``), prune to the beam
(``_prune``), record the hypotheses that ended (``_record_ended``), drop the
utterances whose search has ended (``_drop_finished``). A step synchronises with the
host once: to learn which utterances have ended.
"""

from typing import Any, Dict, List, NamedTuple

import torch

from espnet_reuse import espnet_api
from espnet_reuse.decoding.attention_search import check_hybrid
from espnet_reuse.decoding.beam_rules import (
    BLANK,
    Ended,
    end_detected,
    gather,
    length_limit,
    rank,
)
from espnet_reuse.decoding.ctc_prefix_score import CTCPrefixScorer
from espnet_reuse.decoding.decoder_step import DecoderStep, EspnetDecoderStep, supports
from espnet_reuse.decoding.inference import EncoderSearch, Hypothesis
from espnet_reuse.decoding.scorer import BatchScorer

PRE_BEAM_RATIO = 1.5  # ESPnet's pre-beam: int(1.5 * beam_size) tokens per hypothesis


class _Beam(NamedTuple):
    """The live state of the search: ``beam_size`` rows per active utterance,
    utterance-major."""

    yseq: torch.Tensor  # (row, length) tokens from <sos>
    score: torch.Tensor  # (row,) accumulated weighted score; -inf: an empty slot
    states: Dict[str, Any]  # each scorer's state of the rows


class _Active(NamedTuple):
    """The utterances still searched and where their search stops."""

    utterances: List[int]  # their indices in the batch, in its order
    ids: torch.Tensor  # (active,) the same on the device
    last_step: torch.Tensor  # (batch,) <eos> forced at that step
    first_counted: torch.Tensor  # (batch,) an ended hypothesis counts from that step


class BatchJointSearch(EncoderSearch):
    """ESPnet's joint CTC/attention beam search for a batch of utterances at once.

    Args:
        model: an ESPnet ASR model with a Transformer-type attention decoder.
        beam_size: hypotheses kept per utterance.
        ctc_weight: CTC's share of the score (1: CTC alone, 0: the decoder alone).
        penalty: length bonus per token.
        maxlenratio: maximum output length (0: the frames, with end detection).
        minlenratio: minimum output length.
        nbest: hypotheses per utterance from ``nbest``.
        cache_keys_values: step the decoder with ``DecoderStep`` (where it ``supports``
            the decoder): keys and values projected once, not at every step.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        beam_size: int = 10,
        ctc_weight: float = 0.3,
        penalty: float = 0.0,
        maxlenratio: float = 0.0,
        minlenratio: float = 0.0,
        nbest: int = 1,
        cache_keys_values: bool = True,
    ) -> None:
        check_hybrid(model, ctc_weight)
        decoder = model.decoder
        if not isinstance(decoder, espnet_api.BaseTransformerDecoder):
            raise ValueError(
                f"the batched joint search needs a Transformer-type decoder with "
                f"forward_one_step, not {type(decoder).__name__}: use decoder: espnet_joint_beam"
            )
        vocab = len(model.token_list)
        if not 1 <= beam_size <= vocab:
            raise ValueError(
                f"beam_size must lie in [1, {vocab}] (the vocabulary), got {beam_size}"
            )
        if nbest < 1:
            raise ValueError(f"nbest must be at least 1, got {nbest}")
        self.model = model
        self.beam_size = beam_size
        self.ctc_weight = ctc_weight
        self.penalty = penalty
        self.maxlenratio = maxlenratio
        self.minlenratio = minlenratio
        self.n_best = nbest
        self.vocab = vocab
        self.pre_beam = int(PRE_BEAM_RATIO * beam_size)
        # ESPnet drops a scorer of weight 0 and pre-beams only with both scorers
        self.use_decoder = ctc_weight < 1.0
        self.use_ctc = ctc_weight > 0.0
        self.do_pre_beam = self.use_decoder and self.use_ctc and self.pre_beam < vocab
        self.cache = cache_keys_values and self.use_decoder and supports(decoder)

    def __call__(self, encoder_output: torch.Tensor, lengths: torch.Tensor) -> List[Hypothesis]:
        return [found[0] for found in self.nbest(encoder_output, lengths)]

    def nbest(self, encoder_output: torch.Tensor, lengths: torch.Tensor) -> List[List[Hypothesis]]:
        """Up to ``nbest`` hypotheses per utterance, best first (an utterance that ends no
        hypothesis gets an empty one of score -inf, as ESPnet gives none), from the
        encoder output (batch, time, D) and its lengths (batch,)."""
        frames = lengths.tolist()
        results: List[List[Hypothesis]] = [[] for _ in frames]
        searched = [b for b, t in enumerate(frames) if t > 0]  # no frame: no hypothesis
        minlenratio = self.minlenratio
        while searched:
            index = torch.tensor(searched, device=encoder_output.device)
            ended = self._search(encoder_output[index], [frames[b] for b in searched], minlenratio)
            for b, found in zip(searched, rank(ended, len(searched), self.n_best)):
                results[b] = found
            if minlenratio < 0.1:
                break
            # ESPnet: an utterance that ended no hypothesis, again with a smaller minimum
            minlenratio = max(0.0, minlenratio - 0.1)
            searched = [b for b in searched if not results[b]]
        return [found or [Hypothesis([], float("-inf"))] for found in results]

    def _search(self, encoder_output: torch.Tensor, frames: List[int], minlenratio: float) -> Ended:
        """Every hypothesis that ended, step by step, for a batch of utterances."""
        device = encoder_output.device
        scorers = self._scorers(encoder_output, torch.tensor(frames, device=device))
        n_rows = len(frames) * self.beam_size
        first = torch.arange(n_rows, device=device) % self.beam_size == 0
        beam = _Beam(
            yseq=torch.full((n_rows, 1), self.model.sos, dtype=torch.long, device=device),
            score=torch.zeros(n_rows, dtype=encoder_output.dtype, device=device).masked_fill(
                ~first, float("-inf")
            ),
            states={name: scorer.init_state() for name, scorer in scorers.items()},
        )
        maxlen = [length_limit(self.maxlenratio, t, maximum=True) for t in frames]
        minlen = [length_limit(minlenratio, t, maximum=False) for t in frames]
        active = _Active(
            utterances=list(range(len(frames))),
            ids=torch.arange(len(frames), device=device),
            last_step=torch.tensor(maxlen, device=device) - 1,
            first_counted=torch.tensor(minlen, device=device),
        )
        # best score of the hypotheses that ended at each step, per utterance
        ended_best = torch.full(
            (len(frames), max(maxlen)), float("-inf"), dtype=torch.float64, device=device
        )
        ended: List[tuple] = []
        step = 0
        while active.utterances:
            weighted, scored, scoring_ids = self._score(beam, scorers)
            beam, tokens, new_score = self._prune(beam, scorers, weighted, scored, scoring_ids)
            beam, done = self._record_ended(
                beam, active, tokens, new_score, step, ended, ended_best
            )
            finished = done.tolist()  # the step's one synchronisation
            step += 1
            if any(finished):
                beam, active = self._drop_finished(beam, scorers, active, finished, frames)
        return gather(ended, self.model.eos)

    def _scorers(
        self, encoder_output: torch.Tensor, lengths: torch.Tensor
    ) -> Dict[str, BatchScorer]:
        """The full scorer (the decoder) first, then the partial one (CTC), as ESPnet
        orders them; a scorer of weight 0 is left out, as ESPnet leaves it."""
        scorers: Dict[str, BatchScorer] = {}
        if self.use_decoder:
            valid = torch.arange(encoder_output.size(1), device=lengths.device) < lengths[:, None]
            step = DecoderStep if self.cache else EspnetDecoderStep
            scorers["decoder"] = step(
                self.model.decoder, encoder_output, valid[:, None], self.beam_size
            )
        if self.use_ctc:
            log_probs = self.model.ctc.log_softmax(encoder_output)
            scorers["ctc"] = CTCPrefixScorer(
                log_probs, lengths, self.beam_size, BLANK, self.model.eos
            )
        return scorers

    def _score(self, beam: _Beam, scorers: Dict[str, BatchScorer]):
        """The weighted score (row, vocab) of every extension of every row, ESPnet's
        way: the decoder's and the length bonus, the pre-beam on those, CTC's on the
        pre-beam; with what each scorer's ``select`` needs, and the pre-beam's tokens."""
        n_rows = beam.yseq.size(0)
        weighted = torch.zeros(n_rows, self.vocab, dtype=beam.score.dtype, device=beam.yseq.device)
        scored = {}
        if "decoder" in scorers:
            scores, scored["decoder"] = scorers["decoder"].score(beam.yseq, beam.states["decoder"])
            weighted += (1.0 - self.ctc_weight) * scores
        if self.penalty != 0.0:
            weighted += self.penalty
        scoring_ids = None
        if self.do_pre_beam:
            scoring_ids = torch.topk(weighted, self.pre_beam, dim=-1)[1]
        if "ctc" in scorers:
            scores, scored["ctc"] = scorers["ctc"].score(beam.yseq, beam.states["ctc"], scoring_ids)
            weighted += self.ctc_weight * scores
        weighted += beam.score[:, None]
        return weighted, scored, scoring_ids

    def _prune(self, beam: _Beam, scorers, weighted, scored, scoring_ids):
        """The best ``beam_size`` extensions per utterance: the new beam (scores of the
        new hypotheses not yet masked), its last tokens (row,) and its scores (row,)."""
        beam_size, vocab = self.beam_size, self.vocab
        n_rows = beam.yseq.size(0)
        best, best_ids = weighted.view(-1, beam_size * vocab).topk(beam_size, dim=1)
        offsets = torch.arange(0, n_rows, beam_size, device=best_ids.device)[:, None]
        rows = (torch.div(best_ids, vocab, rounding_mode="trunc") + offsets).view(-1)
        tokens = (best_ids % vocab).view(-1)
        new = beam._replace(
            yseq=torch.cat((beam.yseq[rows], tokens[:, None]), 1),
            states={
                name: scorer.select(scored[name], scoring_ids, rows, tokens)
                for name, scorer in scorers.items()
            },
        )
        return new, tokens, best.view(-1)

    def _record_ended(
        self,
        beam: _Beam,
        active: _Active,
        tokens: torch.Tensor,
        new_score: torch.Tensor,
        step: int,
        ended: List[tuple],
        ended_best: torch.Tensor,
    ):
        """Record the rows that ended at ``step`` (``<eos>``, or forced at the maximum
        length; counted from the minimum) and take them out of the beam. Returns the
        beam and which active utterances are done (active,)."""
        beam_size = self.beam_size
        forced = active.last_step[active.ids] == step  # (active,)
        counted = active.first_counted[active.ids] <= step
        forced_rows = forced.repeat_interleave(beam_size)
        ends = (tokens == self.model.eos) | forced_rows
        ended_score = new_score.masked_fill(
            ~(ends & counted.repeat_interleave(beam_size)), float("-inf")
        )
        ended.append((active.ids.repeat_interleave(beam_size), beam.yseq, forced_rows, ended_score))
        ended_best[active.ids, step] = ended_score.view(-1, beam_size).max(1)[0].double()
        beam = beam._replace(score=new_score.masked_fill(ends, float("-inf")))
        done = forced | ~torch.isfinite(beam.score.view(-1, beam_size)).any(1)
        if self.maxlenratio == 0.0:
            done = done | end_detected(ended_best[active.ids], step)
        return beam, done

    def _drop_finished(
        self,
        beam: _Beam,
        scorers: Dict[str, BatchScorer],
        active: _Active,
        finished: List[bool],
        frames: List[int],
    ):
        """The beam and the active utterances without those ``finished``, every scorer
        trimmed to the longest utterance left."""
        keep = [j for j, f in enumerate(finished) if not f]
        utterances = [active.utterances[j] for j in keep]
        if not utterances:
            return beam, active._replace(utterances=utterances)
        device = beam.yseq.device
        kept = torch.tensor(keep, device=device)
        active = active._replace(utterances=utterances, ids=active.ids[kept])
        time = max(frames[b] for b in utterances)
        rows = kept[:, None] * self.beam_size + torch.arange(self.beam_size, device=device)
        rows = rows.view(-1)
        beam = _Beam(
            yseq=beam.yseq[rows],
            score=beam.score[rows],
            states={
                name: scorer.keep(beam.states[name], kept, rows, time)
                for name, scorer in scorers.items()
            },
        )
        return beam, active

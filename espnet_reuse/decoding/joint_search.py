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

A step synchronises with the host once: to learn which utterances have ended.
"""

from typing import List, NamedTuple, Optional, Union

import torch

from espnet_reuse import espnet_api
from espnet_reuse.decoding.attention_search import check_hybrid
from espnet_reuse.decoding.beam_rules import BLANK, Ended, end_detected, gather, length_limit, rank
from espnet_reuse.decoding.ctc_prefix_score import CTCPrefixScorer, CTCPrefixState
from espnet_reuse.decoding.decoder_step import DecoderStep, SelfAttentionCache, supports
from espnet_reuse.decoding.inference import EncoderSearch, Hypothesis

PRE_BEAM_RATIO = 1.5  # ESPnet's pre-beam: int(1.5 * beam_size) tokens per hypothesis


class _Beam(NamedTuple):
    """The live state of the search: ``hyps`` rows an active utterance, utterance-major."""

    yseq: torch.Tensor  # (row, length) tokens from <sos>
    score: torch.Tensor  # (row,) accumulated weighted score; -inf: an empty slot
    # the decoder's: ESPnet's layer outputs (row, length - 1, D) per layer, or DecoderStep's
    cache: Union[None, List[torch.Tensor], SelfAttentionCache]
    ctc: Optional[CTCPrefixState]
    memory: Optional[torch.Tensor]  # (row, time, D) the row's encoder output; None: cached
    memory_mask: Optional[torch.Tensor]  # (row, 1, time) true on its frames; None: cached


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
        hyps, model = self.beam_size, self.model
        maxlen = [length_limit(self.maxlenratio, t, maximum=True) for t in frames]
        minlen = [length_limit(minlenratio, t, maximum=False) for t in frames]
        lengths = torch.tensor(frames, device=device)
        ctc = None
        if self.use_ctc:
            log_probs = model.ctc.log_softmax(encoder_output)
            ctc = CTCPrefixScorer(log_probs, lengths, hyps, BLANK, model.eos)
        rows = torch.arange(len(frames), device=device).repeat_interleave(hyps)
        first = torch.arange(rows.numel(), device=device) % hyps == 0
        valid = torch.arange(encoder_output.size(1), device=device)[None, :] < lengths[:, None]
        beam = _Beam(
            yseq=torch.full((rows.numel(), 1), model.sos, dtype=torch.long, device=device),
            score=torch.zeros(rows.numel(), dtype=encoder_output.dtype, device=device).masked_fill(
                ~first, float("-inf")
            ),
            cache=None,
            ctc=ctc.initial_state() if ctc is not None else None,
            memory=None if self.cache else encoder_output[rows],
            memory_mask=None if self.cache else valid[rows][:, None, :],
        )
        step = None
        if self.cache:
            step = DecoderStep(model.decoder, encoder_output, valid[:, None], hyps)
        return self._loop(beam, ctc, step, frames, maxlen, minlen)

    def _loop(
        self,
        beam: "_Beam",
        ctc: Optional[CTCPrefixScorer],
        decoder_step: Optional[DecoderStep],
        frames: List[int],
        maxlen: List[int],
        minlen: List[int],
    ) -> Ended:
        """The steps of ``_search`` until every utterance has ended."""
        device = beam.yseq.device
        hyps, model = self.beam_size, self.model
        active = list(range(len(frames)))  # utterances still searched, in the batch's order
        active_ids = torch.arange(len(frames), device=device)
        last_step = torch.tensor(maxlen, device=device) - 1  # (batch,) <eos> forced there
        first_counted = torch.tensor(minlen, device=device)  # (batch,)
        # best score of the hypotheses that ended at each step, per utterance
        ended_best = torch.full(
            (len(frames), max(maxlen)), float("-inf"), dtype=torch.float64, device=device
        )
        ended: List[tuple] = []
        step = 0
        while active:
            beam, tokens, new_score = self._step(beam, step, ctc, decoder_step)
            forced = last_step[active_ids] == step  # (active,)
            counted = first_counted[active_ids] <= step
            forced_rows = forced.repeat_interleave(hyps)
            ends = (tokens == model.eos) | forced_rows
            ended_score = new_score.masked_fill(
                ~(ends & counted.repeat_interleave(hyps)), float("-inf")
            )
            ended.append((active_ids.repeat_interleave(hyps), beam.yseq, forced_rows, ended_score))
            ended_best[active_ids, step] = ended_score.view(-1, hyps).max(1)[0].double()
            beam = beam._replace(score=new_score.masked_fill(ends, float("-inf")))
            done = forced | ~torch.isfinite(beam.score.view(-1, hyps)).any(1)
            if self.maxlenratio == 0.0:
                done = done | end_detected(ended_best[active_ids], step)
            finished = done.tolist()  # the step's one synchronisation
            step += 1
            if any(finished):
                keep = [j for j, f in enumerate(finished) if not f]
                active = [active[j] for j in keep]
                if active:
                    kept = torch.tensor(keep, device=device)
                    active_ids = active_ids[kept]
                    time = max(frames[b] for b in active)
                    beam = self._keep(beam, ctc, decoder_step, kept, time)
        return gather(ended, model.eos)

    def _step(
        self,
        beam: _Beam,
        step: int,
        ctc: Optional[CTCPrefixScorer],
        decoder_step: Optional[DecoderStep],
    ):
        """One label-synchronous step: scores every extension of every live hypothesis
        and keeps the best ``beam_size`` per utterance. Returns the new beam (scores of
        the new hypotheses not yet masked), its last tokens and its scores."""
        hyps, vocab = self.beam_size, self.vocab
        n_rows = beam.yseq.size(0)
        weighted = torch.zeros(n_rows, vocab, dtype=beam.score.dtype, device=beam.yseq.device)
        cache = None
        if decoder_step is not None:
            decoder_scores, cache = decoder_step(beam.yseq, beam.cache)
            weighted += (1.0 - self.ctc_weight) * decoder_scores
        elif self.use_decoder:
            ys_mask = espnet_api.subsequent_mask(step + 1, device=beam.yseq.device).unsqueeze(0)
            decoder_scores, cache = self.model.decoder.forward_one_step(
                beam.yseq, ys_mask, beam.memory, beam.memory_mask, cache=beam.cache
            )
            weighted += (1.0 - self.ctc_weight) * decoder_scores
        if self.penalty != 0.0:
            weighted += self.penalty
        scoring_ids = None
        if self.do_pre_beam:
            scoring_ids = torch.topk(weighted, self.pre_beam, dim=-1)[1]
        if ctc is not None:
            ctc_scores, ctc_scored = ctc.score(beam.yseq[:, -1], step, beam.ctc, scoring_ids)
            weighted += self.ctc_weight * ctc_scores
        weighted += beam.score[:, None]
        best, best_ids = weighted.view(-1, hyps * vocab).topk(hyps, dim=1)
        offsets = torch.arange(0, n_rows, hyps, device=best_ids.device)[:, None]
        rows = (torch.div(best_ids, vocab, rounding_mode="trunc") + offsets).view(-1)
        tokens = (best_ids % vocab).view(-1)
        new = beam._replace(
            yseq=torch.cat((beam.yseq[rows], tokens[:, None]), 1),
            cache=self._select_cache(cache, rows),
            ctc=ctc.select(ctc_scored, scoring_ids, rows, tokens) if ctc is not None else None,
        )
        return new, tokens, best.view(-1)

    @staticmethod
    def _select_cache(cache, rows: torch.Tensor):
        """The decoder cache of the hypotheses ``rows``."""
        if isinstance(cache, SelfAttentionCache):
            return cache.select(rows)
        return [c[rows] for c in cache] if cache is not None else None

    def _keep(
        self,
        beam: _Beam,
        ctc: Optional[CTCPrefixScorer],
        decoder_step: Optional[DecoderStep],
        kept: torch.Tensor,
        frames: int,
    ) -> _Beam:
        """The beam of the utterances ``kept`` (positions among the active ones),
        trimmed to their longest, ``frames``."""
        device = beam.yseq.device
        rows = kept[:, None] * self.beam_size + torch.arange(self.beam_size, device=device)
        rows = rows.view(-1)
        state = None
        if ctc is not None:
            ctc.keep(kept, frames)
            state = ctc.keep_rows(beam.ctc, rows)
        if decoder_step is not None:
            decoder_step.keep(kept, frames)
        return _Beam(
            yseq=beam.yseq[rows],
            score=beam.score[rows],
            cache=self._select_cache(beam.cache, rows),
            ctc=state,
            memory=beam.memory[rows, :frames] if beam.memory is not None else None,
            memory_mask=beam.memory_mask[rows, :, :frames] if beam.memory is not None else None,
        )

"""CTC prefix scores for every hypothesis of every utterance of a batch, in one call.

The arithmetic of ESPnet's ``CTCPrefixScoreTH`` (Watanabe et al. 2017, Algorithm 2,
vectorised as in Seki et al. 2019), so that a hypothesis gets the score ESPnet's
joint search gives it (to float rounding: a log-sum of two terms is ``logaddexp``
here, ``logsumexp`` there), with its per-hypothesis Python loops replaced by tensor
operations: a step costs one loop over frames, whatever the
number of utterances and hypotheses. Hypotheses lie utterance-major: row ``h``
belongs to utterance ``h // hyps``. Frames past an utterance's length emit blank
with probability 1, as in ESPnet, so they change no prefix score of it. The scorer
is the search's partial scorer (``scorer.BatchScorer``).
"""

from typing import NamedTuple, Optional, Tuple

import torch

from espnet_reuse.decoding.scorer import BatchScorer

LOG_ZERO = -10000000000.0  # ESPnet's log(0) in CTC prefix scoring


class CTCPrefixState(NamedTuple):
    """The prefix state of each hypothesis."""

    r: torch.Tensor  # (time, 2, hyp): log forward probabilities ending in non-blank, blank
    score: torch.Tensor  # (hyp,): log prefix probability of the hypothesis


class CTCPrefixScorer(BatchScorer):
    """CTC prefix scoring of ``beam_size`` hypotheses for each utterance of a batch.

    Args:
        log_probs: (batch, time, vocab) CTC log-probabilities of the batch.
        lengths: (batch,) frames of each utterance.
        beam_size: hypotheses per utterance (rows ``b * beam_size`` to
            ``(b + 1) * beam_size - 1``).
        blank: the blank id.
        eos: the end-of-sentence id, scored as the prefix ending at the utterance's end.
    """

    def __init__(
        self,
        log_probs: torch.Tensor,
        lengths: torch.Tensor,
        beam_size: int,
        blank: int,
        eos: int,
    ) -> None:
        batch, time, vocab = log_probs.shape
        assert lengths.shape == (batch,), (lengths.shape, batch)
        padded = torch.arange(time, device=log_probs.device)[None, :] >= lengths[:, None]
        x = log_probs.masked_fill(padded[..., None], LOG_ZERO)
        x[..., blank] = x[..., blank].masked_fill(padded, 0.0)
        # (time, 2, batch, vocab): emitting each token (non-blank), emitting blank
        xt = x.transpose(0, 1)
        self.x = torch.stack([xt, xt[:, :, blank, None].expand(-1, -1, vocab)], dim=1)
        self.vocab = vocab
        self.beam_size = beam_size
        self.blank = blank
        self.eos = eos
        utterance = torch.arange(batch, device=log_probs.device)
        self.utterance = utterance.repeat_interleave(beam_size)  # (hyp,) the utterance of a row
        self.end_frames = (lengths - 1).repeat_interleave(beam_size)  # (hyp,)

    @property
    def time(self) -> int:
        """Frames of the longest utterance."""
        return self.x.size(0)

    def init_state(self) -> CTCPrefixState:
        """The state of the empty prefix (``<sos>``) for every row."""
        n_hyp = self.utterance.numel()
        r = torch.full((self.time, 2, n_hyp), LOG_ZERO, dtype=self.x.dtype, device=self.x.device)
        r[:, 1] = torch.cumsum(self.x[:, 0, :, self.blank], 0)[:, self.utterance]
        return CTCPrefixState(r, torch.zeros(n_hyp, dtype=self.x.dtype, device=self.x.device))

    def keep(
        self, state: CTCPrefixState, utterances: torch.Tensor, rows: torch.Tensor, time: int
    ) -> CTCPrefixState:
        """Keep only ``utterances`` (indices in the current batch), trimmed to ``time``
        frames, the longest of them; ``state`` of their hypotheses ``rows``."""
        self.x = self.x[:time, :, utterances]
        self.end_frames = self.end_frames.view(-1, self.beam_size)[utterances].reshape(-1)
        batch = utterances.numel()
        self.utterance = torch.arange(batch, device=self.x.device).repeat_interleave(self.beam_size)
        return CTCPrefixState(state.r[:time, :, rows], state.score[rows])

    def score(
        self,
        yseq: torch.Tensor,
        state: CTCPrefixState,
        scoring_ids: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Scores of every next token for every hypothesis.

        Args:
            yseq: (hyp, length) the hypotheses, from ``<sos>``.
            state: the hypotheses' prefix state.
            scoring_ids: (hyp, pre_beam) the tokens to score (ESPnet's pre-beam), or
                None for all; other tokens but ``<eos>`` get log(0).

        Returns:
            The score increments (hyp, vocab), log prefix probability of the extended
            prefix minus that of the prefix, and the extended prefixes' forward
            probabilities (time, 2, hyp, scored) and log prefix probabilities
            (hyp, vocab), for ``select``.
        """
        r_prev, s_prev = state
        last_ids = yseq[:, -1]  # (hyp,) <sos> at the start
        output_length = yseq.size(1) - 1  # tokens in every hypothesis, <sos> not counted
        n_hyp = last_ids.numel()
        if scoring_ids is None:
            x_ = self.x[:, :, self.utterance]  # (time, 2, hyp, vocab)
            scored = torch.arange(self.vocab, device=self.x.device).expand(n_hyp, -1)
        else:
            flat = scoring_ids + (self.utterance * self.vocab)[:, None]
            x_ = self.x.reshape(self.time, 2, -1)[:, :, flat.reshape(-1)]
            x_ = x_.view(self.time, 2, n_hyp, scoring_ids.size(1))
            scored = scoring_ids
        n_scored = scored.size(1)
        # per frame: the forward probabilities ending in non-blank (0), in blank (2), and
        # log_phi (1), the prefix's probability before the new token, between them so
        # that one logaddexp makes both forward probabilities of a frame
        forward = torch.full(
            (self.time, 3, n_hyp, n_scored), LOG_ZERO, dtype=self.x.dtype, device=self.x.device
        )
        if output_length == 0:
            forward[0, 0] = x_[0, 0]
        r_sum = torch.logaddexp(r_prev[:, 0], r_prev[:, 1])  # (time, hyp)
        repeats_last = (scored == last_ids[:, None])[None]  # a repeat needs a blank between
        log_phi = forward[:, 1]
        torch.where(repeats_last, r_prev[:, 1, :, None], r_sum[:, :, None], out=log_phi)
        start = max(output_length, 1)
        # ESPnet's logsumexp of pairs, as logaddexp, for both of a frame at once:
        # r_n[t] = logaddexp(r_n[t - 1], log_phi[t - 1]) + x_n[t],
        # r_b[t] = logaddexp(r_n[t - 1], r_b[t - 1]) + x_b[t]
        r_n, phi_b, r = forward[:, 0:1].unbind(0), forward[:, 1:3].unbind(0), forward[:, 0::2]
        new, x_t = r.unbind(0), x_.unbind(0)  # frame views made once: the loop runs every frame
        for t in range(start, self.time):
            torch.logaddexp(r_n[t - 1], phi_b[t - 1], out=new[t])
            new[t].add_(x_t[t])
        log_phi_x = torch.cat((log_phi[0].unsqueeze(0), log_phi[:-1]), dim=0) + x_[:, 0]
        log_psi_scored = torch.logsumexp(
            torch.cat((log_phi_x[start:], r[start - 1, 0].unsqueeze(0)), dim=0), dim=0
        )
        if scoring_ids is None:
            log_psi = log_psi_scored
        else:
            log_psi = torch.full(
                (n_hyp, self.vocab), LOG_ZERO, dtype=self.x.dtype, device=self.x.device
            )
            log_psi.scatter_(1, scoring_ids, log_psi_scored)
        rows = torch.arange(n_hyp, device=self.x.device)
        log_psi[:, self.eos] = r_sum[self.end_frames, rows]
        if self.eos != self.blank:
            log_psi[:, self.blank] = LOG_ZERO
        return log_psi - s_prev[:, None], (r, log_psi)

    def select(
        self,
        scored: Tuple[torch.Tensor, torch.Tensor],
        scoring_ids: Optional[torch.Tensor],
        rows: torch.Tensor,
        tokens: torch.Tensor,
    ) -> CTCPrefixState:
        """The state of the hypotheses made by appending ``tokens`` (new,) to the
        hypotheses ``rows`` (new,), from ``score``'s second output."""
        r, log_psi = scored
        if scoring_ids is None:
            position = tokens
        else:  # the pre-beam column of the token; <eos> may lie outside it (any column)
            position = (scoring_ids[rows] == tokens[:, None]).int().argmax(dim=1)
        return CTCPrefixState(r[:, :, rows, position], log_psi[rows, tokens])

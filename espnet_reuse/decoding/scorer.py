"""What the batched joint search asks of each of its scorers (the decoder, CTC).

As ESPnet's ``ScorerInterface`` and ``PartialScorerInterface``, for hypotheses of a
batch of utterances at once: rows lie utterance-major, ``beam_size`` rows per
utterance, row ``r`` belonging to utterance ``r // beam_size``. A scorer keeps what
belongs to the utterances (their encoder output, projected or not) and hands the
search a state per row, which the search carries and never reads.
"""

from typing import Any, Optional, Protocol, Tuple

import torch


class BatchScorer(Protocol):
    """A scorer of the next token of every hypothesis of a batch."""

    def init_state(self) -> Any:
        """The state of every row before the first step (the prefix ``<sos>``)."""

    def score(
        self, yseq: torch.Tensor, state: Any, scoring_ids: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Any]:
        """Log-scores (row, vocab) of each next token after each prefix of ``yseq``
        (row, length), and what ``select`` needs. ``scoring_ids`` (row, pre_beam): the
        tokens a partial scorer scores (ESPnet's pre-beam); a full scorer ignores it."""

    def select(
        self,
        scored: Any,
        scoring_ids: Optional[torch.Tensor],
        rows: torch.Tensor,
        tokens: torch.Tensor,
    ) -> Any:
        """The state of the hypotheses made by appending ``tokens`` (new,) to the rows
        ``rows`` (new,), from ``score``'s second output."""

    def keep(self, state: Any, utterances: torch.Tensor, rows: torch.Tensor, time: int) -> Any:
        """Keep only ``utterances`` (indices in the current batch), their encoder output
        trimmed to ``time`` frames; returns ``state`` of their ``rows``."""

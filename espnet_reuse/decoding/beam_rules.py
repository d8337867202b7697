"""ESPnet's beam-search rules outside the scoring, for a batch of utterances: output
length limits (``maxlenratio``, ``minlenratio``), end detection (``end_detect``), and the
n-best list of the hypotheses that ended, in ESPnet's order."""

from typing import List, NamedTuple

import numpy as np
import torch

from espnet_reuse.decoding.inference import Hypothesis

BLANK = 0  # ESPnet's blank id; a search's output never holds it
END_MARGIN = float(np.log(1 * np.exp(-10)))  # ESPnet's end detection: D_end
END_STEPS = 3  # ESPnet's end detection: M


def length_limit(ratio: float, frames: int, maximum: bool) -> int:
    """ESPnet's maximum (``maximum``) or minimum output length for ``frames`` frames:
    a positive ratio scales them, a negative one is the length itself, 0 is the
    frames for the maximum and 0 for the minimum."""
    if ratio < 0:
        return -int(ratio)
    if maximum:
        return frames if ratio == 0 else max(1, int(ratio * frames))
    return int(ratio * frames)


class Ended(NamedTuple):
    """The hypotheses that ended, in the order they ended, on the host."""

    utterance: np.ndarray  # (n,) index of the utterance in the decoded batch
    tokens: np.ndarray  # (n, length) from <sos>, then <eos> unless forced, then padding
    length: np.ndarray  # (n,) tokens from <sos> to the last token searched
    forced: np.ndarray  # (n,) ended at the maximum length: <eos> to be appended
    score: np.ndarray  # (n,)


def rank(ended: Ended, batch: int, nbest: int) -> List[List[Hypothesis]]:
    """The ``nbest`` best ended hypotheses of each utterance (ESPnet's order: by
    score, ties in the order they ended)."""
    candidates: List[list] = [[] for _ in range(batch)]
    for b, tokens, length, forced, score in zip(*ended):
        # without <sos> and <eos>; forced: its last token is the last one searched
        end = length if forced else length - 1
        candidates[b].append((float(score), tokens[1:end]))
    results = []
    for found in candidates:
        found.sort(key=lambda c: -c[0])
        results.append(
            [
                Hypothesis([int(t) for t in tokens if t != BLANK], score)
                for score, tokens in found[:nbest]
            ]
        )
    return results


def gather(ended: List[tuple], eos: int) -> Ended:
    """The hypotheses that ended and count, brought to the host in one transfer a
    field. ``ended`` holds, a step each: utterance (row,), yseq (row, length), forced
    (row,) and score (row,), -inf where no hypothesis ended or it does not count."""
    width = max(yseq.size(1) for _, yseq, _, _ in ended)
    utterance, tokens, forced, score = (
        torch.cat(parts)
        for parts in zip(
            *(
                (u, torch.nn.functional.pad(y, (0, width - y.size(1)), value=eos), f, s)
                for u, y, f, s in ended
            )
        )
    )
    length = torch.cat([torch.full_like(u, y.size(1)) for u, y, _, _ in ended])
    keep = torch.isfinite(score)
    return Ended(*(t[keep].cpu().numpy() for t in (utterance, tokens, length, forced, score)))


def end_detected(ended_best: torch.Tensor, step: int) -> torch.Tensor:
    """ESPnet's end detection (``end_detect``) for each utterance at ``step``: the
    best hypotheses of each of the last ``END_STEPS`` lengths that can have ended
    are all far below the best ended one."""
    overall = ended_best.max(1)[0]
    detected = torch.ones_like(overall, dtype=torch.bool)
    for m in range(END_STEPS):
        ended_at = step - m - 2  # a hypothesis of i - m tokens with <sos>, <eos>
        if ended_at < 0:
            return torch.zeros_like(detected)
        same_length = ended_best[:, ended_at]
        detected &= torch.isfinite(same_length) & (same_length - overall < END_MARGIN)
    return detected

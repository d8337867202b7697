"""Layer-wise probing: linear classifiers on frozen hidden states, for phones per frame
and for speakers per frame and per utterance (mean-pooled)."""

from typing import Dict, List, Sequence, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FRAME_STEP = 2  # every 2nd frame of an utterance goes to the frame-level speaker probe


def probe_accuracy(
    train_x: List[np.ndarray], train_y: np.ndarray, test_x: List[np.ndarray], test_y: np.ndarray
) -> List[float]:
    """Accuracy on the test rows of a probe trained per layer.

    ``train_x[l]`` (N, D) holds layer ``l``'s hidden states of the training rows.
    """
    accuracies = []
    for layer_train, layer_test in zip(train_x, test_x):
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
        probe.fit(layer_train, train_y)
        accuracies.append(float(probe.score(layer_test, test_y)))
    return accuracies


def split_by_speaker(utts: Sequence[str], speakers: Dict[str, str]) -> Tuple[List[str], List[str]]:
    """Two disjoint sets of utterances of the same speakers: each speaker's utterances,
    sorted, alternate between them; a speaker with one utterance is left out."""
    by_speaker: Dict[str, List[str]] = {}
    for utt in sorted(utts):
        by_speaker.setdefault(speakers[utt], []).append(utt)
    train, test = [], []
    for spoken in by_speaker.values():
        if len(spoken) > 1:
            train += spoken[::2]
            test += spoken[1::2]
    return train, test


def probed_speakers(utts: Sequence[str], speakers: Dict[str, str]) -> Dict[str, str]:
    """``speakers`` where probes can tell two or more of them apart among ``utts`` (two
    speakers with two utterances each, ``split_by_speaker``), else none."""
    train, _ = split_by_speaker(utts, speakers)
    return speakers if len({speakers[u] for u in train}) > 1 else {}


def speaker_probes(
    hidden: Dict[str, List[np.ndarray]], speakers: Dict[str, str]
) -> Dict[str, object]:
    """Speaker accuracy per layer of a frame-level probe (every ``FRAME_STEP``-th frame)
    and an utterance-level probe (hidden states mean-pooled over the utterance), each
    trained on one half of every speaker's utterances and scored on the other.

    ``hidden[utt][l]`` (T, D): layer ``l``'s hidden states of an utterance. Returns
    ``frame`` and ``utterance`` accuracies by layer, ``speakers`` and ``chance`` (1 /
    speakers).
    """
    if not probed_speakers(list(hidden), speakers):
        raise ValueError("speaker probes need two or more speakers with two utterances each")
    train, test = split_by_speaker(list(hidden), speakers)
    layers = len(next(iter(hidden.values())))

    def frames(utts: List[str]) -> Tuple[List[np.ndarray], np.ndarray]:
        per_layer = [
            np.concatenate([hidden[u][layer][::FRAME_STEP] for u in utts])
            for layer in range(layers)
        ]
        counts = [len(hidden[u][0][::FRAME_STEP]) for u in utts]
        return per_layer, np.concatenate([[speakers[u]] * n for u, n in zip(utts, counts)])

    def means(utts: List[str]) -> Tuple[List[np.ndarray], np.ndarray]:
        per_layer = [
            np.stack([hidden[u][layer].mean(axis=0) for u in utts]) for layer in range(layers)
        ]
        return per_layer, np.array([speakers[u] for u in utts])

    count = len({speakers[u] for u in train})
    return {
        "frame": probe_accuracy(*frames(train), *frames(test)),
        "utterance": probe_accuracy(*means(train), *means(test)),
        "speakers": count,
        "chance": 1.0 / count,
    }


def frame_probe(
    hidden: Dict[str, np.ndarray], labels: Dict[str, np.ndarray], train: List[str], test: List[str]
) -> float:
    """Accuracy of one frame-level probe: trained on the frames of ``train`` utterances
    (``hidden[utt]`` (T, D), ``labels[utt]`` (T,)), scored on those of ``test``."""

    def stack(utts: List[str]) -> Tuple[List[np.ndarray], np.ndarray]:
        return [np.concatenate([hidden[u] for u in utts])], np.concatenate(
            [labels[u] for u in utts]
        )

    return probe_accuracy(*stack(train), *stack(test))[0]

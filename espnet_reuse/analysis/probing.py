"""Layer-wise probing: linear classifiers on frozen hidden states, for phones per frame
and for speakers per frame and per utterance (mean-pooled), with 95 % intervals that
resample the test utterances (frames of one utterance are not independent)."""

from typing import Dict, List, NamedTuple, Sequence, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from espnet_reuse.bootstrap import bootstrap_wer

FRAME_STEP = 2  # every 2nd frame of an utterance goes to the frame-level speaker probe


class ProbeRows(NamedTuple):
    """Rows a probe is trained or scored on: frames or mean-pooled utterances."""

    hidden: List[np.ndarray]  # per layer (N, D)
    labels: np.ndarray  # (N,)
    utts: np.ndarray  # (N,) the utterance each row comes from


def probe_correct(train: ProbeRows, test: ProbeRows) -> List[np.ndarray]:
    """Per layer, whether a probe trained on ``train`` labels each ``test`` row right."""
    correct = []
    for layer_train, layer_test in zip(train.hidden, test.hidden):
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
        probe.fit(layer_train, train.labels)
        correct.append(probe.predict(layer_test) == test.labels)
    return correct


def accuracy_interval(correct: np.ndarray, utts: np.ndarray) -> Tuple[float, float]:
    """95 % bootstrap interval (0-1) of the accuracy of rows ``correct`` (N,), resampling
    the utterances ``utts`` (N,) they come from (``bootstrap.bootstrap_wer`` on the
    wrong rows of each utterance)."""
    _, utterance = np.unique(utts, return_inverse=True)
    wrong = np.bincount(utterance, weights=~correct)
    interval = bootstrap_wer(wrong, np.bincount(utterance))
    return 1 - interval.high / 100, 1 - interval.low / 100


def probe_layers(train: ProbeRows, test: ProbeRows) -> Dict[str, list]:
    """Per layer, ``accuracy`` on ``test`` of a probe trained on ``train``, and its
    95 % ``interval`` [low, high] over the test utterances."""
    correct = probe_correct(train, test)
    return {
        "accuracy": [float(c.mean()) for c in correct],
        "interval": [list(accuracy_interval(c, test.utts)) for c in correct],
    }


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
    ``frame`` and ``utterance`` accuracies by layer, their 95 % ``frame_interval`` and
    ``utterance_interval`` ([low, high] by layer), ``speakers`` and ``chance`` (1 /
    speakers).
    """
    if not probed_speakers(list(hidden), speakers):
        raise ValueError("speaker probes need two or more speakers with two utterances each")
    train, test = split_by_speaker(list(hidden), speakers)
    layers = len(next(iter(hidden.values())))

    def frames(utts: List[str]) -> ProbeRows:
        counts = [len(hidden[u][0][::FRAME_STEP]) for u in utts]
        return ProbeRows(
            [
                np.concatenate([hidden[u][layer][::FRAME_STEP] for u in utts])
                for layer in range(layers)
            ],
            np.repeat([speakers[u] for u in utts], counts),
            np.repeat(utts, counts),
        )

    def means(utts: List[str]) -> ProbeRows:
        per_layer = [
            np.stack([hidden[u][layer].mean(axis=0) for u in utts]) for layer in range(layers)
        ]
        return ProbeRows(per_layer, np.array([speakers[u] for u in utts]), np.array(utts))

    count = len({speakers[u] for u in train})
    frame = probe_layers(frames(train), frames(test))
    utterance = probe_layers(means(train), means(test))
    return {
        "frame": frame["accuracy"],
        "frame_interval": frame["interval"],
        "utterance": utterance["accuracy"],
        "utterance_interval": utterance["interval"],
        "speakers": count,
        "chance": 1.0 / count,
    }


def frame_probe(
    hidden: Dict[str, np.ndarray], labels: Dict[str, np.ndarray], train: List[str], test: List[str]
) -> Tuple[float, List[float]]:
    """Accuracy and its 95 % interval [low, high] of one frame-level probe: trained on
    the frames of ``train`` utterances (``hidden[utt]`` (T, D), ``labels[utt]`` (T,)),
    scored on those of ``test``."""

    def stack(utts: List[str]) -> ProbeRows:
        counts = [len(labels[u]) for u in utts]
        return ProbeRows(
            [np.concatenate([hidden[u] for u in utts])],
            np.concatenate([labels[u] for u in utts]),
            np.repeat(utts, counts),
        )

    result = probe_layers(stack(train), stack(test))
    return result["accuracy"][0], result["interval"][0]

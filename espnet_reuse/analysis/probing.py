"""Layer-wise phoneme probing: a linear classifier per layer on frozen hidden states."""

from typing import List

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def probe_accuracy(
    train_x: List[np.ndarray], train_y: np.ndarray, test_x: List[np.ndarray], test_y: np.ndarray
) -> List[float]:
    """Frame phone accuracy on the test frames of a probe trained per layer.

    ``train_x[l]`` (N, D) holds layer ``l``'s hidden states of the training frames.
    """
    accuracies = []
    for layer_train, layer_test in zip(train_x, test_x):
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
        probe.fit(layer_train, train_y)
        accuracies.append(float(probe.score(layer_test, test_y)))
    return accuracies

"""Probes (``espnet_reuse.analysis.probing``): disjoint utterances of the same speakers,
speaker probes that find speaker information where it was planted, and accuracy
intervals that resample utterances, not frames."""

import numpy as np
import pytest

from espnet_reuse.analysis.probing import (
    accuracy_interval,
    frame_probe,
    speaker_probes,
    split_by_speaker,
)


def test_each_speaker_is_split_into_disjoint_halves():
    speakers = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": "C"}
    train, test = split_by_speaker(list(speakers), speakers)
    assert (train, test) == (["a1", "a3", "b1"], ["a2", "b2"])  # C has one utterance


def planted(speaker_count=4, utts_each=6, frames=20, dim=8, seed=0):
    """Layer 0 carries a speaker offset in every frame, layer 1 is noise."""
    rng = np.random.default_rng(seed)
    offsets = 3.0 * rng.standard_normal((speaker_count, dim))
    hidden, speakers = {}, {}
    for s in range(speaker_count):
        for u in range(utts_each):
            utt = f"s{s}_u{u}"
            speakers[utt] = f"spk{s}"
            noise = rng.standard_normal((2, frames, dim))
            hidden[utt] = [noise[0] + offsets[s], noise[1]]
    return hidden, speakers


def test_speaker_probes_find_the_planted_layer():
    hidden, speakers = planted()
    result = speaker_probes(hidden, speakers)
    assert result["speakers"] == 4 and result["chance"] == 0.25
    assert result["frame"][0] > 0.9 and result["utterance"][0] == 1.0
    assert result["frame"][1] < 0.5  # noise: near chance
    for key in ("frame", "utterance"):
        for accuracy, (low, high) in zip(result[key], result[f"{key}_interval"]):
            assert low <= accuracy <= high
    assert result["utterance_interval"][0] == [1.0, 1.0]  # every test utterance right
    one_speaker = {u: h for u, h in hidden.items() if speakers[u] == "spk0"}
    with pytest.raises(ValueError, match="two or more speakers with two utterances"):
        speaker_probes(one_speaker, speakers)


def test_frame_probe_scores_held_out_utterances():
    hidden, speakers = planted()
    layer0 = {u: h[0] for u, h in hidden.items()}
    labels = {u: np.array([speakers[u]] * len(h)) for u, h in layer0.items()}
    train, test = split_by_speaker(list(hidden), speakers)
    accuracy, (low, high) = frame_probe(layer0, labels, train, test)
    assert accuracy > 0.9 and low <= accuracy <= high


def test_accuracy_intervals_resample_utterances():
    utts = np.repeat([f"u{i}" for i in range(20)], 50)  # 20 utterances of 50 frames
    # every utterance half right: resampling utterances cannot change the accuracy
    mixed = np.tile([True, False], 500)
    assert accuracy_interval(mixed, utts) == pytest.approx((0.5, 0.5))
    # the same 50 % from 10 utterances all right and 10 all wrong: as uncertain as
    # 20 coin flips, not 1000 (the binomial 95 % interval of 20 is about +-0.22)
    blocks = np.repeat([True, False] * 10, 50)
    low, high = accuracy_interval(blocks, utts)
    assert 0.25 < low < 0.33 and 0.67 < high < 0.75
    # two utterances, one right and one wrong: anything from 0 to 1
    assert accuracy_interval(np.array([True, False]), np.array(["a", "b"])) == (0.0, 1.0)

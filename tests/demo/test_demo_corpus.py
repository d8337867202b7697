"""The demo corpus: espeak-ng speech, phone alignments and the LibriSpeech layout."""

import ctypes.util
import random

import pytest
import soundfile

from espnet_reuse.demo.make_corpus import make_corpus, plan_speakers
from espnet_reuse.demo.sentences import sentence, vocabulary
from espnet_reuse.kaldi_data import read_table
from espnet_reuse.recipe.librispeech import prepare

needs_espeak = pytest.mark.skipif(
    ctypes.util.find_library("espeak-ng") is None, reason="libespeak-ng is not installed"
)
TINY_PARTS = {"train-clean-100": (2, 3, False), "test-other": (1, 2, True)}


def test_sentences_use_a_vocabulary_of_a_few_hundred_words():
    assert 200 <= len(vocabulary()) <= 500
    rng = random.Random(1)
    known = set(vocabulary())
    for _ in range(50):
        text = sentence(rng)
        assert text == text.upper() and set(text.lower().split()) <= known


def test_speakers_differ_between_parts():
    speakers = plan_speakers({"a": (5, 1, False), "b": (5, 1, True)}, seed=0)
    assert len({s.voice for s in speakers}) == 10
    assert all(s.noise is None for s in speakers[:5])
    assert all(s.noise == 25.0 for s in speakers[5:])
    training = plan_speakers({"train-clean-100": (40, 1, False)}, seed=0)
    noisy = [s.noise for s in training if s.noise is not None]
    assert 5 < len(noisy) < 30 and all(15 <= n <= 30 for n in noisy)


@needs_espeak
def test_alignments_tile_the_audio():
    from espnet_reuse.demo.espeak import SAMPLE_RATE, Espeak

    spoken = Espeak().synthesize("the quick brown fox", "en-us+f3", 160, 50)
    duration = len(spoken.audio) / SAMPLE_RATE
    phones = spoken.phones
    assert phones[0].start == 0.0
    assert phones[-1].end == pytest.approx(duration, abs=0.02)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(phones, phones[1:]))
    names = [p.phone for p in phones if p.phone != "sil"]
    assert 10 <= len(names) <= 20 and "f" in names and "k" in names


@needs_espeak
def test_make_corpus_writes_a_librispeech_tree_that_stage_1_reads(tmp_path):
    root = make_corpus(tmp_path / "demo", TINY_PARTS, nj=1)
    assert (root / "SPEAKERS.TXT").read_text().count("| train-clean-100") == 2
    flacs = sorted(root.glob("*/*/*/*.flac"))
    assert len(flacs) == 8 and soundfile.info(flacs[0]).samplerate == 16000
    ctm = (tmp_path / "demo" / "alignments" / "test-other.ctm").read_text().splitlines()
    assert {line.split()[0] for line in ctm} == {f.stem for f in flacs if "/test-other/" in str(f)}
    assert prepare(root, None, tmp_path / "data")[:2] == ["train_clean_100", "test_other"]
    assert len(read_table(tmp_path / "data" / "train_960" / "text")) == 6
    # a second call finds the finished corpus and leaves it alone
    mtime = flacs[0].stat().st_mtime
    make_corpus(tmp_path / "demo", TINY_PARTS, nj=1)
    assert flacs[0].stat().st_mtime == mtime

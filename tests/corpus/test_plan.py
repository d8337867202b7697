"""The corpus plan: books and voices disjoint between parts, harder "other" parts."""

import pytest

from espnet_reuse.corpus import plan


def test_books_are_disjoint_between_parts():
    seen = [book for books in plan.BOOKS.values() for book in books]
    assert len(seen) == len(set(seen)) == 10


@pytest.mark.parametrize("size", ["tiny", "demo", "study"])
def test_speakers_are_disjoint_and_other_parts_are_harder(size):
    speakers = plan.plan_speakers(plan.SIZES[size], seed=3)
    assert plan.plan_speakers(plan.SIZES[size], seed=3) == speakers  # deterministic
    assert len({s.id for s in speakers}) == len(speakers)
    parts_of = {}
    for s in speakers:
        parts_of.setdefault((s.voice.engine, s.voice.name, s.voice.rate, s.voice.warp), set()).add(
            s.part
        )
        if s.voice.engine in ("kokoro", "espeak"):
            # a voice of these engines speaks in one part only
            parts_of.setdefault((s.voice.engine, s.voice.name), set()).add(s.part)
    assert all(len(parts) == 1 for parts in parts_of.values())
    for s in speakers:
        if s.part.endswith("other"):
            assert 0.2 <= s.condition.rt60 <= 0.5 and 10 <= s.condition.snr <= 25
        elif not s.part.startswith("train"):
            assert s.condition == plan.Condition()
    kokoro_training = {s.voice.name for s in speakers if s.voice.engine == "kokoro"}
    assert kokoro_training  # every size has Kokoro speakers


def test_a_share_of_training_speakers_reads_in_the_hard_conditions():
    speakers = plan.plan_speakers(plan.SIZES["study"], seed=0)
    training = [s for s in speakers if s.part == "train-clean-100"]
    hard = [s for s in training if s.condition.rt60 is not None]
    assert 0.2 < len(hard) / len(training) < 0.4
    assert {s.condition.noise for s in hard} == {"white", "pink", "brown", "babble", "music"}


def test_sentences_are_consecutive_and_never_read_twice_in_a_part():
    speakers = plan.plan_speakers(plan.SIZES["demo"], seed=0)
    sentences = {
        book: [f"{book} {i}" for i in range(2000)]
        for books in plan.BOOKS.values()
        for book in books
    }
    plan.assign_sentences(speakers, sentences, seed=0)
    read = set()
    for s in speakers:
        assert s.book in plan.BOOKS[s.part]
        texts = plan.texts_of(s, sentences)
        numbers = [int(t.rsplit(" ", 1)[1]) for t in texts]
        assert len(texts) == s.utterances
        assert all((b - a) % 2000 == 1 for a, b in zip(numbers, numbers[1:]))  # consecutive
        for t in texts:
            assert (s.part, t) not in read
            read.add((s.part, t))
    too_few = {book: ["x"] * 5 for book in sentences}
    with pytest.raises(ValueError, match="too few sentences"):
        plan.assign_sentences(speakers, too_few, seed=0)

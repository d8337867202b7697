"""Book text to spoken forms and LibriSpeech transcripts."""

from espnet_reuse.corpus import text


def test_numbers_ordinals_and_abbreviations_are_spoken_as_words():
    spoken = text.spoken_form("Mr. Darcy paid 10,000 pounds on the 3rd of May, 1813.")
    assert spoken == (
        "mister Darcy paid ten thousand pounds on the third of May, eighteen thirteen."
    )
    assert text.spoken_form("It cost 2.5 shillings") == "It cost two point five shillings"


def test_transcripts_are_upper_case_words_with_apostrophes():
    said = text.spoken_form(
        "\u201cI don\u2019t know\u2014really!\u201d said Caf\u00e9-owner O'Hara."
    )
    assert text.transcript(said) == "I DON'T KNOW REALLY SAID CAFE OWNER O'HARA"
    assert text.transcript("'Tis the season'") == "TIS THE SEASON"


def test_sentences_split_at_ends_but_not_after_titles():
    paragraph = 'Mr. Bennet was so odd. "Is he married?" she asked. Yes! Dr. Jones came.'
    assert text.sentences(paragraph) == [
        "Mr. Bennet was so odd.",
        '"Is he married?" she asked.',
        "Yes!",
        "Dr. Jones came.",
    ]


def test_paragraphs_join_lines_between_blank_lines():
    lines = ["It is a truth", "universally acknowledged.", "", "", "Chapter 2", ""]
    assert list(text.paragraphs(lines)) == ["It is a truth universally acknowledged.", "Chapter 2"]


def test_readable_keeps_prose_of_the_asked_length_only():
    assert text.readable("CHAPTER IV", 1, 30) is None  # a heading
    assert text.readable("1813", 1, 30) is None  # no words in lower case
    assert text.readable("She smiled.", 4, 30) is None  # too short
    assert text.readable("She smiled at him twice.", 4, 30) == "She smiled at him twice."
    assert text.readable("one " * 31 + "end", 4, 30) is None

"""Phone alignments: CTM and TextGrid reading, and their mapping onto encoder frames."""

import pytest

from espnet_reuse.analysis.alignments import (
    FrameMapping,
    frame_labels,
    frame_mapping,
    read_alignments,
    read_ctm,
)
from espnet_reuse.kaldi_data import DataError


def test_frame_mapping_of_conv2d_subsampling():
    from espnet_reuse.espnet_api import ConformerEncoder

    encoder = ConformerEncoder(20, output_size=16, attention_heads=2, linear_units=16, num_blocks=1)
    mapping = frame_mapping(encoder, hop_length=160, fs=16000)
    assert (mapping.stride, mapping.offset) == (4, 3.0)
    assert mapping.centre(2) == pytest.approx(0.11)


def test_mismatched_alignment_is_an_error_naming_the_utterance(tmp_path):
    ctm = tmp_path / "x.ctm"
    ctm.write_text("u1 1 0.0 0.5 a\nu1 1 0.5 0.5 b\n")
    segments = read_ctm(ctm)["u1"]
    mapping = FrameMapping(4, 3.0, 0.01)
    labels = frame_labels("u1", segments, 24, mapping, {"a": 0, "b": 1}, 1.0)
    assert labels[:5].tolist() == [0] * 5 and labels[-1].item() == 1
    with pytest.raises(DataError, match="'u1' ends at 1.00 s but its audio lasts 2.00 s"):
        frame_labels("u1", segments, 24, mapping, {"a": 0, "b": 1}, 2.0)


def test_textgrids_are_read_with_empty_intervals_as_silence(tmp_path):
    from praatio import textgrid

    grid = textgrid.Textgrid()
    grid.addTier(textgrid.IntervalTier("words", [(0.0, 0.5, "cat")], 0.0, 0.5))
    grid.addTier(textgrid.IntervalTier("phones", [(0.0, 0.1, "k"), (0.2, 0.5, "ae")], 0.0, 0.5))
    (tmp_path / "spk").mkdir()
    grid.save(
        str(tmp_path / "spk" / "u1.TextGrid"), format="short_textgrid", includeBlankSpaces=True
    )
    segments = read_alignments(tmp_path)["u1"]
    assert segments == [(0.0, 0.1, "k"), (0.1, 0.2, "sil"), (0.2, 0.5, "ae")]
    assert read_alignments(tmp_path)["u1"] == read_ctm_of(tmp_path, segments)["u1"]
    grid.removeTier("phones")
    grid.save(
        str(tmp_path / "spk" / "u1.TextGrid"), format="short_textgrid", includeBlankSpaces=True
    )
    with pytest.raises(DataError, match="has no tier 'phones'"):
        read_alignments(tmp_path)


def read_ctm_of(tmp_path, segments):
    """The same segments written as a CTM and read back."""
    ctm = tmp_path / "u1.ctm"
    ctm.write_text("".join(f"u1 1 {s:.3f} {e - s:.3f} {p}\n" for s, e, p in segments))
    return read_ctm(ctm)

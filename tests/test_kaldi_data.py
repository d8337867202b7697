"""Kaldi-style data directories: reading, writing and every error branch."""

import pytest

from espnet_reuse.kaldi_data import (
    DataError,
    read_data_dir,
    read_num_samples,
    read_table,
    write_data_dir,
)


def test_read_table_skips_blank_lines_and_keeps_values_with_spaces(tmp_path):
    path = tmp_path / "text"
    path.write_text("u2 A CAT SAT\n\nu1 THE DOG\n")
    assert read_table(path) == {"u2": "A CAT SAT", "u1": "THE DOG"}


@pytest.mark.parametrize(
    "content, message",
    [("u1 a\nu1 b\n", "u1' appears twice"), ("u1 a\nu2\n", ":2: 'u2' has no value")],
    ids=["duplicate", "no_value"],
)
def test_read_table_errors_name_file_line_and_key(tmp_path, content, message):
    path = tmp_path / "wav.scp"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_table(path)


def test_empty_values_are_allowed_where_asked(tmp_path):
    path = tmp_path / "text"
    path.write_text("u1\nu2 A\n")
    assert read_table(path, allow_empty_values=True) == {"u1": "", "u2": "A"}


def test_write_data_dir_derives_spk2utt_and_writes_plain_files(tmp_path):
    out = tmp_path / "set"
    tables = {"wav.scp": {"b": "b.wav", "a": "a.wav"}, "utt2spk": {"a": "s1", "b": "s1"}}
    write_data_dir(out, tables, {"feats_type": "raw\n"})
    assert (out / "wav.scp").read_text() == "a a.wav\nb b.wav\n"
    assert (out / "spk2utt").read_text() == "s1 a b\n"
    assert (out / "feats_type").read_text() == "raw\n"
    assert not out.with_name("set.tmp").exists()
    write_data_dir(out, {"wav.scp": {"c": "c.wav"}})  # replaces the directory whole
    assert sorted(p.name for p in out.iterdir()) == ["wav.scp"]


def test_read_data_dir_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_data_dir(tmp_path / "missing", ["wav.scp"])
    write_data_dir(tmp_path / "set", {"wav.scp": {"a": "a.wav", "b": "b.wav"}, "text": {"a": "A"}})
    with pytest.raises(
        DataError, match="text and wav.scp list different utterances, e.g. \\['b'\\]"
    ):
        read_data_dir(tmp_path / "set", ["wav.scp", "text"])


def test_read_num_samples_as_integers_and_the_first_n_by_id(tmp_path):
    (tmp_path / "utt2num_samples").write_text("c 30\na 10\nb 20\n")
    assert read_num_samples(tmp_path) == {"c": 30, "a": 10, "b": 20}
    assert read_num_samples(tmp_path, max_utts=2) == {"a": 10, "b": 20}
    (tmp_path / "utt2num_samples").write_text("a ten\n")
    with pytest.raises(DataError, match="'a' has length 'ten', not a number of samples"):
        read_num_samples(tmp_path)

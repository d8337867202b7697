"""Stages 1-5 on generated LibriSpeech-shaped trees: preparation, checks, tokens."""

import random
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_reuse.demo.sentences import sentence
from espnet_reuse.kaldi_data import DataError, read_table
from espnet_reuse.recipe.audio import speed_perturb
from espnet_reuse.recipe.filter_data import filter_data_dir
from espnet_reuse.recipe.format_data import format_data_dir
from espnet_reuse.recipe.librispeech import prepare
from espnet_reuse.recipe.speed_perturb import perturb_data_dir
from espnet_reuse.recipe.tokens import train_tokens

from tiny_corpus import write_librispeech_tree

PARTS = {"train-clean-100": (2, 3), "dev-clean": (1, 2), "test-other": (1, 2)}


@pytest.fixture
def tree(tmp_path):
    return write_librispeech_tree(tmp_path / "corpus", PARTS)


def test_prepare_writes_kaldi_directories_for_the_parts_present(tree, tmp_path):
    data = tmp_path / "data"
    written = prepare(tree.parent, None, data)
    assert written == ["train_clean_100", "dev_clean", "test_other", "train_960", "dev"]
    utt2spk = read_table(data / "train_960" / "utt2spk")
    assert utt2spk["10-100-0001"] == "10-100" and len(utt2spk) == 6
    assert read_table(data / "train_960" / "text")["10-100-0000"] == "A CAT"
    assert len(read_table(data / "train_960" / "text")["10-100-0001"].split()) >= 4
    assert read_table(data / "dev" / "spk2utt") == {"12-102": "12-102-0000 12-102-0001"}
    wav = read_table(data / "test_other" / "wav.scp")
    assert all(Path(p).is_file() for p in wav.values())


def test_prepare_accepts_the_librispeech_folder_itself(tree, tmp_path):
    assert "dev" in prepare(tree, ["dev-clean"], tmp_path / "data")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda t: (t / "dev-clean/12/102/12-102-0001.flac").unlink(), "no audio file"),
        (
            lambda t: soundfile.write(
                t / "dev-clean/12/102/12-102-0009.flac", np.zeros(800), 16000
            ),
            "12-102-0009.flac has no transcript line",
        ),
    ],
    ids=["transcript_without_audio", "audio_without_transcript"],
)
def test_unpaired_files_are_errors_naming_them(tree, tmp_path, damage, message):
    damage(tree)
    with pytest.raises(DataError, match=message):
        prepare(tree, None, tmp_path / "data")
    assert not (tmp_path / "data" / "dev_clean").exists()


def test_missing_part_and_wrong_path_are_clear_errors(tree, tmp_path):
    with pytest.raises(DataError, match="no part train-other-500"):
        prepare(tree, ["train-other-500"], tmp_path / "data")
    with pytest.raises(DataError, match="does not exist"):
        prepare(tmp_path / "nowhere", None, tmp_path / "data")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds none of the LibriSpeech parts"):
        prepare(tmp_path / "empty", None, tmp_path / "data")


def test_format_counts_samples_and_names_a_corrupt_file(tree, tmp_path):
    data = tmp_path / "data"
    prepare(tree, None, data)
    assert format_data_dir(data / "dev", tmp_path / "dump" / "dev", nj=1) == 2
    assert read_table(tmp_path / "dump" / "dev" / "utt2num_samples")["12-102-0000"] == "12800"
    corrupt = tree / "dev-clean/12/102/12-102-0001.flac"
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    with pytest.raises(DataError, match="12-102-0001"):
        format_data_dir(data / "dev", tmp_path / "dump" / "dev2", nj=1)
    assert not (tmp_path / "dump" / "dev2").exists()


def break_three_files(tree):
    """A transcript line without audio, an audio file without one, a corrupt file."""
    (tree / "train-clean-100/10/100/10-100-0001.flac").unlink()
    soundfile.write(tree / "dev-clean/12/102/12-102-0009.flac", np.zeros(800), 16000)
    corrupt = tree / "train-clean-100/11/101/11-101-0002.flac"
    corrupt.write_bytes(corrupt.read_bytes()[:100])


def test_every_bad_utterance_is_reported_in_one_run(tree, tmp_path):
    break_three_files(tree)
    with pytest.raises(DataError) as error:
        prepare(tree, None, tmp_path / "data")
    message = str(error.value)
    assert "2 bad utterances" in message and "--skip_bad_utterances true" in message
    assert "10-100-0001" in message and "12-102-0009" in message
    data = tmp_path / "data"
    prepare(tree, None, data, skip_bad=True)
    assert (data / "train_clean_100" / "bad_utterances.txt").read_text().startswith("10-100-0001 ")
    assert "10-100-0001" not in read_table(data / "train_960" / "wav.scp")
    with pytest.raises(DataError, match="1 bad utterances:\n  11-101-0002: cannot read audio"):
        format_data_dir(data / "train_960", tmp_path / "dump" / "train", nj=2)
    kept = format_data_dir(data / "train_960", tmp_path / "dump" / "train", nj=2, skip_bad=True)
    assert kept == 4
    report = (tmp_path / "dump" / "train" / "bad_utterances.txt").read_text()
    assert report.startswith("11-101-0002 cannot read audio")
    assert set(read_table(tmp_path / "dump" / "train" / "text")) == set(
        read_table(tmp_path / "dump" / "train" / "utt2num_samples")
    )


def test_speed_perturbation_leaves_out_unreadable_files_when_asked(tree, tmp_path):
    data = tmp_path / "data"
    prepare(tree, None, data)
    corrupt = tree / "train-clean-100/11/101/11-101-0002.flac"
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    with pytest.raises(DataError, match="11-101-0002"):
        perturb_data_dir(data / "train_960", data / "train_sp", [0.9, 1.0], nj=1)
    count = perturb_data_dir(data / "train_960", data / "train_sp", [0.9, 1.0], nj=1, skip_bad=True)
    assert count == 2 * 5
    wav = read_table(data / "train_sp" / "wav.scp")
    assert "11-101-0002" not in wav and "sp0.9-11-101-0002" not in wav
    assert (data / "train_sp" / "bad_utterances.txt").exists()


def test_filter_drops_short_long_and_empty_and_counts_them(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    rows = {"a": ("0.05", "HI"), "b": ("1.0", "OK"), "c": ("30.0", "LONG"), "d": ("2.0", "")}
    (src / "wav.scp").write_text("".join(f"{u} /x/{u}.flac\n" for u in rows))
    (src / "text").write_text("".join(f"{u} {t}\n" for u, (_, t) in rows.items()))
    (src / "utt2spk").write_text("".join(f"{u} s\n" for u in rows))
    (src / "utt2num_samples").write_text(
        "".join(f"{u} {int(float(s) * 16000)}\n" for u, (s, _) in rows.items())
    )
    counts = filter_data_dir(src, tmp_path / "dst", 0.1, 20.0)
    assert (counts.kept, counts.too_short, counts.too_long, counts.empty_text) == (1, 1, 1, 1)
    assert str(counts).startswith("kept 1 of 4 utterances")
    assert read_table(tmp_path / "dst" / "spk2utt") == {"s": "b"}


def test_speed_perturbation_changes_length_by_the_factor(tree, tmp_path):
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert len(speed_perturb(audio, 0.9)) == pytest.approx(16000 / 0.9, abs=2)
    assert len(speed_perturb(audio, 1.1)) == pytest.approx(16000 / 1.1, abs=2)
    data = tmp_path / "data"
    prepare(tree, None, data)
    count = perturb_data_dir(data / "dev", data / "dev_sp", [0.9, 1.0], nj=1)
    assert count == 4
    wav = read_table(data / "dev_sp" / "wav.scp")
    assert set(wav) == {"12-102-0000", "12-102-0001", "sp0.9-12-102-0000", "sp0.9-12-102-0001"}
    assert read_table(data / "dev_sp" / "utt2spk")["sp0.9-12-102-0000"] == "sp0.9-12-102"
    assert soundfile.info(wav["sp0.9-12-102-0000"]).frames == pytest.approx(12800 / 0.9, abs=2)


def test_token_list_is_espnet_shaped(tmp_path):
    text = tmp_path / "text"
    rng = random.Random(0)
    text.write_text("".join(f"u{i} {sentence(rng)}\n" for i in range(200)))
    token_list = train_tokens([text], tmp_path / "tokens", nbpe=40, bpemode="unigram")
    tokens = token_list.read_text().split()
    assert tokens[:2] == ["<blank>", "<unk>"] and tokens[-1] == "<sos/eos>"
    assert len(tokens) == 40 + 2 and len(set(tokens)) == len(tokens)
    assert (tmp_path / "tokens" / "bpe.model").exists()
    lexicon = dict(
        line.split(" ", 1)
        for line in (tmp_path / "tokens" / "lexicon.txt").read_text().splitlines()
    )
    assert "CAT" in lexicon and "".join(lexicon["CAT"].split()).replace("▁", "") == "CAT"


def test_character_token_list_and_lexicon(tmp_path):
    text = tmp_path / "text"
    text.write_text("u1 A CAT\nu2 THE CAT SAT\n")
    extra = tmp_path / "more_text"
    extra.write_text("u3 DOG\n")
    token_list = train_tokens([text, extra], tmp_path / "char", token_type="char")
    tokens = token_list.read_text().split()
    assert tokens[:2] == ["<blank>", "<unk>"] and tokens[-1] == "<sos/eos>"
    assert set(tokens[2:-1]) == {"<space>", *"ACTHESDOG"}
    assert tokens[2:4] in (["A", "T"], ["T", "A"]) and tokens[4] == "<space>"  # by frequency
    assert not (tmp_path / "char" / "bpe.model").exists()
    assert "DOG D O G" in (tmp_path / "char" / "lexicon.txt").read_text().splitlines()

"""Stage 12: decoding configs, and decoding that does not depend on the batch size."""

import pytest

from espnet_reuse.kaldi_data import read_table
from espnet_reuse.recipe.ctc_decode import DecodeConfig, DecodeTask, decode_tasks

from helpers import TINY_CONFIG, write_model
from tiny_corpus import VARIED_SECONDS


def test_decode_config_rejects_unknown_keys_and_decoders(tmp_path):
    path = tmp_path / "decode.yaml"
    path.write_text("decoder: prefix_beam\nbeam_size: 4\n")
    assert DecodeConfig.from_yaml(path).beam_size == 4
    path.write_text("decoder: greedy\nbeam: 4\n")
    with pytest.raises(ValueError, match="unknown keys \\['beam'\\]"):
        DecodeConfig.from_yaml(path)
    path.write_text("decoder: attention\n")
    with pytest.raises(ValueError, match="decoder must be one of"):
        DecodeConfig.from_yaml(path)


def test_lexicon_needs_prefix_beam(tmp_path):
    path = tmp_path / "decode.yaml"
    path.write_text("decoder: greedy\nlexicon: true\n")
    with pytest.raises(ValueError, match="lexicon: true needs decoder: prefix_beam"):
        DecodeConfig.from_yaml(path)


def test_recipe_decoding_gives_the_same_text_at_batch_1_and_batch_n(varied_data, tmp_path):
    corpus, data_dir, _, _ = varied_data
    exp = write_model(corpus, TINY_CONFIG, tmp_path / "exp")
    for decoder in ("greedy", "prefix_beam"):
        tasks = [
            DecodeTask(
                data_dir,
                DecodeConfig(decoder=decoder, beam_size=4, batch_size=n),
                tmp_path / f"{decoder}{n}",
            )
            for n in (1, len(VARIED_SECONDS))
        ]
        decode_tasks(tasks, exp / "config.yaml", exp / "model.pth", nj=2)
        for name in ("text", "token_int"):
            outputs = [read_table(task.out_dir / name, allow_empty_values=True) for task in tasks]
            assert outputs[0] == outputs[1], name
            assert len(outputs[0]) == len(VARIED_SECONDS) and any(outputs[0].values())

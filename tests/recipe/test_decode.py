"""Stage 12: decoding configs, and decoding that does not depend on the batch size."""

import pytest

from espnet_reuse.kaldi_data import read_table
from espnet_reuse.recipe.decode import DecodeConfig, DecodeTask, decode_tasks

from helpers import CONF, REPO, TINY_CONFIG, write_model
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


def test_attention_decoders_take_only_their_keys(tmp_path):
    path = tmp_path / "decode.yaml"
    for joint in ("joint_beam", "espnet_joint_beam"):
        path.write_text(f"decoder: {joint}\nctc_weight: 0.5\nmaxlenratio: 0.3\n")
        config = DecodeConfig.from_yaml(path)
        assert config.uses_attention_decoder
        assert (config.ctc_weight, config.maxlenratio) == (0.5, 0.3)
    path.write_text("decoder: attention_rescoring\nmaxlenratio: 0.3\n")
    with pytest.raises(
        ValueError, match="decoder attention_rescoring does not use \\['maxlenratio'\\]"
    ):
        DecodeConfig.from_yaml(path)
    path.write_text("decoder: prefix_beam\nctc_weight: 0.3\n")
    with pytest.raises(ValueError, match="decoder prefix_beam does not use \\['ctc_weight'\\]"):
        DecodeConfig.from_yaml(path)
    assert not DecodeConfig.from_yaml(None).uses_attention_decoder


@pytest.mark.parametrize(
    "config, decoders",
    [
        (TINY_CONFIG, ("greedy", "prefix_beam")),
        (CONF / "tiny_hybrid_reuse.yaml", ("joint_beam", "attention_rescoring")),
    ],
)
def test_recipe_decoding_gives_the_same_text_at_batch_1_and_batch_n(
    varied_data, tmp_path, config, decoders
):
    corpus, data_dir, _, _ = varied_data
    exp = write_model(corpus, config, tmp_path / "exp")
    for decoder in decoders:
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


def test_the_recipes_joint_search_gives_espnets_words(varied_data, tmp_path):
    corpus, data_dir, _, _ = varied_data
    exp = write_model(corpus, CONF / "tiny_hybrid.yaml", tmp_path / "exp")
    tasks = [
        DecodeTask(
            data_dir, DecodeConfig.from_yaml(REPO / "conf" / f"decode_{name}.yaml"), tmp_path / name
        )
        for name in ("joint_beam", "espnet_joint_beam")
    ]
    for task in tasks:
        task.decode.beam_size = 3
    decode_tasks(tasks, exp / "config.yaml", exp / "model.pth")
    ours, espnet = (read_table(t.out_dir / "token_int", allow_empty_values=True) for t in tasks)
    assert ours == espnet and any(ours.values())

"""The attention analysis tool end to end on a tiny, untrained model."""

import json

import pytest
import torch
import yaml

from espnet_reuse.analysis.alignments import frame_labels, frame_mapping, read_ctm
from espnet_reuse.recipe.format_data import format_data_dir
from espnet_reuse.recipe.kaldi_data import DataError
from espnet_reuse.recipe.librispeech import prepare
from tiny_corpus import PHONES, write_ctm, write_librispeech_tree, write_tiny_corpus

@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """An untrained tiny reuse model saved as an ESPnet experiment, and data."""
    from espnet2.tasks.asr import ASRTask

    from espnet_reuse.bin.asr_train import get_parser

    root = tmp_path_factory.mktemp("analysis")
    tokens = write_tiny_corpus(root / "tokens")["token_list"]
    tree = write_librispeech_tree(root / "corpus", {"dev-clean": (2, 4)})
    prepare(tree, None, root / "data")
    format_data_dir(root / "data" / "dev_clean", root / "dump", nj=1)
    write_ctm(root / "dump", root / "ali.ctm")
    args = get_parser().parse_args(
        ["--config", "tests/conf/tiny_ctc_reuse.yaml", "--token_list", str(tokens),
         "--token_type", "char", "--output_dir", str(root / "exp")]
    )  # fmt: skip
    model = ASRTask.build_model(args)
    (root / "exp").mkdir()
    torch.save(model.state_dict(), root / "exp" / "model.pth")
    config = {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool, list, dict, type(None)))}
    config["bpemodel"] = None
    (root / "exp" / "config.yaml").write_text(yaml.safe_dump(config))
    return root


def test_frame_mapping_of_conv2d_subsampling():
    from espnet2.asr.encoder.conformer_encoder import ConformerEncoder

    encoder = ConformerEncoder(20, output_size=16, attention_heads=2, linear_units=16, num_blocks=1)
    mapping = frame_mapping(encoder, hop_length=160, fs=16000)
    assert (mapping.stride, mapping.offset) == (4, 3.0)
    assert mapping.centre(2) == pytest.approx(0.11)


def test_mismatched_alignment_is_an_error_naming_the_utterance(tmp_path):
    ctm = tmp_path / "x.ctm"
    ctm.write_text("u1 1 0.0 0.5 a\nu1 1 0.5 0.5 b\n")
    segments = read_ctm(ctm)["u1"]
    from espnet_reuse.analysis.alignments import FrameMapping

    mapping = FrameMapping(4, 3.0, 0.01)
    labels = frame_labels("u1", segments, 24, mapping, {"a": 0, "b": 1}, 1.0)
    assert labels[:5].tolist() == [0] * 5 and labels[-1].item() == 1
    with pytest.raises(DataError, match="'u1' ends at 1.00 s but its audio lasts 2.00 s"):
        frame_labels("u1", segments, 24, mapping, {"a": 0, "b": 1}, 2.0)


def test_analysis_writes_summary_and_figures(experiment):
    from espnet_reuse.bin.analyze_attention import main

    out = experiment / "analysis"
    main([
        "--asr_train_config", str(experiment / "exp" / "config.yaml"),
        "--asr_model_file", str(experiment / "exp" / "model.pth"),
        "--data_dir", str(experiment / "dump"), "--alignments", str(experiment / "ali.ctm"),
        "--probe_train_dir", str(experiment / "dump"),
        "--probe_train_alignments", str(experiment / "ali.ctm"),
        "--max_range", "4", "--prune_steps", "2", "--target_maps", "2",
        "--batch_size", "3", "--out_dir", str(out),
    ])  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["utterances"] == 8 and summary["reuse_groups"] == [1, 2]
    assert len(summary["cad"]["curves"]) == 3 and len(summary["cad"]["curves"][0]) == 5
    assert summary["phones"] == PHONES
    assert len(summary["par"]) == 3 and len(summary["par"][0]) == 3
    assert len(summary["probing_accuracy"]) == 3
    assert set(summary["pruning_wer"]) == {"globalness", "verticality", "diagonality", "random"}
    assert [p[0] for p in summary["pruning_wer"]["random"]] == [0, 3, 6]
    assert sum(summary["suggested_layout"]["reuse_groups"]) == 3
    # layers 2 and 3 share one map: their divergence is zero
    assert summary["js_divergence"][1][2] == pytest.approx(0.0, abs=1e-6)
    for name in ("cad", "head_metrics", "js_divergence", "phoneme_attention_relationship",
                 "phoneme_relation_map", "probing", "pruning"):  # fmt: skip
        assert (out / f"{name}.png").stat().st_size > 5000, name
    assert len(list(out.glob("attention_maps_*.png"))) == 2


def test_missing_alignment_is_an_error(experiment, tmp_path):
    from espnet_reuse.bin.analyze_attention import main

    ctm = tmp_path / "partial.ctm"
    lines = (experiment / "ali.ctm").read_text().splitlines()
    dropped = lines[-1].split()[0]
    ctm.write_text("".join(f"{l}\n" for l in lines if not l.startswith(dropped)))
    with pytest.raises(DataError, match=f"no alignment for utterance '{dropped}'"):
        main([
            "--asr_train_config", str(experiment / "exp" / "config.yaml"),
            "--asr_model_file", str(experiment / "exp" / "model.pth"),
            "--data_dir", str(experiment / "dump"), "--alignments", str(ctm),
            "--prune_steps", "0", "--out_dir", str(tmp_path / "out"),
        ])  # fmt: skip


def test_convert_to_learned_maps_from_measured_profiles(experiment, tmp_path):
    from espnet2.tasks.asr import ASRTask

    from espnet_reuse.bin.analyze_attention import main as analyze
    from espnet_reuse.bin.convert_checkpoint import main as convert

    exp = experiment / "exp"
    analyze([
        "--asr_train_config", str(exp / "config.yaml"), "--asr_model_file", str(exp / "model.pth"),
        "--data_dir", str(experiment / "dump"), "--prune_steps", "0", "--max_offset", "8",
        "--out_dir", str(tmp_path / "analysis"),
    ])  # fmt: skip

    def convert_with_profiles(config, out_dir):
        convert([
            "--config", str(config), "--model", str(exp / "model.pth"),
            "--reuse_groups", "1", "2", "--learned_map_groups", "1",
            "--learned_map_profiles", str(tmp_path / "analysis" / "summary.json"),
            "--out_dir", str(out_dir),
        ])  # fmt: skip

    with pytest.raises(ValueError, match="learned_map_max_offset is 64"):
        convert_with_profiles(exp / "config.yaml", tmp_path / "bad")
    config = yaml.safe_load((exp / "config.yaml").read_text())
    config["encoder_conf"]["learned_map_max_offset"] = 8
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    convert_with_profiles(tmp_path / "config.yaml", tmp_path / "converted")
    model, _ = ASRTask.build_model_from_file(tmp_path / "converted" / "config.yaml", None, "cpu")
    state = torch.load(tmp_path / "converted" / "model.pth")
    model.load_state_dict(state, strict=True)
    assert "encoder.encoders.1.self_attn.linear_q.weight" not in state
    profile = torch.tensor(
        json.loads((tmp_path / "analysis" / "summary.json").read_text())["offset_profile"]["per_layer_head"]
    )[1]
    expected = (profile / profile.sum(-1, keepdim=True)).clamp_min(1e-6).log()
    assert torch.allclose(state["encoder.learned_maps.1.logits"], expected)

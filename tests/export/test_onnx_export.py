"""ONNX export of every reuse family (and ESPnet's encoder the same way): ONNX Runtime equals
PyTorch at lengths and batch sizes the export never saw, the reuse layers' graph holds
no Q, K or softmax, the words are the recipe's, and bad input is an error."""

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from espnet_reuse.decoding.inference import greedy_search, load_asr_model, recognise
from espnet_reuse.export.onnx_check import TOLERANCE, check_export, differing_words
from espnet_reuse.export.onnx_export import OnnxRuntimeGraph, export_onnx, onnx_recognise
from espnet_reuse.kaldi_data import read_num_samples, read_table

from helpers import CONF, REPO, write_model

pytest.importorskip("onnxruntime")

TINY = yaml.safe_load((CONF / "tiny_ctc_reuse.yaml").read_text())
SMALL = dict(output_size=32, attention_heads=2, num_blocks=4)
CONFIGS = {  # name -> (encoder, encoder_conf, normalisation)
    "conformer": (
        "conformer",
        {k: v for k, v in TINY["encoder_conf"].items() if k != "reuse_groups"},
        "global_mvn",
    ),
    "conformer_reuse": ("conformer_reuse", TINY["encoder_conf"], "utterance_mvn"),
    "conformer_reuse_learned": (
        "conformer_reuse",
        {**TINY["encoder_conf"], "learned_map_groups": [1], "learned_map_max_offset": 8},
        "global_mvn",
    ),
    "e_branchformer_reuse": (
        "e_branchformer_reuse",
        {**SMALL, "cgmlp_linear_units": 64, "cgmlp_conv_kernel": 7, "reuse_groups": [1, 3]},
        "global_mvn",
    ),
    "branchformer_reuse": (
        "branchformer_reuse",
        {**SMALL, "cgmlp_linear_units": 64, "cgmlp_conv_kernel": 7, "reuse_groups": [2, 2]},
        "global_mvn",
    ),
    "transformer_reuse": (
        "transformer_reuse",
        {**SMALL, "linear_units": 48, "reuse_groups": [1, 3]},
        "global_mvn",
    ),
}


def tiny_model(varied_data, root: Path, name: str):
    """An untrained tiny CTC experiment of ``CONFIGS[name]`` (global MVN from made-up
    statistics), loaded as the recipe loads it, and its folder."""
    encoder, encoder_conf, normalize = CONFIGS[name]
    config = {**TINY, "encoder": encoder, "encoder_conf": encoder_conf, "normalize": normalize}
    if normalize == "global_mvn":
        stats = root / "feats_stats.npz"
        rng = np.random.default_rng(0)
        total, squares = 100 * (1 + rng.random(20)), 100 * (3 + rng.random(20))
        np.savez(stats, count=np.array(100), sum=total, sum_square=squares)
        config["normalize_conf"] = {"stats_file": str(stats)}
    (root / f"{name}.yaml").write_text(yaml.safe_dump(config))
    exp = write_model(varied_data[0], root / f"{name}.yaml", root / name)
    return load_asr_model(exp / "config.yaml", exp / "model.pth", "cpu"), exp


@pytest.fixture(scope="module")
def exported(varied_data, tmp_path_factory):
    """name -> (model, its ONNX file, its experiment folder)."""
    root = tmp_path_factory.mktemp("onnx")
    models = {}
    for name in CONFIGS:
        model, exp = tiny_model(varied_data, root, name)
        models[name] = (model, export_onnx(model, root / f"{name}.onnx"), exp)
    return models


@pytest.mark.parametrize("name", CONFIGS)
def test_onnx_runtime_equals_pytorch_at_unseen_lengths(exported, name):
    model, onnx_file, _ = exported[name]
    check = check_export(model, onnx_file)
    assert check.max_difference <= TOLERANCE and check.lengths_equal
    assert check.graph_as_expected, check.graph_lines


def test_the_reuse_layers_graph_has_no_map_of_its_own(exported):
    reuse = check_export(*exported["conformer_reuse"][:2]).graph_lines
    assert (
        reuse[2]
        == "layer 3 (reuses layer 2's map): linear_q 0, linear_k 0, linear_pos 0, softmax 0"
    )
    assert reuse[1].startswith("layer 2 (computes its map): linear_q 2, linear_k 2")
    baseline = check_export(*exported["conformer"][:2]).graph_lines
    assert all("computes its map" in line and "softmax 1" in line for line in baseline)


def test_greedy_words_equal_the_recipes(exported, varied_data):
    for name in ("conformer_reuse", "e_branchformer_reuse"):
        model, onnx_file, _ = exported[name]
        assert differing_words(model, onnx_file, varied_data[1], batch_size=3) == (0, 5)


def test_the_batch_does_not_change_an_utterances_words(exported, varied_data):
    _, onnx_file, _ = exported["conformer_reuse"]
    model = exported["conformer_reuse"][0]
    wav, lengths = read_table(varied_data[1] / "wav.scp"), read_num_samples(varied_data[1])
    session = OnnxRuntimeGraph(onnx_file)
    one = onnx_recognise(session, model, wav, lengths, 1)
    all_at_once = onnx_recognise(session, model, wav, lengths, len(wav))
    assert {u: h.token_ids for u, h in one.items()} == {
        u: h.token_ids for u, h in all_at_once.items()
    }


def test_bad_input_is_an_error(exported):
    session = OnnxRuntimeGraph(exported["conformer_reuse"][1])
    with pytest.raises(Exception, match="(?i)invalid|dimension|shape"):
        session(torch.randn(1, 50, 21), torch.tensor([50]))  # 21 features, not 20
    with pytest.raises(ValueError, match="batch of at least one"):
        session(torch.randn(0, 50, 20), torch.tensor([], dtype=torch.long))


def test_another_normalisation_is_refused(exported):
    from espnet_reuse.export.onnx_export import EncoderCTC

    model = exported["conformer"][0]
    normalize = model.normalize
    model.normalize = torch.nn.Identity()
    try:
        with pytest.raises(ValueError, match="Identity; the export holds global_mvn"):
            EncoderCTC(model)
    finally:
        model.normalize = normalize


def test_the_usage_pages_onnx_runtime_example(exported, varied_data, tmp_path, monkeypatch):
    readme = (REPO / "docs" / "using.md").read_text()
    snippet = readme.split("decoded\nwith ONNX Runtime:\n\n```python\n")[1].split("```")[0]
    model, onnx_file, exp = exported["conformer_reuse"]
    wav, lengths = read_table(varied_data[1] / "wav.scp"), read_num_samples(varied_data[1])
    utt = sorted(wav)[0]
    monkeypatch.chdir(tmp_path)
    links = {"model.onnx": onnx_file, "utt.wav": Path(wav[utt])}
    links.update({name: exp / name for name in ("config.yaml", "model.pth")})
    for name, target in links.items():
        Path(name).symlink_to(target)
    scope: dict = {}
    exec(textwrap.dedent(snippet), scope)
    expected = recognise(model, {utt: wav[utt]}, {utt: lengths[utt]}, 1, "cpu", greedy_search)
    assert scope["hyp"].token_ids == expected[utt].token_ids

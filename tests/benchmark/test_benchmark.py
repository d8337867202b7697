"""The benchmark: its models compute the same function, and a smoke run of the CLI."""

import json

import pytest
import torch

from espnet_reuse.benchmark.measure import (
    Ratio,
    Timing,
    forward_flops,
    saved_for_backward_bytes,
)
from espnet_reuse.benchmark.models import build_models
from espnet_reuse.benchmark.report import target, verdict
from espnet_reuse.bin.benchmark import main

from helpers import SMALL_CONFORMER, SMALL_FAMILIES

TINY = {k: v for k, v in SMALL_CONFORMER.items() if k != "input_size"}


def test_ratios_pair_rounds_and_bound_the_median():
    # round 3 is slow for both models (machine noise): pairing cancels it
    ideal = Timing([1.0, 1.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    reuse = Timing([1.02, 1.01, 5.1, 1.03, 1.02, 1.01, 1.02, 1.04])
    ratio = Ratio.paired(ideal, reuse)
    assert 0.96 < ratio.low <= ratio.median <= ratio.high < 0.995
    assert abs(ratio.median - 1 / 1.02) < 1e-9
    few = Ratio.paired(Timing([1.0, 2.0]), Timing([1.0, 2.0]))
    assert few.median == 1.0 and few.low != few.low  # NaN: too few rounds


def test_targets_and_verdicts():
    assert target([1, 1, 1, 1]) == 0.98 and target([2, 2]) == 0.95
    assert verdict(Ratio(1.0, 0.99, 1.01), 0.98) == "met"
    assert verdict(Ratio(0.9, 0.88, 0.97), 0.98) == "missed"
    assert verdict(Ratio(0.99, 0.97, 1.01), 0.98) == "unclear"
    assert verdict(Ratio(1.0, float("nan"), float("nan")), 0.98) == "unclear"


@pytest.mark.parametrize("encoder", ["conformer", "e_branchformer"])
def test_all_models_compute_the_same_function_with_the_same_weights(encoder):
    conf = TINY if encoder == "conformer" else SMALL_FAMILIES[encoder]
    built = build_models(20, conf, ["1x4", "2x2", "1,3"], encoder=encoder)
    assert list(built.models) == [
        "espnet",
        "fused",
        "reuse 1x4",
        "ideal 1x4",
        "reuse 2x2",
        "ideal 2x2",
        "reuse 1,3",
        "ideal 1,3",
    ]
    feats, lengths = torch.randn(2, 50, 20), torch.tensor([50, 41])
    with torch.no_grad():
        out = {n: m.eval()(feats, lengths)[0] for n, m in built.models.items()}
    assert torch.equal(out["reuse 1x4"], out["espnet"])
    torch.testing.assert_close(out["fused"], out["espnet"], atol=1e-5, rtol=1e-5)
    assert torch.equal(out["ideal 1x4"], out["espnet"])
    for layout in ("2x2", "1,3"):
        assert (out[f"reuse {layout}"] - out[f"ideal {layout}"]).abs().max() < 1e-5
        assert (out[f"reuse {layout}"] - out["espnet"]).abs().max() > 1e-3


def test_cli_smoke_run_writes_table_json_and_plot(tmp_path):
    sizes = [
        f"--{k}={v}"
        for k, v in TINY.items()
        if k in ("output_size", "linear_units", "num_blocks", "cnn_module_kernel")
    ]
    main(
        [
            "--layouts",
            "1x4",
            "2x2",
            "--seconds",
            "0.5",
            "1",
            "--batch_sizes",
            "1",
            "2",
            "--train_seconds",
            "0.5",
            "--train_batch",
            "2",
            "--repeats",
            "2",
            "--warmup",
            "0",
            "--input_size",
            "20",
            "--memory_budget_gb",
            "0.004",
            "--out_dir",
            str(tmp_path),
            *sizes,
        ]
    )
    table = (tmp_path / "benchmark.md").read_text()
    assert "### Training at equal memory: 0.5 s utterances, 0.004 GiB" in table
    assert table.count("|inference|") == 8 and table.count("|train step|") == 2
    results = json.loads((tmp_path / "benchmark.json").read_text())
    train = results["cases"][-1]
    assert train["kind"] == "train step" and set(train["peak_bytes"]) == {
        "espnet",
        "fused",
        "reuse 1x4",
        "ideal 1x4",
        "reuse 2x2",
        "ideal 2x2",
    }
    assert all(len(s) == 2 for s in train["timings"].values())
    assert set(train["ratios"]["2x2"]) == {
        "speedup",
        "speedup_over_fused",
        "ideal_speedup",
        "achieved",
    }
    assert train["ratios"]["2x2"]["achieved"]["median"] > 0
    equal = results["meta"]["equal_memory"]
    assert equal["batches"]["reuse 2x2"] >= equal["batches"]["espnet"] >= 2
    assert all(len(steps) == 2 for steps in equal["step_seconds"].values())
    saved = train["saved_bytes"]
    # without reuse only the strided attention's masking differs (a few bytes)
    assert abs(saved["reuse 1x4"] - saved["espnet"]) < 0.01 * saved["espnet"]
    assert saved["reuse 2x2"] < 0.95 * saved["espnet"]
    assert "|saved for backward MB ESPnet / reuse|" in table
    first = results["cases"][0]
    assert first["flops"]["reuse 2x2"] < first["flops"]["espnet"]
    assert first["flops"]["reuse 1x4"] == first["flops"]["espnet"]
    assert (tmp_path / "speedup.png").stat().st_size > 10_000


def test_cli_compiles_every_model_but_espnets(tmp_path, monkeypatch):
    compiled, compile_ = [], torch.compile

    def eager_compile(model, **kwargs):  # traces with Dynamo, generates no code
        compiled.append(model)
        return compile_(model, backend="eager", **kwargs)

    monkeypatch.setattr(torch, "compile", eager_compile)
    try:
        main(
            [
                "--layouts",
                "2x2",
                "--seconds",
                "0.5",
                "--batch_sizes",
                "1",
                "--train_batch",
                "0",
                "--repeats",
                "2",
                "--warmup",
                "1",
                "--compile",
                "true",
                "--input_size",
                "20",
                "--num_blocks",
                "4",
                "--output_size",
                "32",
                "--linear_units",
                "48",
                "--out_dir",
                str(tmp_path),
            ]
        )
    finally:
        torch._dynamo.reset()
    assert len(compiled) == 3  # fused, reuse 2x2 and ideal 2x2; ESPnet stays eager
    table = (tmp_path / "benchmark.md").read_text()
    assert "torch.compile (ESPnet eager)" in table and "|train step|" not in table


def test_e_branchformer_shape_on_the_command_line(tmp_path):
    main(
        [
            *("--shape", "e_branchformer_m", "--layouts", "1x4", "2x2", "--num_blocks", "4"),
            *("--output_size", "32", "--cgmlp_linear_units", "64", "--linear_units", "48"),
            *("--seconds", "0.5", "--batch_sizes", "1", "--train_batch", "0"),
            *("--repeats", "2", "--warmup", "1", "--memory", "false"),
            *("--input_size", "20", "--out_dir", str(tmp_path)),
        ]
    )
    table = (tmp_path / "benchmark.md").read_text()
    assert "E-Branchformer encoder (4 blocks, 32, 4 heads, cgMLP 64, FFN 48" in table
    assert "|1x4|" in table and "|2x2|" in table
    with pytest.raises(SystemExit):
        main(["--shape", "e_branchformer_m", "--cnn_module_kernel", "15"])


def test_saved_for_backward_bytes_are_exact_and_shrink_with_reuse():
    built = build_models(20, {**TINY, "dropout_rate": 0.0}, ["2x2", "4x1"])
    feats, lengths = torch.randn(2, 60, 20), torch.tensor([60, 45])
    saved = {n: saved_for_backward_bytes(m, feats, lengths) for n, m in built.models.items()}
    assert saved == {
        n: saved_for_backward_bytes(m, feats, lengths) for n, m in built.models.items()
    }
    # a reuse layer keeps no Q, K, positional scores or softmax of its own: each
    # saves less than a layer that computes its map
    assert saved["espnet"] > saved["reuse 2x2"] > saved["reuse 4x1"] > 0
    assert saved["reuse 2x2"] <= saved["ideal 2x2"] * 1.05


def test_adapted_layouts_have_their_own_ideal_bound_with_the_adaptations_work():
    layouts = ["2x2", "2x2+reuse_head_mixing", "2x2+reuse_score_rank=2"]
    built = build_models(20, {**TINY, "dropout_rate": 0.0}, layouts)
    assert list(built.layouts) == layouts  # names as typed, read back by the parser
    feats, lengths = torch.randn(2, 60, 20), torch.tensor([60, 45])
    with torch.no_grad():
        out = {n: m.eval()(feats, lengths)[0] for n, m in built.models.items()}
    for layout in layouts:  # at initialisation every adaptation is plain reuse
        torch.testing.assert_close(out[f"reuse {layout}"], out["reuse 2x2"], atol=1e-5, rtol=0)
        torch.testing.assert_close(out[f"ideal {layout}"], out["reuse 2x2"], atol=1e-5, rtol=0)
    flops = {n: forward_flops(m, feats, lengths) for n, m in built.models.items()}
    saved = {n: saved_for_backward_bytes(m, feats, lengths) for n, m in built.models.items()}
    for adapted in layouts[1:]:  # the bound counts the adaptation's work and memory
        assert flops[f"ideal {adapted}"] > flops["ideal 2x2"]
        assert flops[f"reuse {adapted}"] <= flops[f"ideal {adapted}"] * 1.05
        assert saved[f"ideal {adapted}"] > saved["ideal 2x2"]
        assert saved[f"reuse {adapted}"] <= saved[f"ideal {adapted}"] * 1.05
        assert saved[f"reuse {adapted}"] < saved["espnet"]  # reuse still saves memory
    with pytest.raises(ValueError, match="reuse_score_rank=R"):
        build_models(20, TINY, ["2x2+reuse_score_rank=0"])

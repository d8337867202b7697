"""The benchmark on the paths a GPU run takes: the named device, out-of-memory models,
results written as cases finish, the GPU preset."""

import json

import pytest
import torch
import yaml

from espnet_reuse.benchmark import measure
from espnet_reuse.benchmark.measure import OUT_OF_MEMORY, Timing, time_interleaved
from espnet_reuse.benchmark.report import Case, markdown
from espnet_reuse.benchmark.suite import PRESETS, Benchmark
from espnet_reuse.bin.benchmark import parse_settings
from espnet_reuse.encoder.reuse_groups import check_reuse_groups

from helpers import REPO, SMALL_CONFORMER

TINY = [
    *("--input_size", "20", "--layouts", "1x4", "2x2", "--seconds", "0.5", "1"),
    *("--batch_sizes", "1", "--train_seconds", "0.5", "--train_batch", "2"),
    *("--repeats", "2", "--warmup", "0", "--memory", "false"),
    *(f"--{k}={SMALL_CONFORMER[k]}" for k in ("output_size", "linear_units", "num_blocks")),
    f"--cnn_module_kernel={SMALL_CONFORMER['cnn_module_kernel']}",
]


def test_a_model_out_of_memory_is_dropped_and_the_others_are_timed():
    calls = {"big": 0}

    def big() -> None:
        calls["big"] += 1
        if calls["big"] == 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80 GiB")

    timings = time_interleaved({"small": lambda: None, "big": big}, 5, 1, "cpu")
    assert len(timings["small"].samples) == 5
    assert timings["big"].error == OUT_OF_MEMORY and not timings["big"].samples
    with pytest.raises(ValueError):
        time_interleaved({"bad": lambda: int("x")}, 2, 0, "cpu")  # other errors propagate


def test_out_of_memory_rows_say_so():
    timings = {
        "espnet": Timing([1.0, 1.1]),
        "fused": Timing([0.9, 1.0]),
        "reuse 2x2": Timing(error=OUT_OF_MEMORY),
        "ideal 2x2": Timing([0.5, 0.6]),
    }
    case = Case("train step", 30, 8, timings, saved_bytes={"espnet": 2**20}, sdpa_backend="math")
    row = markdown([case], "GPU", "title", {"2x2": [2, 2]}).splitlines()[-1]
    cells = row.split("|")
    assert cells[6] == "OOM" and cells[8] == "nan" and cells[12] == "-"
    assert cells[-3] == "1 / -" and cells[-2] == "math"


def test_the_named_gpu_is_synchronised(monkeypatch):
    seen = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: seen.append(device))
    measure.synchronize("cuda:3")
    measure.synchronize("cpu")
    assert seen == ["cuda:3"]


def test_retained_maps_are_cleared_before_measuring():
    from espnet_reuse.benchmark.models import build_models

    model = build_models(20, {k: v for k, v in SMALL_CONFORMER.items() if k != "input_size"}, [])
    espnet = model.models["espnet"].train()
    espnet(torch.randn(1, 40, 20), torch.tensor([40]))
    assert all(layer.self_attn.attn is not None for layer in espnet.encoders)
    measure.clear_retained(espnet)
    assert all(layer.self_attn.attn is None for layer in espnet.encoders)


def test_results_are_written_as_each_case_finishes(tmp_path, monkeypatch):
    benchmark = Benchmark(parse_settings([*TINY, "--out_dir", str(tmp_path)]))
    measured = Benchmark.measure
    done = []

    def measure_then_fail(self, seconds, batch, kind):
        if done:
            raise KeyboardInterrupt  # the run is stopped during its second case
        done.append(kind)
        return measured(self, seconds, batch, kind)

    monkeypatch.setattr(Benchmark, "measure", measure_then_fail)
    with pytest.raises(KeyboardInterrupt):
        benchmark.run()
    results = json.loads((tmp_path / "benchmark.json").read_text())
    assert [c["seconds"] for c in results["cases"]] == [0.5]
    assert "|inference|0.5 s × 1|2x2|" in (tmp_path / "benchmark.md").read_text()


def test_time_budget_skips_the_remaining_cases(tmp_path):
    benchmark = Benchmark(
        parse_settings([*TINY, "--time_budget", "1e-9", "--out_dir", str(tmp_path)])
    )
    cases = benchmark.run()
    assert len(cases) == 1  # the first case always runs
    assert benchmark.skipped == ["inference 1 s × 1", "train step 0.5 s × 2"]
    assert (
        "Not measured (time budget): inference 1 s × 1" in (tmp_path / "benchmark.md").read_text()
    )


def test_gpu_preset_is_a_gpu_users_setting_and_explicit_options_win():
    settings = parse_settings(["--preset", "gpu", "--repeats", "3"])
    assert settings.dtype == "bfloat16" and settings.tf32 and settings.warmup >= 5
    assert settings.repeats == 3
    config = yaml.safe_load((REPO / "conf" / "train_asr_conformer_ctc.yaml").read_text())
    for key in ("dropout_rate", "positional_dropout_rate", "attention_dropout_rate"):
        assert settings.encoder_conf[key] == config["encoder_conf"][key] == PRESETS["gpu"][key]
    conf = config["encoder_conf"]
    for key in ("output_size", "attention_heads", "linear_units", "num_blocks"):
        assert settings.encoder_conf[key] == conf[key]
    check_reuse_groups([4, 4, 4, 4], settings.encoder_conf["num_blocks"])

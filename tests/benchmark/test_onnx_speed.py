"""The ONNX Runtime benchmark runs end to end at toy size and reports paired ratios."""

import json

import pytest

from espnet_reuse.benchmark.self_checks import TINY_CONFORMER
from espnet_reuse.bin.benchmark_onnx import SIZES, main

pytest.importorskip("onnxruntime")


def test_onnx_speed_reports_both_runtimes(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(SIZES, "conformer", TINY_CONFORMER)
    out = tmp_path / "onnx_speed"
    main(
        ["--layouts", "2x2", "--seconds", "0.5", "--batch_sizes", "1", "2"]
        + ["--repeats", "6", "--warmup", "1", "--out_dir", str(out)]
    )
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith("|0.5 s|")]
    assert [row.split("|")[2:4] for row in rows] == [["1", "2x2"], ["2", "2x2"]]
    for row in rows:  # three ratios with intervals: PyTorch, ONNX Runtime, across runtimes
        cells = row.split("|")[4:7]
        assert all(float(c.split()[0]) > 0 and "[" in c for c in cells), row
    assert (out / "onnx_speed.md").read_text().strip() == table.strip()
    timings = json.loads((out / "onnx_speed.json").read_text())
    assert len(timings) == 2 and len(timings[0]["ONNX Runtime reuse 2x2"]["samples"]) == 6
    assert (out / "espnet.onnx").exists() and (out / "reuse_2x2.onnx").exists()

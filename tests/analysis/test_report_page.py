"""The analysis page (``espnet_reuse.analysis.report``): self-contained, and rendered by
headless Chromium without script errors and not blank."""

import re
import shutil
import subprocess

import matplotlib.image
import matplotlib.pyplot as plt
import pytest
import torch

from espnet_reuse.analysis.report import REPORT, write_report

LAYERS, HEADS, FRAMES = 3, 2, 12


@pytest.fixture
def report(tmp_path):
    """A report of a made-up 3-layer model (layers 2 and 3 share a map) on 2 utterances."""
    generator = torch.Generator().manual_seed(0)
    maps = {
        utt: [torch.randn(HEADS, FRAMES, FRAMES, generator=generator).softmax(-1)] * LAYERS
        for utt in ("utt_a", "utt_b")
    }
    summary = {
        "model": "exp/asr_demo/valid.loss.ave.pth",
        "data_dir": "dump/raw/test_clean",
        "utterances": 2,
        "reuse_groups": [1, 2],
        "head_ranking": {"globalness": [[0, 1], [2, 0]]},
        "head_kinds": {"kind": [["local", "global"]] * LAYERS, "rule": "a rule"},
        "probing_accuracy": [0.5, 0.6, 0.7],
        "probing_interval": [[0.4, 0.6], [0.5, 0.7], [0.65, 0.75]],
        "pruning_wer": {"random": [[0, 10.0], [3, 20.0]]},
    }
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [1, 0])
    fig.savefig(tmp_path / "cad.png")
    plt.close(fig)
    return write_report(summary, maps, tmp_path)


def test_the_page_holds_everything_inline(report):
    page = report.read_text()
    assert report.name == REPORT
    assert not re.search(r"(src|href)=\"(?!data:)", page)  # nothing loaded from elsewhere
    assert "http" not in page.replace("http-equiv", "")
    # every head of every layer of both utterances, and the figure that was drawn
    assert page.count("data:image/png;base64,") == 2 * LAYERS * HEADS + 1
    assert "Cumulative attention diagonality" in page and "Head pruning" not in page
    assert "<td>local</td>" in page and "<td>0.700 [0.650, 0.750]</td>" in page


def chromium(*args, timeout=120):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no headless Chromium here: apt-get install chromium (.ci/run does)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run(
        [browser, *flags, *args], capture_output=True, text=True, timeout=timeout, check=True
    )


def test_the_page_renders_in_headless_chromium(report, tmp_path):
    dom = chromium("--dump-dom", report.as_uri()).stdout
    assert 'data-ready="1"' in dom and "data-error" not in dom  # the script ran to its end
    assert dom.count("<option") == 2 + LAYERS + HEADS  # the pickers were filled
    assert "layer 1, head 1: rows are queries" in dom
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=900,700", report.as_uri())
    pixels = matplotlib.image.imread(shot)
    assert pixels.std() > 0.05  # not a blank page


def test_a_script_error_is_seen(report):
    broken = report.with_name("broken.html")
    broken.write_text(report.read_text().replace("show();\n", "shwo();\n"))
    dom = chromium("--dump-dom", broken.as_uri()).stdout
    assert "data-error" in dom and 'data-ready="1"' not in dom

"""The prepared GPU check, run on the CPU at toy sizes as CI can: in this environment,
and in one that holds only packages the GPU machine has, plus the documented wheels."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from espnet_reuse.benchmark import self_checks
from espnet_reuse.benchmark.self_checks import Check
from espnet_reuse.bin.gpu_check import main

from helpers import REPO

CHECKS = 18  # on the CPU: the joint search's synchronisation count is a CUDA check
# a budget no loaded CI machine runs out of (the budget itself: tests/benchmark/test_suite.py)
TINY = ["--device", "cpu", "--tiny", "true", "--benchmark_seconds", "3600"]
# a subset of what the GPU machine's Python has: torch and the usual scientific stack
DEVICE_PACKAGES = {
    "torch",
    "torchaudio",
    "numpy",
    "scipy",
    "sentencepiece",
    "pyyaml",
    "tqdm",
    "matplotlib",
    "triton",
    "sympy",
    "mpmath",
    "networkx",
    "jinja2",
    "markupsafe",
    "filelock",
    "fsspec",
    "typing-extensions",
    "setuptools",
    "contourpy",
    "cycler",
    "fonttools",
    "kiwisolver",
    "packaging",
    "pillow",
    "pyparsing",
    "python-dateutil",
    "six",
}


def run_script(out_dir: Path, python_dir: Path, env: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, **env, "PATH": f"{python_dir}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    command = ["bash", str(REPO / "scripts" / "gpu_check.sh"), str(out_dir), *TINY]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)


def check_outputs(out_dir: Path, stdout: str) -> None:
    assert stdout.count("PASS ") == CHECKS and "FAIL" not in stdout
    report = (out_dir / "gpu_check.md").read_text()
    assert f"**{CHECKS}/{CHECKS} checks passed.**" in report
    assert "- SKIP ONNX Runtime on CUDA: not a CUDA device" in report  # on a GPU: timed
    assert "|torch|" in report and "|espnet|202511|" in report
    for folder, dtype in (
        ("bfloat16", "bfloat16"),
        ("e_branchformer_bfloat16", "bfloat16"),
        ("float32", "float32"),
    ):
        table = (out_dir / folder / "benchmark.md").read_text()
        assert f"), {dtype}, TF32" in table and "|train step|0.5 s × 2|2x2|" in table
        assert (out_dir / folder / "speedup.png").stat().st_size > 0
        assert table.startswith("### E-Branchformer" if "e_b" in folder else "### Conformer")
    checks = json.loads((out_dir / "checks.json").read_text())["checks"]
    assert len(checks) == CHECKS and all(c["passed"] for c in checks)


def test_the_check_runs_on_cpu_at_toy_sizes(tmp_path):
    done = run_script(tmp_path / "out", Path(sys.executable).parent, {})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_outputs(tmp_path / "out", done.stdout)


def test_a_failed_check_fails_the_command(tmp_path, monkeypatch):
    monkeypatch.setattr(self_checks, "attention_checks", lambda device: [Check("x", False, "bad")])
    with pytest.raises(SystemExit) as stopped:
        main([*TINY, "--out_dir", str(tmp_path)])
    assert stopped.value.code == 1
    assert "- FAIL x: bad" in (tmp_path / "gpu_check.md").read_text()


def device_like_python(root: Path) -> Path:
    """A venv that sees only ``DEVICE_PACKAGES`` of this environment (linked, not copied)."""
    from importlib import metadata

    site, links = root / "site", set()
    site.mkdir(parents=True)
    here = Path(sysconfig.get_paths()["purelib"])
    for dist in metadata.distributions():
        if dist.metadata["Name"].lower().replace("_", "-") not in DEVICE_PACKAGES:
            continue
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] != ".."}:
            if (here / top).exists() and top not in links and not top.startswith("__"):
                (site / top).symlink_to(here / top)
                links.add(top)
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    query = "import site; print(site.getsitepackages()[0])"
    python = str(root / "venv" / "bin" / "python")
    venv_site = subprocess.run([python, "-c", query], capture_output=True, text=True, check=True)
    Path(venv_site.stdout.strip(), "device_packages.pth").write_text(f"{site}\n")
    return root / "venv" / "bin"


@pytest.mark.slow
def test_the_documented_wheels_are_all_the_check_needs(tmp_path):
    python_dir = device_like_python(tmp_path / "device")
    no_espnet = subprocess.run([str(python_dir / "python3"), "-c", "import espnet2"])
    assert no_espnet.returncode != 0  # the environment is as bare as the GPU machine's
    wheels = tmp_path / "wheels"
    download = subprocess.run(
        ["make", "-C", str(REPO), "gpu-wheels", f"WHEELS={wheels}"], capture_output=True, text=True
    )
    assert download.returncode == 0, download.stderr[-2000:]
    assert sum(w.stat().st_size for w in wheels.glob("*.whl")) < 8 * 2**20
    done = run_script(tmp_path / "out", python_dir, {"WHEELS": str(wheels)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # the plugin's own wheel, installed by pip for this Python (python_requires admits it)
    assert (
        "installed espnet_reuse-" in done.stdout
        and f"for Python {sys.version.split()[0]}" in done.stdout
    )
    check_outputs(tmp_path / "out", done.stdout)

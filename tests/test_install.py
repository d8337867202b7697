"""The plugin installs into an existing ESPnet environment without replacing its packages,
and into a fresh one with a torch/torchaudio pair that loads."""

import subprocess
import sys

import pytest

from helpers import REPO, commands_needing_extras, espnet_environment, pip

# versions unlike constraints.txt's, but within the plugin's ranges (setup.cfg)
USER_VERSIONS = [
    "numpy==2.3.5",
    "scipy==1.16.3",
    "scikit-learn==1.7.2",
    "jiwer==3.1.0",
    "tqdm==4.67.1",
]


# packages of the `recipe` and `onnx` extras that nothing in the core install brings
EXTRAS_ONLY = {"matplotlib", "jiwer", "praatio", "flashlight-text", "onnxruntime", "onnxscript"}
# a core install registers every reuse encoder with ESPnet and builds one
CORE_CHECK = """
import torch, torchaudio
import espnet_reuse.decoding.inference
from espnet_reuse.registration import asr_task
from espnet_reuse.encoder.families import FAMILIES, reuse_encoder_name
choices = next(c for c in asr_task().class_choices_list if c.name == "encoder")
assert all(reuse_encoder_name(f) in choices.classes for f in FAMILIES), choices.classes
encoder = choices.get_class("conformer_reuse")(20, output_size=16, linear_units=16,
    num_blocks=2, reuse_groups=[2])
print(torch.__version__, torchaudio.__version__)
"""


def installed(python):
    """``name==version`` of every distribution the environment sees, espnet_reuse aside."""
    lines = pip(python, "list", "--format", "freeze").splitlines()
    return sorted(line for line in lines if not line.lower().startswith("espnet_reuse"))


@pytest.mark.slow
def test_install_beside_espnet_replaces_nothing(tmp_path):
    # a user's environment: ESPnet, torch and the rest as this repository's .venv has
    # them (seen through a .pth file), with other versions of some shared dependencies
    python = espnet_environment(tmp_path / "user")
    pip(python, "install", "-q", "--no-deps", *USER_VERSIONS)
    before = installed(python)
    assert "espnet==202511" in before and "numpy==2.3.5" in before

    pip(python, "install", "-q", "-e", str(REPO))

    assert installed(python) == before
    check = subprocess.run(
        [str(python), "-c", "import espnet_reuse.decoding.inference"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr[-2000:]


@pytest.mark.slow
def test_a_fresh_core_install_loads_torch_and_registers_the_encoders(tmp_path):
    # docs/install.md's `pip install -e .`, no constraints file: pip resolves every version
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "fresh")], check=True)
    python = tmp_path / "fresh" / "bin" / "python"
    pip(python, "install", "-q", "pip>=24,<25")
    pip(python, "install", "-q", "-e", str(REPO))
    check = subprocess.run([str(python), "-c", CORE_CHECK], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr[-2000:]
    torch_version, audio_version = check.stdout.split()[-2:]
    assert torch_version.split("+")[0] == audio_version.split("+")[0]
    # the core install: the encoders and the decoding core, not the recipe's packages
    names = {line.split("==")[0].lower() for line in installed(python)}
    assert not names & EXTRAS_ONLY, names & EXTRAS_ONLY
    # a command whose extra is missing says so in one line; the others run
    needing = commands_needing_extras()
    for path in sorted((REPO / "espnet_reuse" / "bin").glob("[a-z]*.py")):
        command = path.stem
        result = subprocess.run(
            [str(python), "-m", f"espnet_reuse.bin.{command}", "--help"],
            capture_output=True,
            text=True,
        )
        if command not in needing:
            assert result.returncode == 0, (command, result.stderr[-2000:])
            continue
        extra = needing[command][0]
        lines = [line for line in result.stderr.splitlines() if "Flash Attention" not in line]
        assert result.returncode == 1 and len(lines) == 1, (command, result.stderr[-2000:])
        assert lines[0].startswith(f"{command}: needs the '{extra}' extra"), lines[0]
        assert f'pip install "espnet_reuse[{extra}]"' in lines[0], lines[0]

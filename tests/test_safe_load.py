"""Model files are data: a file whose unpickling would run a command is refused by every
path of the project that loads one, before the command runs; ESPnet's own training
checkpoints still load and resume."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from espnet_reuse import espnet_api, safe_load
from espnet_reuse.bin import analyze_attention
from espnet_reuse.checkpoints import CHECKPOINT, checkpoint_epoch, recover
from espnet_reuse.convert import convert_experiment
from espnet_reuse.decoding.inference import load_asr_model, recognise
from espnet_reuse.kaldi_data import read_num_samples, read_table
from espnet_reuse.recipe.decode import DecodeConfig, DecodeTask, decode_tasks
from espnet_reuse.recipe.espnet_commands import flags
from espnet_reuse.recipe.pack import pack_experiment

from helpers import REPO, TINY_CONFIG, train_args, write_model


class Payload:
    """Unpickling it runs ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(autouse=True)
def untrusted(monkeypatch):
    monkeypatch.delenv(safe_load.TRUST_ENV, raising=False)


@pytest.fixture(scope="module")
def experiment(varied_data, tmp_path_factory):
    """An untrained tiny CTC experiment whose ``model.pth`` carries a payload, and the
    file the payload would create."""
    exp = write_model(varied_data[0], TINY_CONFIG, tmp_path_factory.mktemp("evil") / "exp")
    marker = exp.parent / "payload-ran"
    state = torch.load(exp / "model.pth")
    torch.save({**state, "extra": Payload(marker)}, exp / "model.pth")
    return exp, marker


def assert_refused(error, path: Path, marker: Path) -> None:
    message = str(error.value)
    assert str(path) in message and "posix.system" in message and "--trust_model_file" in message
    assert not marker.exists()


def test_loading_a_model_refuses_a_payload(experiment):
    exp, marker = experiment
    with pytest.raises(safe_load.UntrustedModelFile) as error:
        load_asr_model(exp / "config.yaml", exp / "model.pth", "cpu")
    assert_refused(error, exp / "model.pth", marker)


def test_stage_12_decoding_refuses_a_payload(experiment, varied_data, tmp_path):
    exp, marker = experiment
    task = DecodeTask(varied_data[1], DecodeConfig(decoder="greedy"), tmp_path / "decode")
    with pytest.raises(safe_load.UntrustedModelFile) as error:
        decode_tasks([task], exp / "config.yaml", exp / "model.pth", nj=1)
    assert_refused(error, exp / "model.pth", marker)


def test_the_analysis_refuses_a_payload(experiment, varied_data, tmp_path):
    exp, marker = experiment
    with pytest.raises(safe_load.UntrustedModelFile) as error:
        analyze_attention.main(
            [
                *("--asr_train_config", str(exp / "config.yaml")),
                *("--asr_model_file", str(exp / "model.pth")),
                *("--data_dir", str(varied_data[1]), "--out_dir", str(tmp_path / "analysis")),
            ]
        )
    assert_refused(error, exp / "model.pth", marker)


def test_conversion_refuses_a_payload(experiment, tmp_path):
    exp, marker = experiment
    with pytest.raises(safe_load.UntrustedModelFile) as error:
        convert_experiment(exp / "config.yaml", exp / "model.pth", [1, 2], tmp_path / "converted")
    assert_refused(error, exp / "model.pth", marker)
    assert not (tmp_path / "converted" / "model.pth").exists()


def test_a_packed_payload_is_refused_after_unpacking(experiment, tmp_path, monkeypatch):
    exp, marker = experiment
    monkeypatch.chdir(exp.parent)
    packed = pack_experiment(exp, "model.pth")
    files = espnet_api.unpack(packed, tmp_path / "unpacked")
    with pytest.raises(safe_load.UntrustedModelFile) as error:
        load_asr_model(Path(files["asr_train_config"]), Path(files["asr_model_file"]), "cpu")
    assert_refused(error, Path(files["asr_model_file"]), marker)


def test_a_trusted_file_is_unpickled_in_full(experiment, monkeypatch):
    exp, marker = experiment
    monkeypatch.setenv(safe_load.TRUST_ENV, "1")
    try:
        assert "extra" in safe_load.load(exp / "model.pth")
        assert marker.exists()  # what trusting such a file means
    finally:
        marker.unlink(missing_ok=True)
    with pytest.raises(safe_load.UntrustedModelFile):
        safe_load.load(exp / "model.pth", trust=False)
    assert not marker.exists()


def asr_train(corpus, exp: Path, epochs: int, *extra: str) -> subprocess.CompletedProcess:
    """This project's ``asr_train`` as the recipe runs it, to ``epochs``, resuming."""
    args = [str(a) for a in train_args(corpus, exp, TINY_CONFIG)]
    command = [sys.executable, "-m", "espnet_reuse.bin.asr_train", *args, *extra]
    command += [str(a) for a in flags({"max_epoch": epochs, "resume": "true"})]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(varied_data, tmp_path_factory):
    """A tiny experiment trained one epoch: ESPnet's checkpoint (optimizer, scheduler,
    reporter states)."""
    exp = tmp_path_factory.mktemp("trained") / "exp"
    done = asr_train(varied_data[0], exp, 1)
    assert done.returncode == 0, done.stderr[-3000:]
    return exp


def test_espnets_training_checkpoint_loads_as_data_and_resumes(trained, varied_data):
    states = safe_load.load(trained / CHECKPOINT, trust=False)
    assert {"model", "reporter", "optimizers", "schedulers"} <= states.keys()
    assert states["reporter"]["epoch"] == 1
    done = asr_train(varied_data[0], trained, 2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "The training was finished at 2 epochs" in done.stderr
    assert checkpoint_epoch(trained / CHECKPOINT) == 2


def test_resuming_refuses_a_checkpoint_with_a_payload(trained, varied_data, tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    marker = tmp_path / "payload-ran"
    states = safe_load.load(trained / CHECKPOINT)
    states["reporter"]["stats"][1]["train"]["extra"] = Payload(marker)
    torch.save(states, exp / CHECKPOINT)
    with pytest.raises(safe_load.UntrustedModelFile) as error:
        recover(exp)  # the recipe's stage 11, before training
    assert_refused(error, exp / CHECKPOINT, marker)
    done = asr_train(varied_data[0], exp, 2)  # asr_train itself, without the recipe
    assert done.returncode != 0 and not marker.exists()
    assert f"{exp / CHECKPOINT} was not loaded: it asks for posix.system" in done.stderr
    assert (exp / CHECKPOINT).exists()  # refused, never moved aside as a torn file


def test_init_param_refuses_a_payload(experiment, varied_data, tmp_path):
    exp, marker = experiment
    done = asr_train(varied_data[0], tmp_path / "exp", 1, "--init_param", str(exp / "model.pth"))
    assert done.returncode != 0 and not marker.exists()
    assert f"{exp / 'model.pth'} was not loaded" in done.stderr


def test_the_usage_pages_safe_decoding_of_a_packed_model(varied_data, tmp_path, monkeypatch):
    readme = (REPO / "docs" / "using.md").read_text()
    snippet = readme.split("load it here:\n\n  ```python\n")[1].split("  ```")[0]
    exp = write_model(varied_data[0], TINY_CONFIG, tmp_path / "exp")
    monkeypatch.chdir(tmp_path)
    packed = pack_experiment(exp, "model.pth")
    (tmp_path / "data").symlink_to(varied_data[1])
    packed.rename(tmp_path / "asr_exp_valid.loss.ave.zip")
    scope: dict = {}
    exec(textwrap.dedent(snippet), scope)
    wav = read_table(varied_data[1] / "wav.scp")
    assert scope["hyps"].keys() == wav.keys()
    expected = recognise(
        load_asr_model(exp / "config.yaml", exp / "model.pth", "cpu"),
        wav,
        read_num_samples(varied_data[1]),
        8,
        "cpu",
    )
    assert [h.token_ids for h in scope["hyps"].values()] == [
        expected[u].token_ids for u in scope["hyps"]
    ]

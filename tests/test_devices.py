"""GPUs asked for but not usable: one clear error before any work."""

import pytest
import torch

from espnet_reuse.devices import check_gpus, cuda_devices, named
from espnet_reuse.recipe.run import main


def test_no_gpu_needed_passes():
    check_gpus(0, "--ngpu")


def test_unusable_gpus_name_the_torch_build_and_the_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError) as error:
        check_gpus(2, "--ngpu")
    message = str(error.value)
    assert f"torch {torch.__version__} (CUDA " in message
    assert "built for your driver's CUDA version" in message and "--ngpu 0" in message


def test_too_few_visible_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert cuda_devices() == ["cuda:0", "cuda:1"]
    with pytest.raises(ValueError, match="asks for 4 GPU\\(s\\), but only 2 are visible"):
        check_gpus(4, "--ngpu")


def test_recipe_checks_the_gpus_before_its_first_stage(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nothing_here"  # stage 1 would fail on it: the check comes first
    with pytest.raises(ValueError, match="--ngpu asks for 1 GPU"):
        main(["--stage", "1", "--stop-stage", "13", "--ngpu", "1", "--corpus", str(missing)])
    with pytest.raises(ValueError, match="--gpu_inference true asks for 1 GPU"):
        main(["--stage", "12", "--stop-stage", "12", "--gpu_inference", "true"])


def test_cuda_is_named_with_its_index(monkeypatch):

    monkeypatch.setattr(torch.cuda, "current_device", lambda: 2)
    assert named("cuda") == "cuda:2" and named("cuda:1") == "cuda:1" and named("cpu") == "cpu"

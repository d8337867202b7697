"""The GPUs a run may use, checked before any work starts.

torch from PyPI is a CUDA 13 build: on a driver too old for it (or with a CPU
build of torch) ``torch.cuda.is_available()`` is false, and ESPnet fails only
after the data stages with its own traceback. ``check_gpus`` says so up front,
with the versions involved and the fix.
"""

from typing import List

import torch


def cuda_devices() -> List[str]:
    """``cuda:0``, ``cuda:1``, ... for every visible GPU."""
    return [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def named(device: str) -> str:
    """``cuda`` -> ``cuda:N`` (the current GPU), so that every call names one GPU."""
    if device == "cuda":
        return f"cuda:{torch.cuda.current_device()}"
    return device


def check_gpus(needed: int, option: str) -> None:
    """Raise ``ValueError`` unless ``needed`` GPUs are usable (nothing to check for 0)."""
    if needed <= 0:
        return
    build = f"torch {torch.__version__} (CUDA {torch.version.cuda or 'none: a CPU build'})"
    fix = (
        "install the torch and torchaudio 2.11.0 wheels built for your driver's CUDA version "
        "(nvidia-smi shows it; README, 'Into an existing ESPnet environment'), or run on CPU "
        "with --ngpu 0 / --gpu_inference false"
    )
    if not torch.cuda.is_available():
        raise ValueError(f"{option} asks for {needed} GPU(s), but {build} finds none usable: {fix}")
    visible = torch.cuda.device_count()
    if visible < needed:
        raise ValueError(
            f"{option} asks for {needed} GPU(s), but only {visible} are visible "
            "(CUDA_VISIBLE_DEVICES and the allocation decide which)"
        )

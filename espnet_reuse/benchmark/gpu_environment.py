"""The machine a GPU check runs on: the device, its driver and the library versions."""

import shutil
import subprocess
import sys
from importlib import metadata
from typing import Dict, Optional

import torch

from espnet_reuse.benchmark.suite import device_name, processor_name


def environment(device: str) -> Dict[str, str]:
    """The device, its driver and the library versions."""
    info = {
        "device": device_name(device),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "CUDA (torch build)": str(torch.version.cuda),
        "cuDNN": str(torch.backends.cudnn.version()),
        "processor": processor_name(),
    }
    for package in ("torchaudio", "espnet", "numpy"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    if device.startswith("cuda"):
        properties = torch.cuda.get_device_properties(device)
        info["compute capability"] = f"{properties.major}.{properties.minor}"
        info["memory"] = f"{properties.total_memory / 2**30:.0f} GiB"
        if shutil.which("nvidia-smi"):
            query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            driver = subprocess.run(query, capture_output=True, text=True).stdout.split("\n")[0]
            info["driver"] = driver.strip()
    return info


def onnx_runtime_missing(device: str) -> Optional[str]:
    """Why ONNX Runtime cannot run on ``device`` here (``None``: it can)."""
    if not device.startswith("cuda"):
        return "not a CUDA device"
    try:
        import onnxruntime
    except ImportError:
        return "onnxruntime is not installed"
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return "ONNX Runtime has no CUDA provider here (onnxruntime-gpu)"
    return None

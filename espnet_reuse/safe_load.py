"""Model files read as data: tensors and plain containers, never code.

A ``.pth`` file is a pickle, and unpickling can call any function the file names:
a model file shared on a hub can run a program on the machine that loads it
(ESPnet 202511 loads every file with ``weights_only=False``). Every file this project
loads (models, training checkpoints, converted and averaged models) is read with
``torch.load(weights_only=True)``, which builds only tensors, plain containers and
the few types below that ESPnet's training checkpoints hold (its reporter keeps numpy
scalars and ``timedelta``s). A file that names anything else is refused with
``UntrustedModelFile``, which names the file and what it asks for, before anything
in it runs.

A user who trusts a file passes ``--trust_model_file true`` (the recipe, the
``bin/`` commands); it sets ``TRUST_ENV`` for the process and the processes it
starts (training, decoding workers), and only then are such files unpickled in
full. ``guard_torch_load`` makes every ``torch.load`` of a process (ESPnet's
resume, model averaging and ``--init_param`` in ``asr_train``) go through ``load``.
"""

import argparse
import datetime
import os
import pickle
from typing import Any, List, Optional, Union

import numpy
import torch

from espnet_reuse import espnet_api

TRUST_ENV = "ESPNET_REUSE_TRUST_MODEL_FILE"
TRUST_OPTION = "--trust_model_file"
# what ESPnet's training checkpoints hold beyond tensors and containers (reporter stats)
SAFE_GLOBALS: List[Any] = [
    numpy._core.multiarray.scalar,
    numpy.dtype,
    *(getattr(numpy.dtypes, name) for name in ("Float64DType", "Float32DType", "Int64DType")),
    datetime.timedelta,
]
_torch_load = torch.load

PathLike = Union[str, os.PathLike]


class UntrustedModelFile(ValueError):
    """A model file that holds more than data: loading it would run code it names."""

    def __init__(self, path: PathLike, names: str) -> None:
        super().__init__(
            f"{path} was not loaded: it asks for {names}, beyond tensors and plain "
            "containers, and unpickling it would run code from the file; load it only "
            f"if you trust where it came from ({TRUST_OPTION} true)"
        )
        self.path = path


def trusted() -> bool:
    """Whether this process was told to trust model files (``TRUST_ENV``)."""
    return os.environ.get(TRUST_ENV, "") not in ("", "0", "false")


def set_trusted(trust: bool) -> None:
    """Trust model files (or not) in this process and the processes it starts."""
    if trust:
        os.environ[TRUST_ENV] = "1"
    else:
        os.environ.pop(TRUST_ENV, None)


def _what_it_asks_for(path: PathLike, error: Exception) -> str:
    """The globals ``path`` names that are not allowed, else the unpickler's reason."""
    allowed = {f"{g.__module__}.{g.__qualname__}" for g in SAFE_GLOBALS}
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        names = [n for n in unsafe if n not in allowed]
    except Exception:  # not a zip checkpoint (or a file object): the error says why
        names = []
    if names:
        return ", ".join(names)
    reason = str(error).split("WeightsUnpickler error:")[-1].strip().splitlines()
    return reason[0] if reason else type(error).__name__


def load(
    path: PathLike,
    map_location: Any = "cpu",
    trust: Optional[bool] = None,
    **kwargs: Any,
) -> Any:
    """``torch.load`` of ``path`` as data (``weights_only=True``); ``UntrustedModelFile``
    when it needs more, unless ``trust`` (default: ``trusted()``) allows a full unpickle.
    ``kwargs`` go to ``torch.load`` (e.g. ``mmap``)."""
    kwargs.pop("weights_only", None)
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        try:
            return _torch_load(path, map_location=map_location, weights_only=True, **kwargs)
        except pickle.UnpicklingError as error:
            if not (trusted() if trust is None else trust):
                raise UntrustedModelFile(path, _what_it_asks_for(path, error)) from None
    return _torch_load(path, map_location=map_location, weights_only=False, **kwargs)


def guard_torch_load() -> None:
    """Route every ``torch.load`` of this process through ``load`` (whatever
    ``weights_only`` the caller passes)."""

    def guarded(f: PathLike, map_location: Any = None, *args: Any, **kwargs: Any) -> Any:
        if args:  # torch.load's positional pickle_module
            kwargs["pickle_module"] = args[0]
        return load(f, map_location, **kwargs)

    torch.load = guarded


def trust_option(argv: List[str]) -> List[str]:
    """Take ``--trust_model_file <bool>`` out of ``argv`` (for a command that hands the
    rest to ESPnet's parser), apply it with ``set_trusted``; return the rest."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument(TRUST_OPTION, type=espnet_api.str2bool, default=None)
    known, rest = parser.parse_known_args(argv)
    if known.trust_model_file is not None:
        set_trusted(known.trust_model_file)
    return rest


def add_trust_option(parser: argparse.ArgumentParser) -> None:
    """``--trust_model_file`` (off) on a command's parser; apply it with ``set_trusted``."""
    parser.add_argument(
        TRUST_OPTION,
        type=espnet_api.str2bool,
        default=False,
        help="unpickle model files in full (runs any code they name): only for files "
        "from a source you trust; off, a file holding more than tensors is refused",
    )

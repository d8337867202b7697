"""CTranslate2's model file (``model.bin``) read as data: named arrays, no code run.

The layout CTranslate2's ``ModelSpec._serialize`` writes (binary version 6, little
endian): the version (uint32), the spec's name (string), its revision (uint32), the
number of variables (uint32), then per variable its name (string), rank (uint8),
dimensions (uint32 each), data type (uint8: float32, int8, int16, int32, float16,
bfloat16), size in bytes (uint32) and bytes; last, the aliases (uint32 count, then
alias and variable name, strings). A string is its length plus one (uint16), its
UTF-8 bytes and a zero byte.
"""

import struct
from pathlib import Path
from typing import Dict, NamedTuple

import numpy as np

DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
VERSIONS = (6,)  # the binary versions read here


class ModelFile(NamedTuple):
    """A CTranslate2 model file's contents."""

    spec: str  # e.g. WhisperSpec
    revision: int
    variables: Dict[str, np.ndarray]  # aliases resolved: an alias names the same array


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = path.read_bytes()
        self.pos = 0

    def take(self, size: int, what: str) -> bytes:
        if self.pos + size > len(self.data):
            raise ValueError(
                f"{self.path}: truncated ({len(self.data)} bytes) while reading {what}"
            )
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def number(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        size = self.number("H", what)
        return self.take(size, what)[:-1].decode("utf-8")


def read_model_file(path: Path) -> ModelFile:
    """Read CTranslate2's ``model.bin``; a truncated file or an unknown version is a
    ``ValueError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no CTranslate2 model file there")
    reader = _Reader(path)
    version = reader.number("I", "the version")
    if version not in VERSIONS:
        raise ValueError(f"{path}: binary version {version}; this reader knows {VERSIONS}")
    spec = reader.string("the spec's name")
    revision = reader.number("I", "the revision")
    variables: Dict[str, np.ndarray] = {}
    for _ in range(reader.number("I", "the number of variables")):
        name = reader.string("a variable's name")
        rank = reader.number("B", name)
        shape = tuple(reader.number("I", name) for _ in range(rank))
        dtype = DTYPES[reader.number("B", name)]
        raw = reader.take(reader.number("I", name), name)
        if dtype == "bfloat16":  # numpy has none: the high half of a float32
            array = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
        else:
            array = np.frombuffer(raw, "<" + np.dtype(dtype).str[1:])
        variables[name] = array.reshape(shape)
    for _ in range(reader.number("I", "the number of aliases")):
        alias = reader.string("an alias")
        variables[alias] = variables[reader.string("an alias's variable")]
    return ModelFile(spec, revision, variables)


def write_model_file(
    path: Path, spec: str, revision: int, variables: Dict[str, np.ndarray]
) -> None:
    """Write ``variables`` in CTranslate2's layout (version 6, no aliases): what tests
    and tiny models need, the inverse of ``read_model_file``."""

    def string(text: str) -> bytes:
        data = text.encode("utf-8")
        return struct.pack("<H", len(data) + 1) + data + b"\0"

    chunks = [
        struct.pack("<I", VERSIONS[-1]),
        string(spec),
        struct.pack("<II", revision, len(variables)),
    ]
    for name, array in variables.items():
        array = np.asarray(array)  # tobytes() is in C order; rank 0 stays rank 0
        chunks += [string(name), struct.pack("<B", array.ndim)]
        chunks += [struct.pack("<I", dim) for dim in array.shape]
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        chunks += [struct.pack("<BI", DTYPES.index(array.dtype.name), len(raw)), raw]
    chunks.append(struct.pack("<I", 0))
    Path(path).write_bytes(b"".join(chunks))

"""Kaldi-style data directories: ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``."""

import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional

from espnet_reuse import atomic

Table = Dict[str, str]


class DataError(ValueError):
    """Bad input data, with the file or utterance it concerns in the message."""


def read_table(path: Path, allow_empty_values: bool = False) -> Table:
    """Read ``key value`` lines; duplicate keys and missing values are errors.

    ESPnet's ``read_2columns_text`` reads the same files but takes a missing value
    silently and fails on a blank line; here blank lines are skipped and errors name
    the file and line.
    """
    table: Table = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            key, _, value = line.partition(" ")
            if not value and not allow_empty_values:
                raise DataError(f"{path}:{lineno}: '{key}' has no value")
            if key in table:
                raise DataError(f"{path}:{lineno}: '{key}' appears twice")
            table[key] = value
    return table


def write_table(path: Path, table: Mapping[str, str]) -> None:
    """Write ``key value`` lines sorted by key, whole or not at all."""
    atomic.write_text(path, "".join(f"{key} {table[key]}\n" for key in sorted(table)))


def read_num_samples(data_dir: Path, max_utts: int = 0) -> Dict[str, int]:
    """``utt2num_samples`` of a formatted data directory, as integers.

    With ``max_utts``, only the first ``max_utts`` utterances by id.
    """
    path = data_dir / "utt2num_samples"
    lengths = {}
    for utt, n in read_table(path).items():
        if not n.isdigit():
            raise DataError(f"{path}: '{utt}' has length {n!r}, not a number of samples")
        lengths[utt] = int(n)
    if max_utts and len(lengths) > max_utts:
        lengths = {utt: lengths[utt] for utt in sorted(lengths)[:max_utts]}
    return lengths


def spk2utt(utt2spk: Mapping[str, str]) -> Table:
    """Invert ``utt2spk`` into space-separated utterance lists."""
    speakers: Dict[str, list] = defaultdict(list)
    for utt in sorted(utt2spk):
        speakers[utt2spk[utt]].append(utt)
    return {spk: " ".join(utts) for spk, utts in speakers.items()}


def write_data_dir(
    directory: Path,
    tables: Mapping[str, Mapping[str, str]],
    files: Optional[Mapping[str, str]] = None,
) -> None:
    """Write the tables (file name -> table) and plain ``files`` (name -> text) atomically.

    ``spk2utt`` is derived when ``utt2spk`` is given. The directory is built
    beside its target and renamed into place, so an interrupted write never
    leaves a directory that looks complete.
    """
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, table in tables.items():
        write_table(tmp / name, table)
    if "utt2spk" in tables:
        write_table(tmp / "spk2utt", spk2utt(tables["utt2spk"]))
    for name, text in (files or {}).items():
        atomic.write_text(tmp / name, text)
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(tmp, directory)


def read_data_dir(directory: Path, names: Iterable[str]) -> Dict[str, Table]:
    """Read the named tables of a data directory, checking they list the same keys."""
    if not directory.is_dir():
        raise DataError(f"data directory {directory} does not exist")
    tables = {
        name: read_table(directory / name, allow_empty_values=name == "text") for name in names
    }
    reference_name, reference = next(iter(tables.items()))
    for name, table in tables.items():
        if table.keys() != reference.keys():
            extra = sorted(table.keys() ^ reference.keys())[:5]
            raise DataError(
                f"{directory}: {name} and {reference_name} list different utterances, e.g. {extra}"
            )
    return tables

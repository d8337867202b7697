"""Stage 15: an experiment packed for sharing, as ESPnet's ``asr.sh`` packs it.

ESPnet's packer (``espnet2.bin.pack asr``) stores the training config, the model and
any other files under their paths relative to the working folder, and its unpacker
(``Speech2Text.from_pretrained``, through espnet_model_zoo) rewrites the config's
references to those paths to where it unpacks them. That works only when the config
names each packed file by exactly that relative path. ``pack_experiment`` makes
sure of it: it lays the files out in a staging folder under their names in the zip
(relative to the working folder where they lie inside it, else their absolute path
without the leading ``/``), with a config that names them so, and packs there. The
zip holds the config, the model, the BPE model, the feature statistics and the
experiment's ``RESULTS.md``, and is renamed into place when complete.
"""

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator, List

import yaml

from espnet_reuse import atomic, espnet_api
from espnet_reuse.kaldi_data import DataError


@contextlib.contextmanager
def _working_folder(path: Path) -> Iterator[None]:
    """Run the block in ``path`` (``contextlib.chdir`` needs Python 3.11)."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def member_name(path: Path) -> str:
    """``path``'s name in the zip: relative to the working folder when inside it, else
    absolute without the leading ``/``."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved.relative_to(resolved.anchor))


def packed_model_path(exp_dir: Path, model_name: str) -> Path:
    """ESPnet's name for the packed model: ``<exp>/<exp name>_<model stem>.zip``."""
    return exp_dir / f"{exp_dir.name}_{Path(model_name).stem}.zip"


def referenced_files(config: dict) -> List[str]:
    """The files a training config names that inference needs (BPE model, statistics,
    a token list kept as a file)."""
    found = [
        config.get("bpemodel"),
        (config.get("normalize_conf") or {}).get("stats_file"),
        config.get("token_list") if isinstance(config.get("token_list"), str) else None,
    ]
    return [f for f in found if f]


def pack_experiment(exp_dir: Path, model_name: str) -> Path:
    """Pack ``exp_dir`` (config, ``model_name``, referenced files, ``RESULTS.md``) into
    ``packed_model_path``; return its path."""
    exp_dir = Path(exp_dir).resolve()
    config = yaml.safe_load((exp_dir / "config.yaml").read_text(encoding="utf-8"))
    model = exp_dir / model_name
    extras = [Path(f) for f in referenced_files(config)]
    results = exp_dir / "RESULTS.md"
    missing = [p for p in (model, *extras) if not p.exists()]
    if missing:
        raise DataError(f"cannot pack {exp_dir.name}: {', '.join(map(str, missing))} missing")
    sources = [model, *extras, *([results] if results.exists() else [])]
    members = {p: member_name(p) for p in sources}  # file -> its name in the zip
    for path in extras:  # the config names each packed file by its name in the zip
        config = espnet_api.replace_path(config, str(path), members[path])
    config_member = member_name(exp_dir / "config.yaml")
    out = packed_model_path(exp_dir, model_name)
    stage = exp_dir / f"{atomic.TEMPORARY}{os.getpid()}-pack"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        for source, name in members.items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, stage / name)
        (stage / config_member).parent.mkdir(parents=True, exist_ok=True)
        (stage / config_member).write_text(
            yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        with atomic.replacing(out) as temporary, _working_folder(stage):
            espnet_api.pack_asr(
                model=members[model],
                config=config_member,
                extras=[name for path, name in members.items() if path != model],
                out=temporary,  # ends in .zip: the packer writes a zip
            )
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out

"""Stage 15's packing: ESPnet's unpacker finds every file the packed config names."""

import os
import zipfile
from pathlib import Path

import pytest
import yaml

from espnet_reuse.espnet_api import unpack
from espnet_reuse.kaldi_data import DataError
from espnet_reuse.recipe.pack import member_name, pack_experiment, packed_model_path


def fake_experiment(root: Path, relative: bool) -> Path:
    """An experiment folder whose config names a BPE model and statistics elsewhere."""
    exp = root / "exp" / "asr_demo"
    exp.mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "bpe.model").write_bytes(b"bpe")
    (root / "exp" / "stats.npz").write_bytes(b"stats")
    (exp / "valid.loss.ave.pth").write_bytes(b"weights")
    (exp / "RESULTS.md").write_text("# RESULTS\n")
    base = Path() if relative else root
    config = {
        "encoder": "conformer_reuse",
        "token_list": ["<blank>", "a"],
        "bpemodel": str(base / "data" / "bpe.model"),
        "normalize_conf": {"stats_file": str(base / "exp" / "stats.npz")},
    }
    (exp / "config.yaml").write_text(yaml.safe_dump(config))
    return exp


def test_member_names_are_relative_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert member_name(Path("exp/a.pth")) == "exp/a.pth"
    assert member_name(tmp_path / "exp" / "a.pth") == "exp/a.pth"
    assert member_name(Path("/elsewhere/b.pth")) == "elsewhere/b.pth"


@pytest.mark.parametrize("relative", [True, False], ids=["recipe_root", "absolute_paths"])
def test_unpacked_config_names_the_unpacked_files(tmp_path, monkeypatch, relative):
    exp = fake_experiment(tmp_path, relative)
    (tmp_path / "elsewhere").mkdir()
    # from the recipe's root the config's paths are relative; else absolute, and the
    # packing folder is not above them
    monkeypatch.chdir(tmp_path if relative else tmp_path / "elsewhere")
    packed = pack_experiment(Path("exp/asr_demo") if relative else exp, "valid.loss.ave.pth")
    assert packed == packed_model_path(exp, "valid.loss.ave.pth").resolve()
    assert packed.name == "asr_demo_valid.loss.ave.zip"
    assert [p.name for p in exp.iterdir() if p.name.startswith(".tmp-")] == []
    names = zipfile.ZipFile(packed).namelist()
    results = member_name(exp / "RESULTS.md")
    assert results in names and "meta.yaml" in names
    assert (
        results == "exp/asr_demo/RESULTS.md"
        if relative
        else results.startswith(str(tmp_path).lstrip("/"))
    )

    os.chdir(tmp_path / "exp")  # unpacked elsewhere, as a user does
    files = unpack(packed, tmp_path / "unpacked")
    config = yaml.safe_load(Path(files["asr_train_config"]).read_text())
    assert Path(config["bpemodel"]).read_bytes() == b"bpe"
    assert Path(config["normalize_conf"]["stats_file"]).read_bytes() == b"stats"
    assert Path(files["asr_model_file"]).read_bytes() == b"weights"
    for path in (config["bpemodel"], config["normalize_conf"]["stats_file"]):
        assert Path(path).is_relative_to(tmp_path / "unpacked")
    assert config["encoder"] == "conformer_reuse"


def test_a_missing_file_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = fake_experiment(tmp_path, relative=True)
    (tmp_path / "exp" / "stats.npz").unlink()
    with pytest.raises(DataError, match="stats.npz missing"):
        pack_experiment(exp, "valid.loss.ave.pth")
    assert not packed_model_path(exp, "valid.loss.ave.pth").exists()

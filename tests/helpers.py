"""Shared test helpers: a small Conformer, tiny ESPnet configs, untrained experiments and
fresh Python environments."""

import ctypes.util
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Dict, List

import pytest
import torch
import yaml

from espnet_reuse.recipe.espnet_commands import flags

REPO = Path(__file__).resolve().parents[1]
CONF = Path(__file__).parent / "conf"
TINY_CONFIG = CONF / "tiny_ctc.yaml"
TINY_REUSE_CONFIG = CONF / "tiny_ctc_reuse.yaml"

SMALL_CONFORMER = dict(
    input_size=20,
    output_size=32,
    attention_heads=4,
    linear_units=48,
    num_blocks=4,
    dropout_rate=0.0,
    positional_dropout_rate=0.0,
    macaron_style=True,
    rel_pos_type="latest",
    cnn_module_kernel=7,
)

# Small encoders of the other families with a reuse form (input size 20)
SMALL_FAMILIES = {
    "e_branchformer": dict(
        output_size=32,
        attention_heads=4,
        cgmlp_linear_units=64,
        cgmlp_conv_kernel=7,
        num_blocks=4,
        dropout_rate=0.0,
        positional_dropout_rate=0.0,
        use_ffn=True,
        macaron_ffn=True,
        linear_units=48,
        merge_conv_kernel=5,
    ),
    "branchformer": dict(
        output_size=32,
        attention_heads=4,
        cgmlp_linear_units=64,
        cgmlp_conv_kernel=7,
        num_blocks=4,
        dropout_rate=0.0,
        positional_dropout_rate=0.0,
    ),
    "transformer": dict(
        output_size=32,
        attention_heads=4,
        linear_units=48,
        num_blocks=4,
        dropout_rate=0.0,
        positional_dropout_rate=0.0,
    ),
}

# Every family with a reuse form, small (input size 20)
SMALL_ENCODERS = {
    "conformer": {k: v for k, v in SMALL_CONFORMER.items() if k != "input_size"},
    **SMALL_FAMILIES,
}


def train_args(
    corpus: Dict[str, Path], output_dir: Path, config: Path = TINY_REUSE_CONFIG
) -> List[str]:
    """``asr_train`` options for one epoch on a tiny corpus (``tiny_corpus.write_tiny_corpus``)."""
    data = [
        (f"{split}_data_path_and_name_and_type", f"{corpus[key]},{name},{kind}")
        for split in ("train", "valid")
        for key, name, kind in (("wav_scp", "speech", "sound"), ("text", "text", "text"))
    ]
    return flags(
        [
            ("config", config),
            ("token_type", "char"),
            ("token_list", corpus["token_list"]),
            *data,
            ("train_shape_file", corpus["wav_scp"]),
            ("valid_shape_file", corpus["wav_scp"]),
            ("batch_type", "unsorted"),
            ("batch_size", 3),
            ("max_epoch", 1),
            ("num_workers", 0),
            ("ngpu", 0),
            ("output_dir", output_dir),
        ]
    )


def write_model(corpus: Dict[str, Path], config: Path, out_dir: Path) -> Path:
    """An untrained ESPnet ASR experiment of ``config``: ``config.yaml`` and ``model.pth``."""
    from espnet_reuse.bin.asr_train import get_parser
    from espnet_reuse.registration import asr_task

    ASRTask = asr_task()

    args = get_parser().parse_args(train_args(corpus, out_dir, config))
    torch.manual_seed(0)
    model = ASRTask.build_model(args)
    out_dir.mkdir(parents=True)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(vars(args)))
    torch.save(model.state_dict(), out_dir / "model.pth")
    return out_dir


def assert_bitwise_equal_encoders(base, reuse, feats, lengths) -> None:
    """Two encoders give equal outputs, lengths and intermediate-CTC outputs, bit for bit."""
    with torch.no_grad():
        expected, expected_lengths, _ = base(feats, lengths)
        actual, actual_lengths, _ = reuse(feats, lengths)
    if isinstance(expected, tuple):  # (output, [(layer, intermediate output), ...])
        (expected, expected_inter), (actual, actual_inter) = expected, actual
        assert [k for k, _ in actual_inter] == [k for k, _ in expected_inter]
        for (_, e), (_, a) in zip(expected_inter, actual_inter):
            assert torch.equal(e, a)
    assert torch.equal(expected_lengths, actual_lengths)
    assert torch.equal(expected, actual)


def reference_attention(encoder, idx, attention, xn, pos_emb, masks, maps):
    """Layer ``idx``'s attention output by hand: a map source runs its module and keeps
    its map in ``maps``; a reuse layer applies its source's map to its own V projection."""
    source = encoder.map_sources[idx]
    if source == idx:
        out = attention(xn, xn, xn, pos_emb, masks)
        maps[idx] = attention.attn
        return out
    n_batch, time, _ = xn.shape
    v = attention.linear_v(xn).view(n_batch, time, attention.h, -1)
    context = torch.einsum("bhqk,bkhd->bqhd", maps[source], v)
    return attention.linear_out(context.reshape(n_batch, time, -1))


def pip(python: Path, *args: str) -> str:
    """``python -m pip ARGS``; it must succeed."""
    done = subprocess.run(
        [str(python), "-m", "pip", *args], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def espnet_environment(path: Path) -> Path:
    """A new virtual environment at ``path`` that sees ESPnet, torch and the rest as this
    repository's environment has them (through a ``.pth`` file), but not the plugin;
    returns its Python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    pip(python, "install", "-q", "pip>=24,<25")
    query = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(python), "-c", query], capture_output=True, text=True)
    with open(f"{site.stdout.strip()}/espnet_env.pth", "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    return python


# what the books corpus (espnet_reuse.corpus) needs beside Python packages
ENGINES_MISSING = [
    name for name in ("flite", "festival", "npm", "apt-get") if shutil.which(name) is None
] + ([] if ctypes.util.find_library("espeak-ng") else ["libespeak-ng"])
needs_engines = pytest.mark.skipif(
    bool(ENGINES_MISSING),
    reason=f"missing {', '.join(ENGINES_MISSING)} (egs/librispeech_reuse/local/setup.sh books)",
)


def commands_needing_extras():
    """bin/ commands -> the extras they ask for (read from their source)."""
    found = {}
    for path in sorted((REPO / "espnet_reuse" / "bin").glob("*.py")):
        asked = re.search(r"^command_needs\((.*)\)$", path.read_text(), re.M)
        if asked:
            found[path.stem] = re.findall(r'"(\w+)"', asked.group(1))
    return found

"""A full disk in every stage: the recipe on a small file system that is filled up before
each stage. A stage either completes or fails with a line naming the file it could not
write and leaves nothing a re-run takes as done: freeing space and re-running the same
stage ends with the outputs of a run on an ample disk."""

import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from espnet_reuse.kaldi_data import DataError, read_table
from espnet_reuse.recipe.espnet_commands import flags
from espnet_reuse.recipe.options import parse
from espnet_reuse.recipe.run import Recipe
from espnet_reuse.recipe.training_checks import check_feature_size

from helpers import REPO
from tiny_corpus import write_librispeech_tree

PARTS = {"train-clean-100": (2, 4), "dev-clean": (1, 3), "test-clean": (1, 3)}
DECODED = "decode_ctc_greedy_asr_model_valid.loss.best"


def recipe_options(corpus, root):
    return {
        "corpus": corpus,
        "train_set": "train_960",
        "valid_set": "dev",
        "test_sets": "test_clean",
        "nbpe": 30,
        "nj": 1,
        "inference_nj": 1,
        "speed_perturb_factors": "0.9 1.0",
        "asr_config": "tests/conf/tiny_ctc_reuse.yaml",
        "inference_config": "conf/decode_ctc_greedy.yaml",
        "inference_tag": DECODED,
        "inference_asr_model": "valid.loss.best.pth",
        "datadir": root / "data",
        "dumpdir": root / "dump",
        "expdir": root / "exp",
    }


def stage(options, number):
    command = [sys.executable, "-m", "espnet_reuse.recipe.run", *flags(options)]
    command += ["--stage", str(number), "--stop-stage", str(number)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MiB tmpfs (root may mount one; elsewhere the test is skipped)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def fill(disk, leave=4096):
    """Fill ``disk`` up to ``leave`` free bytes; return the filler file."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, max(0, free - leave))
    return filler


def outputs(root):
    """What the run produced that must not depend on the faults: decoded text and scores."""
    decode = root / "exp" / "asr_tiny_ctc_reuse_raw_en_bpe30_sp" / DECODED / "test_clean"
    return {
        "text": read_table(decode / "text", allow_empty_values=True),
        "wer": (decode / "score_wer" / "result.txt").read_text(),
        "tokens": (root / "data" / "en_token_list" / "bpe_unigram30" / "tokens.txt").read_text(),
    }


@pytest.mark.slow
def test_every_stage_survives_a_full_disk(tmp_path, small_disk):
    corpus = write_librispeech_tree(tmp_path / "corpus", PARTS)
    ample = recipe_options(corpus, tmp_path / "ample")
    for number in range(1, 14):
        done = stage(ample, number)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    options = recipe_options(corpus, small_disk)
    failed = []
    for number in range(1, 14):
        filler = fill(small_disk)
        done = stage(options, number)
        filler.unlink()
        if done.returncode != 0:
            said = done.stdout + done.stderr
            assert "No space left on device" in said, said[-3000:]
            assert "could not write" in said, said[-3000:]
            assert "Traceback" not in done.stdout.splitlines()[-1]
            failed.append(number)
            again = stage(options, number)  # the same command, with space
            assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert len(failed) >= 8, failed  # the stages that write files failed, then recovered
    assert outputs(small_disk) == outputs(tmp_path / "ample")


def test_statistics_of_another_feature_size_stop_training_before_it_starts(tmp_path):
    stats = tmp_path / "feats_stats.npz"
    np.savez(stats, count=np.array(10), sum=np.zeros(80), sum_square=np.ones(80))
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"frontend": "default", "frontend_conf": {"n_mels": 40}}))
    with pytest.raises(DataError) as error:
        check_feature_size(config, yaml.safe_load(config.read_text()), stats)
    message = str(error.value)
    assert "statistics of 80-dimensional features" in message and "makes 40" in message
    assert f"./run.sh --stage 10 --stop-stage 10 --asr_config {config}" in message
    config.write_text(yaml.safe_dump({"frontend_conf": {"fs": "16k"}}))  # n_mels: 80
    check_feature_size(config, yaml.safe_load(config.read_text()), stats)
    config.write_text(yaml.safe_dump({"frontend": "s3prl"}))  # left to ESPnet
    check_feature_size(config, yaml.safe_load(config.read_text()), stats)


def test_stage_11_checks_the_statistics_before_training(tmp_path):
    stats = tmp_path / "stats"
    (stats / "train").mkdir(parents=True)
    np.savez(
        stats / "train" / "feats_stats.npz", count=10, sum=np.zeros(80), sum_square=np.ones(80)
    )
    config, exp = REPO / "conf" / "demo" / "train_asr_conformer_ctc.yaml", tmp_path / "exp"
    args = parse(["--asr_config", str(config), "--asr_stats_dir", str(stats), "--expdir", str(exp)])
    with pytest.raises(DataError, match="statistics of 80-dimensional features, but .* makes 40"):
        Recipe(args).stage11()
    assert not exp.exists()  # nothing made before the check

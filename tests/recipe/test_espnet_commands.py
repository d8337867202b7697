"""Assembly of training commands for each launcher."""

import sys
from pathlib import Path

import pytest

from espnet_reuse.recipe.espnet_commands import LaunchOptions, train_command

ARGS = ["--config", "conf/x.yaml"]
EXP = Path("exp/asr_x")


def test_local_cpu_and_single_gpu_run_one_process():
    assert train_command(ARGS, LaunchOptions(ngpu=0), EXP) == [
        sys.executable,
        "-m",
        "espnet_reuse.bin.asr_train",
        *ARGS,
        "--ngpu",
        "0",
        "--multiprocessing_distributed",
        "false",
    ]
    assert train_command(ARGS, LaunchOptions(ngpu=1), EXP)[-3:] == [
        "1",
        "--multiprocessing_distributed",
        "false",
    ]


def test_local_multi_gpu_uses_espnet_distributed_workers():
    command = train_command(ARGS, LaunchOptions(ngpu=4), EXP)
    assert command[-4:] == ["--ngpu", "4", "--multiprocessing_distributed", "true"]


def test_torchrun_single_and_multi_node():
    single = train_command(ARGS, LaunchOptions("torchrun", ngpu=8), EXP)
    assert single[:5] == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
    ]
    assert single[5] == "8" and single[-4:] == [
        "--ngpu",
        "1",
        "--multiprocessing_distributed",
        "false",
    ]
    multi = train_command(
        ARGS, LaunchOptions("torchrun", ngpu=4, num_nodes=2, node_rank=1, master_addr="node0"), EXP
    )
    joined = " ".join(multi)
    assert "--nnodes 2 --node_rank 1 --master_addr node0 --master_port 29500" in joined
    assert "--nproc_per_node 4 -m espnet_reuse.bin.asr_train --config conf/x.yaml" in joined
    cpu = train_command(ARGS, LaunchOptions("torchrun", ngpu=0, nproc_per_node=2), EXP)
    assert cpu[-6:] == [
        "--ngpu",
        "0",
        "--multiprocessing_distributed",
        "false",
        "--dist_backend",
        "gloo",
    ]


def test_slurm_uses_srun_and_espnets_launcher(monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "32")
    command = train_command(ARGS, LaunchOptions("slurm", ngpu=4, num_nodes=3), EXP)
    assert command[:10] == [
        "srun",
        "--nodes",
        "3",
        "--ntasks-per-node",
        "1",
        "--cpus-per-task",
        "32",
        "--kill-on-bad-exit=1",
        "--export=ALL",
        sys.executable,
    ]
    chosen = LaunchOptions("slurm", ngpu=4, cpus_per_task=8)
    assert train_command(ARGS, chosen, EXP)[5:8] == ["--cpus-per-task", "8", "--kill-on-bad-exit=1"]
    monkeypatch.delenv("SLURM_CPUS_ON_NODE")
    assert "--cpus-per-task" not in train_command(ARGS, LaunchOptions("slurm", ngpu=4), EXP)
    assert command[-8:-2] == [
        "--ngpu",
        "4",
        "--multiprocessing_distributed",
        "true",
        "--dist_launcher",
        "slurm",
    ]
    assert command[-1].startswith(f"file://{EXP.absolute()}/.dist_init_")


def test_bad_launch_options():
    with pytest.raises(ValueError, match="--launcher must be one of"):
        LaunchOptions("mpi")
    with pytest.raises(ValueError, match="needs --launcher torchrun or slurm"):
        LaunchOptions("local", num_nodes=2)

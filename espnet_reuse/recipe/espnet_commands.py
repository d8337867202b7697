"""Command lines for ESPnet's trainer: statistics, training, and their launchers.

Launchers (``--launcher``):

- ``local``: one process; with ``--ngpu`` > 1 ESPnet spawns one worker a GPU
  (``--multiprocessing_distributed true``).
- ``torchrun``: ``torchrun`` starts ``nproc_per_node`` workers a node, each with
  one GPU (or a CPU with the gloo backend); run the recipe on every node with its
  ``--node_rank``.
- ``slurm``: inside an allocation, ``srun`` starts one task a node and ESPnet's own
  launcher (``--dist_launcher slurm``) spawns one worker a GPU; the nodes meet
  through a file on the shared file system.
"""

import shlex
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import List

LAUNCHERS = ("local", "torchrun", "slurm")
TRAIN_MODULE = "espnet_reuse.bin.asr_train"


@dataclass
class LaunchOptions:
    """How training processes are started."""

    launcher: str = "local"
    ngpu: int = 0
    num_nodes: int = 1
    node_rank: int = 0
    nproc_per_node: int = 0
    master_addr: str = "localhost"
    master_port: int = 29500

    def __post_init__(self) -> None:
        if self.launcher not in LAUNCHERS:
            raise ValueError(f"--launcher must be one of {LAUNCHERS}, got {self.launcher!r}")
        if self.launcher == "local" and self.num_nodes > 1:
            raise ValueError("--num_nodes > 1 needs --launcher torchrun or slurm")


def train_command(args: List[str], launch: LaunchOptions, exp_dir: Path) -> List[str]:
    """The full command that runs ``asr_train`` with ``args`` under ``launch``."""
    python = [sys.executable, "-m", TRAIN_MODULE]
    gloo = ["--dist_backend", "gloo"] if launch.ngpu == 0 else []
    if launch.launcher == "local":
        distributed = "true" if launch.ngpu > 1 else "false"
        return [*python, *args, "--ngpu", str(launch.ngpu),
                "--multiprocessing_distributed", distributed]  # fmt: skip
    if launch.launcher == "torchrun":
        nproc = launch.nproc_per_node or max(launch.ngpu, 1)
        if launch.num_nodes > 1:
            rendezvous = [
                "--nnodes", str(launch.num_nodes),
                "--node_rank", str(launch.node_rank),
                "--master_addr", launch.master_addr,
                "--master_port", str(launch.master_port),
            ]  # fmt: skip
        else:
            rendezvous = ["--standalone"]
        return [
            sys.executable, "-m", "torch.distributed.run", *rendezvous,
            "--nproc_per_node", str(nproc), "-m", TRAIN_MODULE, *args,
            "--ngpu", str(min(launch.ngpu, 1)),
            "--multiprocessing_distributed", "false", *gloo,
        ]  # fmt: skip
    init_file = (exp_dir / f".dist_init_{uuid.uuid4()}").absolute()
    return [
        "srun", "--nodes", str(launch.num_nodes), "--ntasks-per-node", "1",
        "--export=ALL", *python, *args,
        "--ngpu", str(launch.ngpu), "--multiprocessing_distributed", "true",
        "--dist_launcher", "slurm", "--dist_init_method", f"file://{init_file}", *gloo,
    ]  # fmt: skip


def data_path_args(prefix: str, dump_dir: Path) -> List[str]:
    """``--<prefix>_data_path_and_name_and_type`` options of a ``dump/raw`` set."""
    return [
        f"--{prefix}_data_path_and_name_and_type", f"{dump_dir}/wav.scp,speech,sound",
        f"--{prefix}_data_path_and_name_and_type", f"{dump_dir}/text,text,text",
    ]  # fmt: skip


def shape_args(prefix: str, stats_dir: Path, token_type: str) -> List[str]:
    """``--<prefix>_shape_file`` options from collected statistics."""
    return [
        f"--{prefix}_shape_file", f"{stats_dir}/{prefix}/speech_shape",
        f"--{prefix}_shape_file", f"{stats_dir}/{prefix}/text_shape.{token_type}",
    ]  # fmt: skip


def printable(command: List[str]) -> str:
    """A command as it would be typed in a shell."""
    return shlex.join(command)

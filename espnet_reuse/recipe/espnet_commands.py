"""ESPnet's trainer: command lines, launchers, and running it with a readable log.

Launchers (``--launcher``):

- ``local``: one process; with ``--ngpu`` > 1 ESPnet spawns one worker per GPU
  (``--multiprocessing_distributed true``).
- ``torchrun``: ``torchrun`` starts ``nproc_per_node`` workers a node, each with
  one GPU (or a CPU with the gloo backend); run the recipe on every node with its
  ``--node_rank``.
- ``slurm``: inside an allocation, ``srun`` starts one task per node and ESPnet's own
  launcher (``--dist_launcher slurm``) spawns one worker per GPU; the nodes meet
  through a file on the shared file system.
"""

import contextlib
import itertools
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from espnet_reuse.atomic import write_failed

LAUNCHERS = ("local", "torchrun", "slurm")
TRAIN_MODULE = "espnet_reuse.bin.asr_train"


class StageFailed(RuntimeError):
    """An ESPnet process of a stage failed; the message says how and where to look."""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe_exit(code: int) -> str:
    """``exited with status 1``; ``was killed by SIGKILL`` for a negative code; a status
    above 128 (128 + N: the shell's, and ``asr_train``'s on SIGTERM) names signal N."""
    if code < 0:
        return f"was killed by {_signal_name(-code)}"
    if code > 128:
        return f"exited with status {code} (stopped by {_signal_name(code - 128)})"
    return f"exited with status {code}"


def last_error(output: str) -> Optional[str]:
    """The last exception line of a Python traceback in ``output`` (``OSError: ...``)."""
    found = re.findall(
        r"^(?:[\w.]+\.)?(\w+(?:Error|Exception|Failed|Interrupt)\b.*)$", output, re.M
    )
    return found[-1].strip() if found else None


def failed_rank(output: str) -> Optional[str]:
    """``rank 1 was killed by SIGKILL``: the first failed rank of torchrun's failure summary
    (its "Root Cause" block) in ``output``, or ``None`` when there is none."""
    found = re.search(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", output, re.S)
    if not found:
        return None
    return f"rank {found.group(1)} {describe_exit(int(found.group(2)))}"


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
    cpus_per_task: int = 0  # slurm: CPUs of each node's task (0: the allocation's)

    def __post_init__(self) -> None:
        if self.launcher not in LAUNCHERS:
            raise ValueError(f"--launcher must be one of {LAUNCHERS}, got {self.launcher!r}")
        if self.launcher == "local" and self.num_nodes > 1:
            raise ValueError("--num_nodes > 1 needs --launcher torchrun or slurm")


def train_command(args: List[str], launch: LaunchOptions, exp_dir: Path) -> List[str]:
    """The full command that runs ``asr_train`` with ``args`` under ``launch``."""
    python = [sys.executable, "-m", TRAIN_MODULE]
    gloo = flags({"dist_backend": "gloo"}) if launch.ngpu == 0 else []
    if launch.launcher == "local":
        distributed = "true" if launch.ngpu > 1 else "false"
        return [
            *python,
            *args,
            *flags({"ngpu": launch.ngpu, "multiprocessing_distributed": distributed}),
        ]
    if launch.launcher == "torchrun":
        nproc = launch.nproc_per_node or max(launch.ngpu, 1)
        if launch.num_nodes > 1:
            rendezvous = flags(
                {
                    "nnodes": launch.num_nodes,
                    "node_rank": launch.node_rank,
                    "master_addr": launch.master_addr,
                    "master_port": launch.master_port,
                }
            )
        else:
            rendezvous = ["--standalone"]
        return [
            *(sys.executable, "-m", "torch.distributed.run", *rendezvous),
            *(*flags({"nproc_per_node": nproc}), "-m", TRAIN_MODULE, *args),
            *flags({"ngpu": min(launch.ngpu, 1), "multiprocessing_distributed": "false"}),
            *gloo,
        ]
    init_file = (exp_dir / f".dist_init_{uuid.uuid4()}").absolute()
    # one task per node, which spawns a worker per GPU: it gets the node's CPUs; a task
    # that fails ends the others (no rank left waiting in a collective)
    cpus = launch.cpus_per_task or os.environ.get("SLURM_CPUS_ON_NODE")
    srun = flags({"nodes": launch.num_nodes, "ntasks-per-node": 1})
    srun += [*(flags({"cpus-per-task": cpus}) if cpus else []), "--kill-on-bad-exit=1"]
    return [
        *("srun", *srun, "--export=ALL", *python, *args),
        *flags(
            {
                "ngpu": launch.ngpu,
                "multiprocessing_distributed": "true",
                "dist_launcher": "slurm",
                "dist_init_method": f"file://{init_file}",
            }
        ),
        *gloo,
    ]


def flags(options: Union[Mapping[str, object], Iterable[Tuple[str, object]]]) -> List[str]:
    """``--name value`` words of a command line; a list of pairs may repeat a name."""
    items = options.items() if isinstance(options, Mapping) else options
    return [word for name, value in items for word in (f"--{name}", str(value))]


def data_path_args(prefix: str, dump_dir: Path) -> List[str]:
    """``--<prefix>_data_path_and_name_and_type`` options of a ``dump/raw`` set."""
    name = f"{prefix}_data_path_and_name_and_type"
    return flags([(name, f"{dump_dir}/wav.scp,speech,sound"), (name, f"{dump_dir}/text,text,text")])


def shape_args(prefix: str, stats_dir: Path, token_type: str) -> List[str]:
    """``--<prefix>_shape_file`` options from collected statistics."""
    shapes = stats_dir / prefix
    name = f"{prefix}_shape_file"
    return flags([(name, shapes / "speech_shape"), (name, shapes / f"text_shape.{token_type}")])


def printable(command: List[str]) -> str:
    """A command as it would be typed in a shell."""
    return shlex.join(command)


def epoch_summary(line: str) -> Optional[str]:
    """A short progress line from ESPnet's ``Nepoch results:`` line (losses) or
    ``N/Mepoch started`` line (ESPnet's estimate of the time left), else None."""
    started = re.search(r"(\d+)/(\d+)epoch started\. Estimated time to finish: (.+)$", line)
    if started:
        epoch, total, left = started.groups()
        return f"epoch {epoch}/{total} started, about {left.strip()} left"
    found = re.search(r"(\d+)epoch results: \[train\](.*?)\[valid\](.*?)(\[|$)", line)
    if not found:
        return None
    epoch, train, valid = found.group(1), found.group(2), found.group(3)

    def value(part: str, key: str) -> str:
        match = re.search(rf"(?:^|, | ){key}=([^,]+)", part)
        return match.group(1).strip() if match else "?"

    return (
        f"epoch {epoch}: train loss {value(train, 'loss')}, valid loss "
        f"{value(valid, 'loss')}, valid cer_ctc {value(valid, 'cer_ctc')} "
        f"({value(train, 'time')})"
    )


@contextmanager
def signals_passed_on(process: subprocess.Popen) -> Iterator[List[int]]:
    """While the block runs, SIGTERM and SIGINT sent to this process go to ``process``'s
    process group instead (the training and every worker it started), which stops
    cleanly (``asr_train`` exits 143 after any checkpoint write); yields the signals
    received. Only the main thread can handle signals; elsewhere nothing changes."""
    received: List[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def pass_on(signum: int, frame: object) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_logged(command: List[str], log_file: Path, log: logging.Logger) -> int:
    """Run ``command`` in its own process group, appending its output to ``log_file`` and
    logging epoch results; SIGTERM and Ctrl-C reach every process of the command
    (``signals_passed_on``), and Ctrl-C is raised here once the command has ended.

    When the log cannot be written (a full disk), the command still runs to its end
    (its output is read and dropped), then ``atomic.WriteFailed`` names the log.
    """
    failed: Optional[OSError] = None
    with open(log_file, "a", encoding="utf-8") as f:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert process.stdout is not None
        with signals_passed_on(process) as received:
            for line in itertools.chain([f"# {printable(command)}\n"], process.stdout):
                if failed is None:
                    try:
                        f.write(line)
                        f.flush()
                    except OSError as error:
                        failed = error
                summary = epoch_summary(line)
                if summary:
                    log.info("%s", summary)
            code = process.wait()
    if signal.SIGINT in received:
        raise KeyboardInterrupt
    if failed is not None:
        raise write_failed(log_file, failed)
    return code

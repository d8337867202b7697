"""Faults a cluster has, for real, on a tiny corpus: a torn checkpoint, SIGTERM in the
middle of an epoch, a rank that dies. Each run ends with every epoch of an
uninterrupted run, and the same parameters."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from espnet_reuse.checkpoints import CHECKPOINT, PREEMPTED, PREVIOUS, checkpoint_epoch
from espnet_reuse.recipe.espnet_commands import (
    TRAIN_MODULE,
    LaunchOptions,
    failed_rank,
    flags,
    run_logged,
    train_command,
)

from helpers import REPO, train_args
from tiny_corpus import write_tiny_corpus

FAULT_TRAIN = REPO / "tests" / "fault_train.py"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tiny_corpus(tmp_path_factory.mktemp("tiny_corpus"))


def train(corpus, exp, epochs, fault=None, launch=None):
    """Train to ``epochs`` (resuming), with ``fault`` (environment of ``fault_train.py``)."""
    args = train_args(corpus, exp) + flags({"max_epoch": epochs, "resume": "true"})
    command = train_command(args, launch or LaunchOptions(ngpu=0), exp)
    if fault:
        at = command.index(TRAIN_MODULE)
        command[at - 1 : at + 1] = [str(FAULT_TRAIN)]  # `-m module` -> the fault script
    env = dict(os.environ, PYTHONPATH=str(REPO), **(fault or {}))
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def final_parameters(exp):
    return torch.load(exp / CHECKPOINT, map_location="cpu", weights_only=False)["model"]


@pytest.fixture(scope="module")
def uninterrupted(corpus, tmp_path_factory):
    exp = tmp_path_factory.mktemp("uninterrupted") / "exp"
    done = train(corpus, exp, 3)
    assert done.returncode == 0, done.stderr[-3000:]
    return final_parameters(exp)


def assert_same(parameters, expected):
    assert parameters.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(parameters[name], value), name


@pytest.mark.slow
def test_a_torn_checkpoint_resumes_from_the_previous_one(corpus, tmp_path, uninterrupted):
    exp = tmp_path / "exp"
    assert train(corpus, exp, 2).returncode == 0
    assert checkpoint_epoch(exp / PREVIOUS) == 1
    data = (exp / CHECKPOINT).read_bytes()
    (exp / CHECKPOINT).write_bytes(data[: len(data) // 2])  # a kill or a full disk mid-write
    done = train(corpus, exp, 3)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming from {exp / PREVIOUS} (epoch 1): epoch 2 is trained again" in done.stderr
    assert len(list(exp.glob(f"{CHECKPOINT}.unreadable-*"))) == 1
    assert checkpoint_epoch(exp / CHECKPOINT) == 3
    assert_same(final_parameters(exp), uninterrupted)


@pytest.mark.slow
def test_sigterm_mid_epoch_stops_cleanly_and_resumes(corpus, tmp_path, uninterrupted):
    exp = tmp_path / "exp"
    stopped = train(corpus, exp, 3, {"FAULT_SIGNAL": "SIGTERM", "FAULT_EPOCH": "2"})
    assert stopped.returncode == PREEMPTED, stopped.stderr[-3000:]
    assert "training stopped by SIGTERM; re-running the same command resumes" in stopped.stderr
    assert checkpoint_epoch(exp / CHECKPOINT) == 1  # epoch 2 was under way
    done = train(corpus, exp, 3)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"The training was resumed using {exp / CHECKPOINT}" in done.stderr
    assert_same(final_parameters(exp), uninterrupted)


@pytest.mark.slow
def test_a_dead_rank_ends_the_run_and_the_rerun_resumes(corpus, tmp_path):
    exp = tmp_path / "exp"
    torchrun = LaunchOptions("torchrun", ngpu=0, nproc_per_node=2)
    fault = {"FAULT_SIGNAL": "SIGKILL", "FAULT_EPOCH": "2", "FAULT_RANK": "1"}
    start = time.monotonic()
    died = train(corpus, exp, 3, fault, torchrun)
    assert died.returncode != 0
    assert time.monotonic() - start < 120  # ended by torchrun, not a collective's timeout
    assert failed_rank(died.stdout + died.stderr) == "rank 1 was killed by SIGKILL"
    assert checkpoint_epoch(exp / CHECKPOINT) == 1
    done = train(corpus, exp, 3, launch=torchrun)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert f"The training was resumed using {exp / CHECKPOINT}" in done.stdout + done.stderr
    assert checkpoint_epoch(exp / CHECKPOINT) == 3


def test_failed_rank_reads_torchruns_summary():
    summary = """
Root Cause (first observed failure):
[0]:
  time      : 2026-11-29_06:10:00
  host      : node3
  rank      : 5 (local_rank: 1)
  exitcode  : -9 (pid: 4242)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 4242
"""
    assert failed_rank(summary) == "rank 5 was killed by SIGKILL"
    assert failed_rank(summary.replace("-9 (pid", "1 (pid")) == "rank 5 exited with status 1"
    assert failed_rank("an ordinary traceback") is None


@pytest.mark.skipif(sys.platform != "linux", reason="signals as on Linux")
def test_describe_exit_names_the_signal_of_a_shell_status():
    from espnet_reuse.recipe.espnet_commands import describe_exit

    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(137) == "exited with status 137 (stopped by SIGKILL)"
    assert describe_exit(1) == "exited with status 1"


CHILD = """
import signal, subprocess, sys, time
# a worker as Python starts it: Ctrl-C raises KeyboardInterrupt (even where the shell
# that started the tests ignores SIGINT, as for background jobs)
worker = "import signal, time; signal.signal(signal.SIGINT, signal.default_int_handler); "
worker += "time.sleep(60)"
grandchild = subprocess.Popen([sys.executable, "-c", worker])
def stop(signum, frame):
    print(f"child stopped by {signal.Signals(signum).name}", flush=True)
    grandchild.wait()
    sys.exit(143)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
print(f"grandchild {grandchild.pid}", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_to_the_recipe_reaches_every_training_process(tmp_path, signum):
    log_file = tmp_path / "train.log"
    threading.Timer(2.0, os.kill, (os.getpid(), signum)).start()
    start = time.monotonic()
    if signum == signal.SIGINT:
        with pytest.raises(KeyboardInterrupt):  # raised once the training has stopped
            run_logged([sys.executable, "-c", CHILD], log_file, logging.getLogger())
    else:
        assert run_logged([sys.executable, "-c", CHILD], log_file, logging.getLogger()) == 143
    assert time.monotonic() - start < 30
    log = log_file.read_text()
    assert f"child stopped by {signum.name}" in log
    grandchild = int(log.rsplit("grandchild ", 1)[1].split()[0])  # the command is logged too
    with pytest.raises(ProcessLookupError):  # the whole process group got the signal
        os.kill(grandchild, 0)

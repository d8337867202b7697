"""Distributed training for real: the recipe's torchrun commands, two CPU processes (gloo)."""

import os
import socket
import subprocess

import pytest
import torch

from espnet_reuse.recipe.espnet_commands import TRAIN_MODULE, LaunchOptions, flags, train_command

from helpers import REPO, train_args
from tiny_corpus import write_tiny_corpus

WRAPPER = REPO / "tests" / "rank_state_train.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(corpus, exp, launch_options, state_dir, epochs=1):
    """Start the recipe's command for ``launch_options``, running the rank-state wrapper."""
    args = train_args(corpus, exp) + flags({"max_epoch": epochs, "batch_size": 2, "resume": "true"})
    command = train_command(args, launch_options, exp)
    at = command.index(TRAIN_MODULE)
    command[at - 1 : at + 1] = [str(WRAPPER)]  # `-m module` -> the wrapper script
    env = dict(os.environ, RANK_STATE_DIR=str(state_dir), PYTHONPATH=str(REPO))
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(*processes):
    """Wait for every process; each must succeed. Returns their output."""
    outputs = []
    for process in processes:
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output[-3000:]
        outputs.append(output)
    return outputs


def rank_states(state_dir):
    """What ranks 0 and 1 saved, removed so that a later run writes afresh."""
    states = []
    for rank in (0, 1):
        states.append(torch.load(state_dir / f"rank{rank}.pth"))
        (state_dir / f"rank{rank}.pth").unlink()
    return states


def assert_same_parameters(states):
    first, second = (s["parameters"] for s in states)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tiny_corpus(tmp_path_factory.mktemp("tiny_corpus"))


@pytest.mark.slow
def test_torchrun_two_processes_train_alike_and_resume(corpus, tmp_path):
    exp, options = tmp_path / "exp", LaunchOptions("torchrun", ngpu=0, nproc_per_node=2)
    finish(launch(corpus, exp, options, tmp_path))
    states = rank_states(tmp_path)
    steps = [s["steps"] for s in states]
    assert steps[0] == steps[1] > 0  # both ranks trained, each on its share of the batches
    assert_same_parameters(states)
    # a second epoch resumes from the checkpoint: one more epoch of steps, not two
    (output,) = finish(launch(corpus, exp, options, tmp_path, epochs=2))
    assert f"The training was resumed using {exp}/checkpoint.pth" in output
    resumed = rank_states(tmp_path)
    assert [s["steps"] for s in resumed] == steps
    assert_same_parameters(resumed)
    assert not any(
        torch.equal(states[0]["parameters"][k], v)
        for k, v in resumed[0]["parameters"].items()
        if k.endswith("weight")
    )  # the second epoch trained on from where the first stopped


@pytest.mark.slow
def test_two_node_ranks_on_localhost(corpus, tmp_path):
    exp, port = tmp_path / "exp", free_port()
    nodes = [
        LaunchOptions(
            "torchrun",
            ngpu=0,
            num_nodes=2,
            node_rank=rank,
            nproc_per_node=1,
            master_addr="127.0.0.1",
            master_port=port,
        )
        for rank in (0, 1)
    ]
    finish(*[launch(corpus, exp, node, tmp_path) for node in nodes])
    states = rank_states(tmp_path)
    assert states[0]["steps"] == states[1]["steps"] > 0
    assert_same_parameters(states)

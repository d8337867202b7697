"""The study's experiments: a config per layout and seed, trained and decoded by ``run.sh``.

Every experiment is one ``./run.sh --stage 11 --stop-stage 13`` call (training,
decoding, scoring) with its own generated config and ``--asr_exp``, so the study
runs wherever the recipe runs (the demo corpus, LibriSpeech with ``--ngpu``, a
cluster launcher); options after ``--`` on the study's command line go to every
call. A finished experiment leaves ``<out_dir>/done/<name>`` and is skipped.
"""

import copy
import logging
import os
import queue
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from espnet_reuse.convert import reuse_config
from espnet_reuse.encoder.reuse_groups import parse_adapted_layout

INFERENCE_TAG = "study"
# what an experiment takes from its namesake in another study (ESPnet's --init_param keys)
INIT_PARTS = ("encoder", "ctc")
log = logging.getLogger("layout_study")


Adaptation = Tuple[Tuple[str, Any], ...]  # (encoder option, value), sorted
# how an adaptation is written in experiment names and table rows
_SHORT = {"reuse_head_mixing": "mix", "reuse_score_rank": "rank"}
_WORDS = {"reuse_head_mixing": "head mixing", "reuse_score_rank": "rank-{} scores"}


def layout_label(groups: Optional[Sequence[int]], adaptation: Adaptation = ()) -> str:
    """``baseline``, ``[2, 2, 2]`` or ``[2, 2, 2] + head mixing + rank-4 scores``."""
    if groups is None:
        return "baseline"
    words = [_WORDS[key].format(value) for key, value in adaptation]
    return " + ".join([str(list(groups)), *words])


def parse_arm(spec: str, layers: int) -> Tuple[Optional[tuple], Adaptation]:
    """An arm as typed on the command line: ``baseline`` or an adapted layout
    (``reuse_groups.parse_adapted_layout``: ``2,2,2``, ``2,2,2+reuse_head_mixing``)."""
    if spec == "baseline":
        return None, ()
    if spec.startswith("baseline+"):
        raise ValueError(f"arm {spec!r}: the baseline has no reuse layers to adapt")
    groups, adaptation = parse_adapted_layout(spec, layers)
    return tuple(groups), tuple(adaptation.items())


@dataclass(frozen=True)
class Experiment:
    """One training run: a layout (None: the baseline) with its reuse layers' map
    adaptation, a seed, from scratch or fine-tuned."""

    groups: Optional[tuple]
    seed: int
    finetuned: bool = False
    adaptation: Adaptation = ()

    @property
    def name(self) -> str:
        kind = "finetune" if self.finetuned else "train"
        layout = "baseline" if self.groups is None else "-".join(map(str, self.groups))
        adapted = "".join(
            f"_{_SHORT[key]}" + ("" if value is True else str(value))
            for key, value in self.adaptation
        )
        return f"{kind}_{layout}{adapted}_seed{self.seed}"

    @property
    def arm(self) -> str:
        """The arm's label: its layout and adaptation."""
        return layout_label(self.groups, self.adaptation)

    @property
    def row(self) -> str:
        """The arm's row in the tables (seeds pooled)."""
        return ("fine-tuned " if self.finetuned else "") + self.arm


def experiment_config(template: dict, experiment: Experiment) -> dict:
    """``template`` with the experiment's layout, adaptation and ESPnet's ``seed``."""
    config = copy.deepcopy(template)
    if experiment.groups is not None:
        config = reuse_config(config, experiment.groups, adaptation=dict(experiment.adaptation))
    config["seed"] = experiment.seed
    return config


def _agrees(trained: object, wanted: object) -> bool:
    """``trained`` has ``wanted``'s value (for mappings: on ``wanted``'s keys; ESPnet
    saves the class choice ``none`` as null or leaves it out)."""
    if wanted == "none":
        return trained in ("none", None)
    if isinstance(wanted, dict):
        return isinstance(trained, dict) and all(
            _agrees(trained.get(k), v) for k, v in wanted.items()
        )
    return trained == wanted


def gpu_sets(jobs: int, gpus_per_job: int, visible: Sequence[str]) -> List[Optional[str]]:
    """``CUDA_VISIBLE_DEVICES`` of each of ``jobs`` concurrent jobs: disjoint sets of
    ``gpus_per_job`` of the ``visible`` GPUs (``None`` each when no GPU is used)."""
    if gpus_per_job <= 0:
        return [None] * jobs
    if jobs * gpus_per_job > len(visible):
        raise ValueError(
            f"--jobs {jobs} with --ngpu {gpus_per_job} needs {jobs * gpus_per_job} GPUs, "
            f"but {len(visible)} are visible"
        )
    return [",".join(visible[j * gpus_per_job : (j + 1) * gpus_per_job]) for j in range(jobs)]


def visible_gpus() -> List[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` names them."""
    if os.environ.get("CUDA_VISIBLE_DEVICES"):
        return os.environ["CUDA_VISIBLE_DEVICES"].split(",")
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def ngpu_option(run_args: Sequence[str]) -> int:
    """The ``--ngpu`` among ``run.sh``'s options (the last one wins, as in argparse)."""
    values = [run_args[i + 1] for i, word in enumerate(run_args[:-1]) if word == "--ngpu"]
    return int(values[-1]) if values else 0


class Runner:
    """Runs experiments through ``run.sh``, ``jobs`` at a time; with ``--ngpu N`` among
    ``run_args`` each concurrent job gets its own N GPUs (``CUDA_VISIBLE_DEVICES``).
    With ``init_from`` (another study's out_dir and model file name) each experiment
    starts its encoder and CTC head (``INIT_PARTS``) from the experiment of the same
    arm and seed there: a hybrid study from a CTC study, as ESPnet users often train."""

    def __init__(
        self,
        out_dir: Path,
        run_sh: Path,
        run_args: List[str],
        train_config: Path,
        finetune_config: Optional[Path],
        inference_config: Path,
        jobs: int,
        init_from: Optional[Tuple[Path, str]] = None,
    ) -> None:
        self.out_dir = out_dir
        self.run_sh = run_sh
        self.run_args = run_args
        self.train_config = train_config
        self.templates = {False: yaml.safe_load(train_config.read_text())}
        if finetune_config is not None:
            self.templates[True] = yaml.safe_load(finetune_config.read_text())
        self.inference_config = inference_config
        self.jobs = jobs
        self.init_from = init_from

    def exp_dir(self, experiment: Experiment) -> Path:
        return self.out_dir / "exp" / experiment.name

    def is_done(self, experiment: Experiment) -> bool:
        """Whether ``experiment`` is trained, decoded and scored."""
        return (self.out_dir / "done" / experiment.name).exists()

    def init_param(self, experiment: Experiment) -> List[str]:
        """ESPnet's ``--init_param`` for ``experiment`` from ``init_from`` (empty without)."""
        if self.init_from is None:
            return []
        study_dir, model = self.init_from
        source = study_dir / "exp" / experiment.name / model
        if not (study_dir / "done" / experiment.name).exists() or not source.exists():
            raise ValueError(
                f"{experiment.name}: the study in {study_dir} has no finished "
                f"{experiment.name} with {model} to start from"
            )
        return ["--init_param", *(f"{source.resolve()}:{part}:{part}" for part in INIT_PARTS)]

    def decode_dir(self, experiment: Experiment, test_set: str) -> Path:
        return self.exp_dir(experiment) / INFERENCE_TAG / test_set

    def run_sh_command(self, *options: str) -> List[str]:
        """``run.sh`` with the study's pass-through options last (they win)."""
        return [str(self.run_sh), *options, *self.run_args]

    def _call(
        self,
        command: List[str],
        log_file: Path,
        threads: Optional[int],
        gpus: Optional[str] = None,
    ) -> None:
        env = dict(os.environ)
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        if gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpus
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "a", encoding="utf-8") as f:
            f.write(f"# {' '.join(command)}\n")
            f.flush()
            code = subprocess.call(command, stdout=f, stderr=subprocess.STDOUT, env=env)
        if code != 0:
            raise RuntimeError(f"{command[0]} failed with exit status {code}; see {log_file}")

    def adopt(self, experiment: Experiment, exp_dir: Path) -> None:
        """Use an experiment trained earlier (e.g. by ``./run.sh``) as ``experiment``,
        after checking that its ESPnet ``config.yaml`` agrees with the study's config
        on every key the study sets; linked, not copied."""
        target = self.exp_dir(experiment)
        if target.exists():
            return
        trained = yaml.safe_load((exp_dir / "config.yaml").read_text())
        wanted = experiment_config(self.templates[experiment.finetuned], experiment)
        differ = [key for key, value in wanted.items() if not _agrees(trained.get(key), value)]
        if differ:
            raise ValueError(f"{exp_dir} was trained with other {differ} than {experiment.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(exp_dir.resolve(), target_is_directory=True)
        log.info("%s: adopted %s", experiment.name, exp_dir)

    def prepare_data(self) -> None:
        """Stages 1-10 of the recipe (each one skips or repeats cheaply when done)."""
        log.info("data: run.sh stages 1-10 (log: %s)", self.out_dir / "logs" / "data.log")
        self._call(
            self.run_sh_command("--stop-stage", "10", "--asr_config", str(self.train_config)),
            self.out_dir / "logs" / "data.log",
            None,
        )

    def train(self, experiments: Sequence[Experiment], baselines: Dict[int, Path]) -> None:
        """Train, decode and score ``experiments``; fine-tuned ones start from
        ``baselines[seed]`` (a trained baseline experiment)."""
        todo = [e for e in experiments if not self.is_done(e)]
        if not todo:
            return
        threads = max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else None
        ngpu = ngpu_option(self.run_args)
        slots: "queue.Queue[Optional[str]]" = queue.Queue()
        for gpus in gpu_sets(self.jobs, ngpu, visible_gpus() if ngpu else []):
            slots.put(gpus)

        def train_one(experiment: Experiment) -> None:
            gpus = slots.get()
            try:
                self._train_one(experiment, baselines, threads, gpus)
            finally:
                slots.put(gpus)

        with ThreadPoolExecutor(self.jobs) as pool:
            for future in [pool.submit(train_one, e) for e in todo]:
                future.result()

    def _train_one(
        self,
        experiment: Experiment,
        baselines: Dict[int, Path],
        threads: Optional[int],
        gpus: Optional[str],
    ) -> None:
        config_file = self.out_dir / "conf" / f"{experiment.name}.yaml"
        config_file.parent.mkdir(parents=True, exist_ok=True)
        template = self.templates.get(experiment.finetuned)
        if template is None:
            raise ValueError(f"{experiment.name} needs --finetune_config")
        config_file.write_text(
            yaml.safe_dump(experiment_config(template, experiment), sort_keys=False)
        )
        options = [
            *("--stage", "11", "--stop-stage", "13", "--asr_config", str(config_file)),
            *("--asr_exp", str(self.exp_dir(experiment)), "--inference_tag", INFERENCE_TAG),
            *("--inference_config", str(self.inference_config)),
        ]
        if experiment.finetuned:
            options += ["--init_from_exp", str(baselines[experiment.seed])]
        if self.init_from is not None:
            options += ["--asr_args", " ".join(self.init_param(experiment))]
        log_file = self.out_dir / "logs" / f"{experiment.name}.log"
        log.info("%s: training and decoding (log: %s)", experiment.name, log_file)
        self._call(self.run_sh_command(*options), log_file, threads, gpus)
        (self.out_dir / "done").mkdir(exist_ok=True)
        (self.out_dir / "done" / experiment.name).touch()
        log.info("%s: done", experiment.name)

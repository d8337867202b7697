"""The benchmark run: every input shape timed for every model, results written as they come.

``run(Settings(...))`` measures ESPnet's encoder (the Conformer, the E-Branchformer, ...:
``Settings.encoder``), its fused twin and each
layout's reuse and ideal encoder (``benchmark.models``) side by side, one input
shape (a *case*) at a time, and rewrites ``benchmark.md``, ``benchmark.json``
and ``speedup.png`` in ``out_dir`` after every case, so an interrupted run keeps
what it measured. A model that runs out of memory is reported as such and the
others go on. ``PRESETS`` holds what a GPU user runs (``gpu``: bf16 autocast, TF32,
autotuning warm-up, the training configs' dropout).
"""

import contextlib
import json
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable, ContextManager, Dict, List, Optional

import torch

from espnet_reuse.benchmark.measure import (
    FRAMES_PER_SECOND,
    clear_retained,
    cpu_peak_memory,
    cuda_peak_memory,
    forward_flops,
    inference_step,
    make_input,
    saved_for_backward_bytes,
    time_interleaved,
    training_step,
    unless_out_of_memory,
)
from espnet_reuse.benchmark.models import CONFORMER_M, build_models
from espnet_reuse.benchmark.report import (
    BASELINE,
    FUSED,
    Case,
    EqualMemory,
    equal_memory_markdown,
    markdown,
    plot_speedup,
    to_json,
)
from espnet_reuse.devices import named
from espnet_reuse.encoder.layer_convention import layer_convention
from espnet_reuse.encoder.padding import subsampled_lengths
from espnet_reuse.encoder.rel_position_attention import sdpa_backend

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# What a GPU user runs: bf16 autocast (ESPnet's use_amp), TF32 matmuls, enough warm-up
# for cuDNN and SDPA autotuning, and the dropout of conf/train_asr_conformer*_ctc.yaml.
PRESETS: Dict[str, dict] = {
    "cpu": {},
    "gpu": {
        "dtype": "bfloat16",
        "tf32": True,
        "warmup": 5,
        "repeats": 20,
        "seconds": [10, 20, 30],
        "batch_sizes": [1, 8],
        "train_batch": 8,
        "dropout_rate": 0.1,
        "positional_dropout_rate": 0.1,
        "attention_dropout_rate": 0.1,
    },
}


@dataclass
class Settings:
    """What to measure, and where (the options of ``bin/benchmark``)."""

    device: str = "cpu"
    layouts: List[str] = field(default_factory=lambda: ["1x16", "2x8", "4x4"])
    seconds: List[float] = field(default_factory=lambda: [5, 15, 30])
    batch_sizes: List[int] = field(default_factory=lambda: [1, 8])
    train_seconds: float = 15
    train_batch: int = 4  # 0: no training step
    repeats: int = 7
    warmup: int = 1
    dtype: str = "float32"  # autocast dtype; float32: no autocast
    tf32: bool = False
    threads: int = 0  # torch CPU threads; 0: torch's default
    compile: bool = False  # torch.compile the reuse and ideal models
    memory: bool = True  # allocator (GPU) or resident (CPU) peaks of the training step
    memory_budget_gb: float = 0.0  # also train at equal memory (0: off)
    time_budget: float = 0.0  # seconds; later cases are skipped (the first always runs; 0: none)
    input_size: int = 80
    encoder: str = "conformer"  # ESPnet's encoder name (``models.SHAPES``)
    encoder_conf: dict = field(default_factory=lambda: dict(CONFORMER_M))
    out_dir: Path = Path("exp/benchmark")


def autocast(device: str, dtype: str) -> ContextManager:
    """Autocast to ``dtype`` (a ``DTYPES`` name) on ``device``; none for ``float32``."""
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=DTYPES[dtype])


def _build_one(settings: Settings, name: str):
    """Rebuild one benchmark model (for memory measurement in a fresh process)."""
    return build_models(**_model_options(settings)).models[name]


def _model_options(settings: Settings) -> dict:
    """``build_models``'s arguments from ``settings``."""
    s = settings
    return dict(
        input_size=s.input_size, encoder_conf=s.encoder_conf, layouts=s.layouts, encoder=s.encoder
    )


def describe(encoder: str, conf: dict) -> str:
    """``Conformer encoder (16 blocks, 256, 4 heads, FFN 1024, kernel 31)`` and the like."""
    family = {"e_branchformer": "E-Branchformer", "branchformer": "Branchformer"}.get(
        encoder, encoder.capitalize()
    )
    sizes = [f"{conf['num_blocks']} blocks", str(conf["output_size"])]
    sizes.append(f"{conf['attention_heads']} heads")
    if "cgmlp_linear_units" in conf:
        sizes.append(f"cgMLP {conf['cgmlp_linear_units']}")
    if conf.get("use_ffn", True) and "linear_units" in conf:
        sizes.append(f"FFN {conf['linear_units']}")
    kernels = [conf[k] for k in ("cnn_module_kernel", "cgmlp_conv_kernel") if k in conf]
    if kernels:
        sizes.append(f"kernel {kernels[0]}")
    return f"{family} encoder ({', '.join(sizes)})"


def processor_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's with its thread count."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    return f"CPU ({processor_name()}, {torch.get_num_threads()} threads)"


def fused_kernel(
    model: torch.nn.Module, seconds: float, batch: int, dtype: torch.dtype, device: str, train: bool
) -> str:
    """The SDPA backend the fused baseline's attention runs for this input shape."""
    attention = layer_convention(model).attention_of(model.encoders[0])
    samples = torch.tensor([int(seconds * FRAMES_PER_SECOND)])
    frames = int(subsampled_lengths(model.embed, samples)[0])
    q = torch.zeros(batch, attention.h, frames, attention.d_k, dtype=dtype, device=device)
    bias = torch.zeros(batch, attention.h, frames, frames, dtype=dtype, device=device)
    if train:
        q.requires_grad_()
        bias.requires_grad_()
    dropout = attention.dropout_rate if train else 0.0
    return sdpa_backend(q, q, q, bias, dropout)


class Benchmark:
    """One run: its models, the cases measured so far, and their files."""

    def __init__(self, settings: Settings) -> None:
        self.settings = s = replace(settings, device=named(settings.device))
        if s.compile and s.warmup < 1:
            raise ValueError("compile needs warmup >= 1 (compilation happens there)")
        if s.threads:
            torch.set_num_threads(s.threads)
        if s.device.startswith("cuda"):
            torch.cuda.set_device(s.device)
            torch.backends.cuda.matmul.allow_tf32 = s.tf32
            torch.backends.cudnn.allow_tf32 = s.tf32
        self.built = build_models(**_model_options(s))
        self.models = {name: m.to(s.device) for name, m in self.built.models.items()}
        self.timed = {
            name: torch.compile(m) if s.compile and name != BASELINE else m
            for name, m in self.models.items()
        }
        self.cases: List[Case] = []
        self.skipped: List[str] = []
        self.equal_memory: Optional[EqualMemory] = None
        self.device = device_name(s.device)
        compiled = ", torch.compile (ESPnet eager)" if s.compile else ""
        tf32 = ", TF32" if s.tf32 else ""
        self.title = f"{describe(s.encoder, s.encoder_conf)}, {s.dtype}{tf32}{compiled}"

    def autocast(self) -> ContextManager:
        return autocast(self.settings.device, self.settings.dtype)

    def with_autocast(self, step: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            with self.autocast():
                step()

        return run

    def run(self) -> List[Case]:
        """Measure every case (within ``time_budget``), writing the files after each."""
        s = self.settings
        shapes = [(sec, b, "inference") for sec in s.seconds for b in s.batch_sizes]
        if s.train_batch > 0:
            shapes.append((s.train_seconds, s.train_batch, "train step"))
        started = time.monotonic()
        for seconds, batch, kind in shapes:
            over = s.time_budget and time.monotonic() - started > s.time_budget
            if over and self.cases:
                self.skipped.append(f"{kind} {seconds:g} s × {batch}")
                continue
            self.cases.append(self.measure(seconds, batch, kind))
            print(f"measured {kind} {seconds:g} s × {batch}", flush=True)
            self.write()
        if self.skipped:
            print(f"time budget spent; not measured: {', '.join(self.skipped)}", flush=True)
        if s.memory_budget_gb > 0 and self.cases and self.cases[-1].saved_bytes:
            self.equal_memory = self.train_at_equal_memory(self.cases[-1])
        if self.skipped or self.equal_memory is not None:  # not in the files yet
            self.write()
        return self.cases

    def measure(self, seconds: float, batch: int, kind: str) -> Case:
        """Times (and FLOPs, kept bytes, peaks) of every model on one input shape."""
        s = self.settings
        feats, lengths = make_input(seconds, batch, s.input_size, s.device)
        make_step = inference_step if kind == "inference" else training_step
        steps = {n: self.with_autocast(make_step(m, feats, lengths)) for n, m in self.timed.items()}
        timings = time_interleaved(steps, s.repeats, s.warmup, s.device)
        ran = [n for n in self.models if not timings[n].error]

        def each(measure: Callable[[str], int]) -> Dict[str, int]:
            values = {}
            for name in ran:
                clear_retained(self.models[name])
                value = unless_out_of_memory(partial(measure, name), s.device)
                if value is not None:
                    values[name] = value
            return values

        flops = peaks = saved = None
        if kind == "inference" and batch == 1:
            flops = each(lambda n: forward_flops(self.models[n], feats, lengths))
        if kind == "train step":
            with self.autocast():
                saved = each(lambda n: saved_for_backward_bytes(self.models[n], feats, lengths))
        if s.memory and kind == "train step":
            if s.device.startswith("cuda"):
                peaks = each(lambda n: cuda_peak_memory(steps[n], s.device))
            else:
                peaks = each(
                    lambda n: cpu_peak_memory(
                        partial(_build_one, s, n),
                        "train",
                        (seconds, batch, s.input_size),
                    )
                )
        for model in self.models.values():
            clear_retained(model)
        dtype = DTYPES[s.dtype]
        kernel = fused_kernel(
            self.models[FUSED], seconds, batch, dtype, s.device, kind == "train step"
        )
        return Case(kind, seconds, batch, timings, peaks, flops, saved, kernel)

    def train_at_equal_memory(self, train: Case) -> EqualMemory:
        """Time each model's training step at the largest batch within the budget."""
        s = self.settings
        budget = int(s.memory_budget_gb * 2**30)
        batches = {
            name: max(1, budget * train.batch // saved) for name, saved in train.saved_bytes.items()
        }
        steps = {}
        for name in batches:
            feats, lengths = make_input(train.seconds, batches[name], s.input_size, s.device)
            steps[name] = self.with_autocast(training_step(self.timed[name], feats, lengths))
        timings = time_interleaved(steps, s.repeats, s.warmup, s.device)
        print(f"measured training at equal memory ({s.memory_budget_gb:g} GiB)", flush=True)
        return EqualMemory(train.seconds, budget, batches, timings)

    def table(self) -> str:
        """The Markdown of the cases so far."""
        table = markdown(self.cases, self.device, self.title, self.built.layouts)
        if self.skipped:
            table += f"\nNot measured (time budget): {', '.join(self.skipped)}.\n"
        if self.equal_memory is not None:
            table += "\n" + equal_memory_markdown(self.equal_memory)
        return table

    def write(self) -> None:
        """``benchmark.md``, ``benchmark.json`` and ``speedup.png`` of the cases so far."""
        s = self.settings
        s.out_dir.mkdir(parents=True, exist_ok=True)
        (s.out_dir / "benchmark.md").write_text(self.table())
        meta = {
            "device": self.device,
            "torch": torch.__version__,
            "settings": asdict(s) | {"out_dir": str(s.out_dir)},
            "skipped": self.skipped,
        }
        if self.equal_memory is not None:
            meta["equal_memory"] = {
                "budget_bytes": self.equal_memory.budget_bytes,
                "batches": self.equal_memory.batches,
                "step_seconds": {n: t.samples for n, t in self.equal_memory.timings.items()},
            }
        (s.out_dir / "benchmark.json").write_text(
            to_json(self.cases, json.loads(json.dumps(meta, default=str)))
        )
        if any(c.kind == "inference" for c in self.cases):
            plot_speedup(self.cases, s.out_dir / "speedup.png", self.device)

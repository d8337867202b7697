"""Interleaved timings, peak memory and FLOPs of encoder forward and training steps."""

import math
import multiprocessing
import random
import resource
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, TypeVar

import numpy as np
import torch
from scipy.stats import quantile_test
from torch.utils.flop_counter import FlopCounterMode

FRAMES_PER_SECOND = 100  # 10 ms feature hop
OUT_OF_MEMORY = "out of memory"
T = TypeVar("T")


@dataclass
class Timing:
    """Median and quartiles of repeated measurements, in seconds; ``error`` says why
    a model has none (``out of memory``)."""

    samples: List[float] = field(default_factory=list)
    error: Optional[str] = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else math.nan

    @property
    def spread(self) -> float:
        """Inter-quartile range relative to the median."""
        if len(self.samples) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4)
        return (q3 - q1) / self.median


@dataclass
class Ratio:
    """Median of per-round time ratios, with a distribution-free 95 % interval.

    Each round times every model once, back to back, so the ratio of two
    models' times in one round cancels the machine's slow drifts; the interval
    is the order-statistics confidence interval of the median (NaN with fewer
    than six rounds).
    """

    median: float
    low: float
    high: float

    @classmethod
    def paired(cls, numerator: Timing, denominator: Timing) -> "Ratio":
        """``numerator / denominator`` round by round."""
        if not numerator.samples or not denominator.samples:
            return cls(math.nan, math.nan, math.nan)
        ratios = np.asarray(numerator.samples) / np.asarray(denominator.samples)
        median = float(np.median(ratios))
        if len(ratios) < 2:
            return cls(median, float("nan"), float("nan"))
        interval = quantile_test(ratios, q=median, p=0.5).confidence_interval(0.95)
        return cls(median, float(interval.low), float(interval.high))


def make_input(seconds: float, batch: int, input_size: int, device: str):
    """Random features and full lengths for ``batch`` utterances."""
    frames = int(seconds * FRAMES_PER_SECOND)
    generator = torch.Generator().manual_seed(0)
    feats = torch.randn(batch, frames, input_size, generator=generator).to(device)
    return feats, torch.full((batch,), frames, dtype=torch.long, device=device)


def synchronize(device: str) -> None:
    """Wait for ``device`` (``cuda:N`` names the GPU; the CPU needs no wait)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def is_out_of_memory(error: BaseException) -> bool:
    """The allocator of the GPU (``torch.OutOfMemoryError``) or of the CPU ran out."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
    )


def release_memory(device: str) -> None:
    """Give cached allocator blocks back after an out-of-memory error."""
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def unless_out_of_memory(function: Callable[[], T], device: str) -> Optional[T]:
    """``function()``, or ``None`` when it runs out of memory."""
    try:
        return function()
    except RuntimeError as error:  # torch.OutOfMemoryError is one
        if not is_out_of_memory(error):
            raise
    release_memory(device)
    return None


def clear_retained(model: torch.nn.Module) -> None:
    """Drop the tensors attention modules keep after a forward (``.attn`` maps, the
    map source's dropped map), so that they are not counted in the next measurement."""
    for module in model.modules():
        for name in ("attn", "last_output"):
            if isinstance(getattr(module, name, None), torch.Tensor):
                setattr(module, name, None)


def inference_step(model: torch.nn.Module, feats, lengths) -> Callable[[], None]:
    """One encoder forward in eval mode, no autograd."""

    def step() -> None:
        model.eval()
        with torch.inference_mode():
            model(feats, lengths)

    return step


def training_step(model: torch.nn.Module, feats, lengths) -> Callable[[], None]:
    """Forward, backward and an Adam step, in train mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)

    def step() -> None:
        model.train()
        out = model(feats, lengths)[0]
        out.float().pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def time_interleaved(
    steps: Dict[str, Callable[[], None]], repeats: int, warmup: int, device: str
) -> Dict[str, Timing]:
    """Time every step ``repeats`` times, the models in a new random order each round.

    The i-th sample of every model comes from round i (see ``Ratio.paired``). A
    model that runs out of memory is dropped from the rounds and gets a ``Timing``
    without samples and with ``error`` set; the others go on.
    """
    timings = {name: Timing() for name in steps}
    live = dict(steps)

    def run(name: str) -> Optional[float]:
        def timed() -> float:
            synchronize(device)
            start = time.perf_counter()
            live[name]()
            synchronize(device)
            return time.perf_counter() - start

        seconds = unless_out_of_memory(timed, device)
        if seconds is None:
            del live[name]
            timings[name] = Timing(error=OUT_OF_MEMORY)
        return seconds

    for _ in range(warmup):
        for name in list(live):
            run(name)
    for round_idx in range(repeats):
        order = list(live)
        random.Random(round_idx).shuffle(order)
        for name in order:  # a model leaves `live` only in its own run
            seconds = run(name)
            if seconds is not None:
                timings[name].samples.append(seconds)
    return timings


@contextmanager
def module_seconds(modules: Dict[str, torch.nn.Module]) -> Iterator[Dict[str, float]]:
    """Wall-clock seconds spent in each module's forward while the context is open
    (forward hooks; right for synchronous devices such as the CPU)."""
    seconds = dict.fromkeys(modules, 0.0)
    started: Dict[str, float] = {}
    handles = []
    for name, module in modules.items():

        def start(module, inputs, name=name):
            started[name] = time.perf_counter()

        def stop(module, inputs, output, name=name):
            seconds[name] += time.perf_counter() - started[name]

        handles += [module.register_forward_pre_hook(start), module.register_forward_hook(stop)]
    try:
        yield seconds
    finally:
        for handle in handles:
            handle.remove()


def forward_flops(model: torch.nn.Module, feats, lengths) -> int:
    """FLOPs of one forward, from PyTorch's flop counter."""
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(feats, lengths)
    return counter.get_total_flops()


def saved_for_backward_bytes(model: torch.nn.Module, feats, lengths) -> int:
    """Bytes of the activations autograd keeps for backward in one training forward.

    Counted with saved-tensor hooks, each storage once and parameters left out, so
    the number is the same on any device and from run to run, unlike allocator
    peaks; it is what the training step's memory grows with, per utterance.
    """
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: Dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(feats, lengths)
    return sum(saved.values())


def cuda_peak_memory(step: Callable[[], None], device: str) -> int:
    """Peak bytes the CUDA allocator of ``device`` held beyond what was allocated
    before the step."""
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _cpu_peak_child(build: Callable[[], torch.nn.Module], mode: str, shape, queue) -> None:
    torch.set_num_threads(1)
    model = build()
    feats, lengths = make_input(*shape, device="cpu")
    make_step = training_step if mode == "train" else inference_step
    step = make_step(model, feats, lengths)
    before = _rss_bytes()
    step()
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before)


def cpu_peak_memory(build: Callable[[], torch.nn.Module], mode: str, shape) -> int:
    """Peak resident memory of one step beyond what the process held before it.

    Measured in a fresh process per model (a process's peak never goes down);
    ``build`` must be picklable.
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_cpu_peak_child, args=(build, mode, shape, queue))
    process.start()
    value = queue.get(timeout=600)
    process.join()
    return value

"""Training cost from ESPnet's ``train.log``: seconds per step and per epoch.

ESPnet logs, every ``log_interval`` steps, the mean ``train_time`` of those steps
(forward, backward and optimizer step, without data loading) and, per epoch,
the wall-clock ``time`` of its training part in ``Nepoch results``.
"""

import re
from pathlib import Path
from typing import List

_INTERVAL = re.compile(r"\d+epoch:train:\d+-\d+batch: .*?\btrain_time=([0-9.e+-]+)")
_EPOCH = re.compile(r"\d+epoch results: \[train\].*?\btime=([^,]+),")
_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def step_seconds(log: Path) -> List[float]:
    """Mean seconds per training step of every logged interval."""
    return [float(m.group(1)) for m in _INTERVAL.finditer(log.read_text())]


def epoch_seconds(log: Path) -> List[float]:
    """Wall-clock seconds of every epoch's training part."""
    return [_timespan(m.group(1)) for m in _EPOCH.finditer(log.read_text())]


def _timespan(text: str) -> float:
    """Seconds of humanfriendly's ``1 minute and 4.8 seconds``."""
    pairs = re.findall(r"([0-9.]+) (second|minute|hour|day)s?", text)
    if not pairs:
        raise ValueError(f"not a time span: {text!r}")
    return sum(float(value) * _UNITS[unit] for value, unit in pairs)

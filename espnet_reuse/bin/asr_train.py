"""ESPnet's ``asr_train`` with the reuse encoders registered, checkpoints that a kill,
a full disk or SIGTERM cannot tear (``espnet_reuse.checkpoints``), and every model
file (resume, ``--init_param``, model averaging) read as data (``espnet_reuse.safe_load``;
``--trust_model_file true``, this command's own option, allows more).

Registration happens at import, so that spawned multi-GPU workers, which
re-import this module, know the encoder too; they also get the atomic writes.
"""

import os
import sys
from pathlib import Path
from typing import List, Optional

import torch

from espnet_reuse import checkpoints, safe_load
from espnet_reuse.registration import register

register()

from espnet2.bin.asr_train import get_parser  # noqa: E402
from espnet2.bin.asr_train import main as espnet_main  # noqa: E402

__all__ = ["get_parser", "main"]


def main(cmd: Optional[List[str]] = None) -> None:
    """Make the output folder resumable (one process, or rank 0 before any other rank
    starts, as ESPnet's own launcher does), then train as ESPnet's ``asr_train``; end
    the process group ESPnet leaves open, all ranks together, so that no rank aborts on
    its way out while another still works."""
    checkpoints.install()
    cmd = safe_load.trust_option(sys.argv[1:] if cmd is None else cmd)
    safe_load.guard_torch_load()
    args = get_parser().parse_args(cmd)
    launched_ranks = int(os.environ.get("WORLD_SIZE", "1")) > 1  # torchrun: every rank runs this
    if args.resume and not launched_ranks:
        checkpoints.recover(Path(args.output_dir))
    espnet_main(cmd)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # rank 0 saves and averages after the last epoch while the others are done:
        # wait for it, then end the group on every rank together
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__mp_main__":  # a worker ESPnet spawned: it may save and load checkpoints
    checkpoints.install()
    safe_load.guard_torch_load()  # trusted or not as its parent (the environment)

if __name__ == "__main__":
    main()

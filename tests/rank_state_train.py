"""``espnet_reuse.bin.asr_train`` that also saves, per rank, the trained parameters
and the number of training steps it ran (into ``$RANK_STATE_DIR/rank<RANK>.pth``).

ESPnet saves checkpoints on rank 0 only; the distributed tests run this script
under torchrun to compare what every rank ends with."""

import os
import sys
from pathlib import Path

import torch

from espnet_reuse.bin.asr_train import main

if __name__ == "__main__":
    from espnet_reuse.registration import asr_task

    ASRTask = asr_task()

    built = []
    build_model = ASRTask.build_model.__func__

    def build_and_keep(cls, args):
        model = build_model(cls, args)
        model.steps = 0

        def count(module, inputs):
            module.steps += int(module.training)

        model.register_forward_pre_hook(count)
        built.append(model)
        return model

    ASRTask.build_model = classmethod(build_and_keep)
    main(sys.argv[1:])
    model = built[-1]
    state = {"steps": model.steps, "parameters": model.state_dict()}
    torch.save(state, Path(os.environ["RANK_STATE_DIR"]) / f"rank{os.environ['RANK']}.pth")

"""``espnet_reuse.bin.asr_train`` that sends itself a signal in the middle of an epoch.

``FAULT_SIGNAL`` (``SIGTERM`` or ``SIGKILL``) reaches the process at the second batch of
epoch ``FAULT_EPOCH`` (counted from this process's start), on rank ``FAULT_RANK`` only
when that is set (``RANK`` under torchrun). The fault tests run it as a preempted job or
a dying rank would behave."""

import os
import signal
import sys

from espnet_reuse.bin.asr_train import main

if __name__ == "__main__":
    from espnet_reuse.espnet_api import trainer

    Trainer = trainer()

    train_one_epoch = Trainer.train_one_epoch.__func__
    epochs = []
    rank = os.environ.get("FAULT_RANK")
    faulty = rank is None or rank == os.environ.get("RANK", "0")

    def with_fault(cls, **kwargs):
        epochs.append(len(epochs) + 1)
        batches = kwargs["iterator"]

        def iterate():
            for index, batch in enumerate(batches):
                if faulty and epochs[-1] == int(os.environ["FAULT_EPOCH"]) and index == 1:
                    os.kill(os.getpid(), signal.Signals[os.environ["FAULT_SIGNAL"]])
                yield batch

        return train_one_epoch(cls, **{**kwargs, "iterator": iterate()})

    Trainer.train_one_epoch = classmethod(with_fault)
    main(sys.argv[1:])

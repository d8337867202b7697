import pytest

from espnet_reuse.study.training_cost import epoch_seconds, step_seconds

LOG = """\
I: 1epoch:train:1-50batch: iter_time=0.006, train_time=0.189
I: 1epoch:train:51-100batch: iter_time=0.006, loss=11.2, train_time=0.184
I: 1epoch results: [train] train_time=0.185, time=1 minute and 4.8 seconds, [valid] loss=21.4
I: 2epoch:train:1-50batch: iter_time=0.006, train_time=1.5e-01
I: 2epoch results: [train] loss=9.1, train_time=0.15, time=49.19 seconds, [valid] loss=20.0
"""


def test_steps_and_epochs_are_read_from_espnet_logs(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(LOG)
    assert step_seconds(log) == [0.189, 0.184, 0.15]
    assert epoch_seconds(log) == pytest.approx([64.8, 49.19])

"""A run planned over several devices: batch per device, the global batch stated, the learning rate
scaled by the linear rule unless chosen, SyncBatchNorm recommended on GPUs below 16 images per device."""
from __future__ import annotations

import pytest

from resnet_core.advice.planning import for_devices
from resnet_core.config import ConfigError, TrainConfig


def _config(**kw) -> TrainConfig:
    return TrainConfig(dataset="d", batch_size=kw.pop("batch_size", 32), learning_rate=1e-4,
                       recommended=("batch_size", "learning_rate"), **kw)


def test_learning_rate_scales_with_the_devices_and_the_reason_is_given():
    config, notes = for_devices(_config(), 4, None, on_gpu=False, lr_chosen=False)
    assert config.devices == 4 and config.batch_size == 32
    assert config.learning_rate == pytest.approx(4e-4)
    assert any("global batch 128" in n for n in notes)
    assert any("linear scaling rule" in n and "4e-04" in n.replace("0.0004", "4e-04") for n in notes)
    assert "learning_rate" in config.recommended


def test_a_learning_rate_the_user_set_is_kept():
    config, notes = for_devices(_config(), 2, None, on_gpu=False, lr_chosen=True)
    assert config.learning_rate == pytest.approx(1e-4)
    assert not any("linear scaling" in n for n in notes)


@pytest.mark.parametrize("batch, on_gpu, expected", [(8, True, True), (16, True, False), (8, False, False)])
def test_sync_batchnorm_is_recommended_only_on_gpus_below_16_images_per_device(batch, on_gpu, expected):
    config, notes = for_devices(_config(batch_size=batch), 2, None, on_gpu=on_gpu, lr_chosen=False)
    assert config.sync_batchnorm is expected
    assert any("SyncBatchNorm" in n for n in notes) is expected


def test_sync_batchnorm_asked_for_where_it_cannot_work_is_refused_with_advice():
    with pytest.raises(ConfigError, match="needs GPUs"):
        for_devices(_config(), 2, True, on_gpu=False, lr_chosen=False)
    with pytest.raises(ConfigError, match="--devices 2 or more"):
        for_devices(_config(), 1, True, on_gpu=True, lr_chosen=False)


def test_one_device_changes_nothing():
    before = _config()
    assert for_devices(before, 1, None, on_gpu=True, lr_chosen=False) == (before, [])


def test_the_config_refuses_a_device_count_out_of_range():
    with pytest.raises(ConfigError, match="devices"):
        TrainConfig(dataset="d", devices=0)

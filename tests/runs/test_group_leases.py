"""A run over several GPUs holds each of them: a second run never takes a GPU that another run holds."""
from __future__ import annotations

from resnet_core.config import TrainConfig
from resnet_core.runs.group import device_keys
from resnet_core.runs.lease import hold_device, hold_devices
from resnet_core.runs.store import RunStore


def _run(store, **kw) -> int:
    return store.create_run(TrainConfig(dataset="d", **kw), "/data/d", 10, 6, 2, 2)


def test_a_group_takes_one_lease_per_gpu_and_a_cpu_group_the_cpu():
    group = TrainConfig(dataset="d", devices=3)
    assert device_keys(group, "cuda:0") == ["cuda:0", "cuda:1", "cuda:2"]
    assert device_keys(group, "cpu") == ["cpu"]
    assert device_keys(TrainConfig(dataset="d"), "cuda:1") == ["cuda:1"]


def test_a_group_waits_for_a_gpu_another_run_holds_and_holds_none_meanwhile(workspace):
    store = RunStore(workspace)
    single, group = _run(store), _run(store, devices=2)
    keys = device_keys(store.get_run(group).config, "cuda:0")
    with hold_device(store, "cuda:1", single) as held:
        assert held is None
        with hold_devices(store, keys, group, wait=False) as holder:
            assert holder is not None and holder.run_id == single and holder.device == "cuda:1"
        assert store.device_lease("cuda:0") is None  # the part it had was given back
    with hold_devices(store, keys, group, wait=False) as holder:
        assert holder is None
        assert {store.device_lease(k).run_id for k in keys} == {group}
        with hold_device(store, "cuda:1", single, wait=False) as blocked:
            assert blocked is not None and blocked.run_id == group
    assert all(store.device_lease(k) is None for k in keys)

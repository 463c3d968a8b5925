"""`bench --devices 1,2`: one run per device count through the real paths; figures, never timings."""
from __future__ import annotations

import json

import pytest

from resnet_core.bench.scaling import ScalingRow, _with_efficiency, epoch_rate, parse_device_counts
from resnet_core.bench.side_by_side import BenchError
from resnet_core.cli import main


def test_device_counts_are_read_sorted_and_bad_ones_refused():
    assert parse_device_counts("2, 1,2") == (1, 2)
    for bad in ("", "one,two", "0,1", "-1"):
        with pytest.raises(BenchError, match="--devices"):
            parse_device_counts(bad)


def test_the_rate_leaves_out_the_first_epoch_and_efficiency_compares_with_one_device():
    history = [{"images_per_s": 10.0}, {"images_per_s": 40.0}, {"images_per_s": 60.0}, {"images_per_s": None}]
    assert epoch_rate(history) == (50.0, 2)
    assert epoch_rate([{"images_per_s": 7.0}]) == (7.0, 1)
    assert epoch_rate([]) == (None, 0)
    one = ScalingRow(1, 100.0, 16, 2, "completed", 0.9)
    two = _with_efficiency(ScalingRow(2, 150.0, 32, 2, "completed", 0.9), one)
    assert two.efficiency == pytest.approx(0.75)
    assert two.to_dict()["images_per_s_per_device"] == 75.0
    assert _with_efficiency(ScalingRow(2, None, 32, 0, "failed", None), one).efficiency is None


def test_bench_devices_trains_once_per_count_and_writes_the_json(tmp_path, monkeypatch, capsys,
                                                                offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "scaling.json"
    rc = main(["bench", "--devices", "1,2", "--images", "24", "--source-size", "32", "--image-size", "32",
               "--epochs", "2", "--batch-size", "4", "--device", "cpu", "--workdir", str(tmp_path / "work"),
               "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    report = json.loads(out.read_text())
    rows = {row["devices"]: row for row in report["scaling"]}
    assert set(rows) == {1, 2}
    assert all(row["status"] == "completed" and row["images_per_s"] > 0 for row in rows.values())
    assert rows[1]["efficiency"] == pytest.approx(1.0)
    assert rows[2]["efficiency"] == pytest.approx(rows[2]["images_per_s"] / (2 * rows[1]["images_per_s"]))
    assert rows[2]["global_batch"] == 8 and report["batch_size_per_device"] == 4
    assert {"machine", "load", "dataset"} <= set(report)
    assert "efficiency" in printed and "results written to" in printed

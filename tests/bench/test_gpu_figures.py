"""The GPU figures script, run at its tiny CPU size: every part measures, merges and renders; the
largest-batch search finds the boundary; without a GPU the full-size form says what to do."""
from __future__ import annotations

import json

import pytest
import torch

from resnet_core.bench import gpu_figures
from resnet_core.bench.gpu_figures import FigureOptions, format_markdown, largest_batch, run_figures
from resnet_core.cli import main


def test_the_largest_batch_search_stops_within_an_eighth_of_the_boundary():
    found = largest_batch(lambda b: b <= 100, start=8, cap=4096)
    assert 88 <= found["largest_batch"] <= 100 and not found["search_capped"]
    assert found["tried"]["8"] and not found["tried"]["128"]
    assert max(int(b) for b in found["tried"]) <= 128  # never above the first failure


def test_the_largest_batch_search_never_tries_above_its_cap():
    found = largest_batch(lambda b: True, start=8, cap=64)
    assert found == {**found, "largest_batch": 64, "search_capped": True}
    assert max(int(b) for b in found["tried"]) == 64


def test_a_start_that_does_not_fit_reports_nothing_fits():
    found = largest_batch(lambda b: b < 4, start=8, cap=64)
    assert found["largest_batch"] < 8 and found["tried"]["8"] is False


@pytest.mark.slow
def test_every_part_runs_at_its_tiny_size_and_renders(tmp_path):
    options = FigureOptions.tiny(workdir=str(tmp_path / "work"))
    report = run_figures(options, ("knobs", "limit", "engine", "plain", "max_batch"), log=lambda m: None)
    rows = report["knobs"]["rows"]
    assert "fp32 baseline" in rows and "engine settings (all of the above)" in rows
    assert all(r["images_per_s"] > 0 for r in rows.values()), rows
    assert report["limit"]["resnet18"]["images_per_s"] > 0
    engine = report["engine"]["resnet18 none"]
    assert engine["images_per_s"] > 0 and engine["train_images"] > 0 and not engine["out_of_memory"]
    assert report["engine"]["resnet18 standard"]["images_per_s"] > 0
    assert report["plain"]["resnet18 fp32 as written"]["images_per_s"] > 0
    assert report["plain"]["resnet18 bf16 + channels_last"]["amp"] is True
    ratio = report["ratios"]["resnet18"]
    assert ratio["engine_vs_limit"] == pytest.approx(engine["images_per_s"] / report["limit"]["resnet18"]["images_per_s"])
    assert report["max_batch"]["resnet18"]["wizard_batch_fits"] is True
    text = format_markdown(report)
    assert "| fp32 baseline |" in text and "| resnet18 |" in text and "wizard's batch trains" in text


def test_parts_measured_in_separate_calls_are_merged(tmp_path, monkeypatch):
    # Each part stands in for its measurement: the merge, not the timing, is under test here.
    monkeypatch.setattr(gpu_figures, "knob_figures", lambda o, d, log, with_compile=False: {
        "model": "resnet18", "image_size": 32, "batch_size": 8,
        "rows": {("compiled" if with_compile else "fp32 baseline"): {"images_per_s": 10.0, "step_ms": 1.0,
                                                                      "first_step_s": 0.1}}})
    out = tmp_path / "figures.json"
    args = ["bench", "--gpu-figures", "--tiny", "--workdir", str(tmp_path / "w"), "--out", str(out)]
    assert main([*args, "--parts", "knobs"]) == 0
    assert main([*args, "--parts", "compile"]) == 0
    report = json.loads(out.read_text())
    assert "knobs" in report and "compile" in report and set(report["part_seconds"]) == {"knobs", "compile"}
    assert "torch.compile" in out.with_suffix(".md").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_without_a_gpu_the_full_size_figures_say_what_to_do(tmp_path, capsys):
    assert main(["bench", "--gpu-figures", "--out", str(tmp_path / "g.json")]) != 0
    err = capsys.readouterr().err
    assert "need a CUDA GPU" in err and "--tiny" in err and "Traceback" not in err
    assert main(["bench", "--knobs", "--device", "cuda", "--out", str(tmp_path / "k.json")]) != 0
    assert "sees no NVIDIA GPU" in capsys.readouterr().err

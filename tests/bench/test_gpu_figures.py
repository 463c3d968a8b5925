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
    monkeypatch.setattr(gpu_figures, "knob_figures", lambda o, d, log, compile_mode=None: {
        "model": "resnet18", "image_size": 32, "batch_size": 8,
        "rows": {("compiled" if compile_mode else "fp32 baseline"): {"images_per_s": 10.0, "step_ms": 1.0,
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


class RecordingScaler(gpu_figures.GradScaler):
    made: list[str] = []
    calls: list[str] = []

    def __init__(self, device: str, *args, **kw):
        super().__init__(device, *args, **kw)
        self.made.append(device)

    def scale(self, outputs):
        self.calls.append("scale")
        return super().scale(outputs)

    def step(self, optimizer, *args, **kw):
        self.calls.append("step")
        return super().step(optimizer, *args, **kw)

    def update(self, new_scale=None):
        self.calls.append("update")
        return super().update(new_scale)


@pytest.fixture
def fp16_only(monkeypatch):
    """A device without bf16, as an older GPU: the autocast knob falls back to fp16 (here on the CPU)."""
    RecordingScaler.made, RecordingScaler.calls = [], []
    monkeypatch.setattr(gpu_figures, "autocast_dtype", lambda device: torch.float16)
    monkeypatch.setattr(gpu_figures, "GradScaler", RecordingScaler)


def test_the_fp16_fallback_scales_the_loss_and_steps_through_the_scaler(fp16_only):
    torch.manual_seed(0)
    step = gpu_figures.make_step("resnet18", 4, 32, gpu_figures.Knobs(bf16=True), torch.device("cpu"), num_classes=3)
    losses = [step(), step()]
    assert RecordingScaler.made == ["cpu"]
    assert RecordingScaler.calls == ["scale", "step", "update"] * 2
    assert all(torch.isfinite(loss) for loss in losses)


def test_bf16_and_fp32_steps_use_no_scaler(fp16_only, monkeypatch):
    monkeypatch.setattr(gpu_figures, "autocast_dtype", lambda device: torch.bfloat16)
    gpu_figures.make_step("resnet18", 4, 32, gpu_figures.Knobs(bf16=True), torch.device("cpu"), num_classes=3)()
    gpu_figures.make_step("resnet18", 4, 32, gpu_figures.Knobs(), torch.device("cpu"), num_classes=3)()
    assert RecordingScaler.made == [] and RecordingScaler.calls == []


def test_a_cuda_graph_of_an_fp16_step_is_a_finding_not_a_crash(fp16_only):
    knobs = gpu_figures.Knobs(bf16=True, cuda_graph=True)
    with pytest.raises(ValueError, match="needs a GPU with bf16"):
        gpu_figures.make_step("resnet18", 4, 32, knobs, torch.device("cpu"))
    row = gpu_figures.measure("resnet18", 4, 32, knobs, torch.device("cpu"), min_time_s=0.01, warmup=1)
    assert row["error"].startswith("ValueError: a CUDA graph cannot capture fp16's grad scaler")


def test_each_compile_mode_compiles_from_scratch_with_its_mode(monkeypatch):
    compiled, resets = [], []
    monkeypatch.setattr(torch, "compile", lambda model, mode=None, **kw: compiled.append(mode) or model)
    monkeypatch.setattr(torch.compiler, "reset", lambda: resets.append(True))
    for mode in gpu_figures.COMPILE_PARTS.values():
        knobs = gpu_figures.Knobs(compile=True, compile_mode=mode)
        gpu_figures.make_step("resnet18", 4, 32, knobs, torch.device("cpu"), num_classes=3)()
    assert compiled == ["default", "max-autotune-no-cudagraphs"] and len(resets) == 2


def test_both_compile_modes_share_one_table_with_their_compile_time_and_its_repayment(tmp_path, monkeypatch):
    # The measurement stands in (a real compile takes minutes on a CPU): the rows, not the timing, are tested.
    def measure(arch, batch, image_size, knobs, device, min_time_s, warmup=3):
        step_ms = {"default": 90.0, "max-autotune-no-cudagraphs": 80.0}[knobs.compile_mode] if knobs.compile else 100.0
        return {"images_per_s": 1000 * batch / step_ms, "step_ms": step_ms,
                "first_step_s": (30.0 if knobs.compile else 0.5) + step_ms / 1000, "peak_memory_mib": None}

    monkeypatch.setattr(gpu_figures, "measure", measure)
    options = FigureOptions.tiny(workdir=str(tmp_path / "work"))
    first = run_figures(options, ("compile",), log=lambda m: None)
    report = run_figures(options, ("compile_autotune",), log=lambda m: None, previous=first)
    rows = report["compile"]["rows"]
    assert list(rows) == ["engine settings", "engine settings + torch.compile (default)",
                          "engine settings + torch.compile (max-autotune-no-cudagraphs)"]
    assert rows["engine settings + torch.compile (default)"]["compile_s"] == pytest.approx(30.0)
    assert "compile_s" not in rows["engine settings"]
    text = format_markdown(report)
    assert "torch.compile (default): compiling took 30.0 s; repaid after 3,000 steps." in text
    assert "(max-autotune-no-cudagraphs): compiling took 30.0 s; repaid after 1,500 steps." in text


def test_a_compiled_step_no_faster_is_never_repaid():
    assert gpu_figures.repay_steps(30.0, 100.0, 90.0) == 3000
    assert gpu_figures.repay_steps(30.0, 90.0, 90.0) is None
    assert gpu_figures.repay_steps(30.0, 90.0, 100.0) is None


class FakeMemory:
    """A device of 1,000 bytes where each training image takes 10 and each evaluation image 1; records
    every probe as (batch, bytes held for the image cache, evaluation batch)."""

    def __init__(self):
        self.probes = []

    def fits(self, arch, batch, image_size, device, cache_bytes=0, eval_batch=None):
        self.probes.append((batch, cache_bytes, eval_batch))
        return cache_bytes + 10 * batch + (eval_batch or 0) <= 1000


@pytest.mark.parametrize("held, largest, wizard_fits", [
    (0, range(88, 101), True),
    (400, range(53, 61), True),
    (950, range(4, 6), False),  # its training step fits, its evaluation batch does not
])
def test_the_largest_batch_is_searched_beside_the_memory_the_image_cache_may_take(monkeypatch, held, largest,
                                                                                    wizard_fits):
    memory = FakeMemory()
    monkeypatch.setattr(gpu_figures, "device_cache_limit", lambda device: held)
    monkeypatch.setattr(gpu_figures, "engine_fits", memory.fits)
    options = FigureOptions.tiny(max_batch_cap=4096)
    report = gpu_figures.max_batch_figures(options, torch.device("cpu"), {"resnet18": 4}, log=lambda m: None)
    r = report["resnet18"]
    eval_batch = gpu_figures.speed_settings(torch.device("cpu"), 4).eval_batch_size
    assert r["largest_batch"] in largest and r["cache_held_mib"] == held / 2**20
    assert {cache for _, cache, _ in memory.probes} == {held}  # every probe holds the cache's bytes
    assert memory.probes[-1] == (4, held, eval_batch)  # the wizard's batch: trained, then evaluated
    assert r["wizard_batch"] == 4 and r["wizard_eval_batch"] == eval_batch and r["wizard_batch_fits"] is wizard_fits
    assert ("| resnet18 |" in format_markdown({"max_batch": report})
            and f"| {'yes' if wizard_fits else 'NO'} (evaluation batch {eval_batch}) |" in format_markdown(
                {"max_batch": report}))


def test_a_real_step_fits_beside_a_small_cache_and_not_beside_one_no_memory_holds():
    cpu = torch.device("cpu")
    assert gpu_figures.engine_fits("resnet18", 4, 32, cpu, cache_bytes=1 << 20, eval_batch=8)
    assert not gpu_figures.engine_fits("resnet18", 4, 32, cpu, cache_bytes=1 << 50)  # 1 PiB: out of memory


def test_only_running_out_of_memory_counts_as_not_fitting(monkeypatch):
    def broken(*args, **kw):
        raise ValueError("a bug, not a lack of memory")

    monkeypatch.setattr(gpu_figures, "_training_setup", broken)
    with pytest.raises(ValueError, match="a bug"):
        gpu_figures.engine_fits("resnet18", 4, 32, torch.device("cpu"))

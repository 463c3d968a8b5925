"""Where a user stands on the path Data → Wizard → Train → Compare → Predict, and the workspace in numbers.

The Home page draws these; they are plain functions of a few facts so they can be tested without a page.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from resnet_core.store import RunRecord

DONE, CURRENT, TODO = "done", "current", "todo"


@dataclass(frozen=True)
class Step:
    key: str  # the page key (ui.shared.PAGES)
    number: int
    title: str
    status: str  # done | current | todo
    detail: str  # one short line: what is there, or what to do


@dataclass(frozen=True)
class WorkspaceSummary:
    datasets: int
    runs: int
    finished_runs: int
    active_runs: int
    best_test_acc: float | None
    best_run_id: int | None
    best_run_label: str | None  # 'ResNet50 + fine-tuning + augmentation on pets'


def summarize(num_datasets: int, runs: Iterable[RunRecord]) -> WorkspaceSummary:
    runs = list(runs)
    finished = [r for r in runs if r.is_finished and r.test_acc is not None]
    best = max(finished, key=lambda r: (r.test_acc, -r.id), default=None)
    label = None
    if best is not None:
        label = f"{best.description or best.model} on {best.dataset}"
    return WorkspaceSummary(
        datasets=num_datasets, runs=len(runs), finished_runs=len(finished),
        active_runs=sum(1 for r in runs if r.is_active),
        best_test_acc=best.test_acc if best else None, best_run_id=best.id if best else None,
        best_run_label=label)


def journey(dataset: str | None, num_datasets: int, plan_made: bool, summary: WorkspaceSummary) -> list[Step]:
    """The five steps, each done, current (the first one not done) or still to do."""
    runs, finished, active = summary.runs, summary.finished_runs, summary.active_runs
    if dataset:
        data = (True, f"Working on '{dataset}'")
    elif num_datasets == 1:
        data = (False, "Select your dataset, or add another")
    elif num_datasets:
        data = (False, f"Pick one of your {num_datasets} datasets, or add another")
    else:
        data = (False, "Upload a folder or a .zip, or try the built-in sample")
    wizard = (plan_made or runs > 0,
              "Plan ready" if plan_made else "Get a model and settings for your data")
    if active:
        train = (finished > 0, f"{active} run{'s' if active != 1 else ''} training or queued")
    elif finished:
        train = (True, f"{finished} finished run{'s' if finished != 1 else ''}")
    else:
        train = (False, "Train in the background and watch the live charts")
    compare = (finished >= 2, "Rank runs by accuracy and training time" if finished < 2
               else f"{finished} runs ranked")
    predict = (False, "Try a trained model on single images" if finished
               else "Needs a finished run")
    facts = [("data", "Data", data), ("wizard", "Wizard", wizard), ("train", "Train", train),
             ("compare", "Compare", compare), ("predict", "Predict", predict)]
    steps, current_found = [], False
    for number, (key, title, (done, detail)) in enumerate(facts, 1):
        if done:
            status = DONE
        elif not current_found:
            status, current_found = CURRENT, True
        else:
            status = TODO
        steps.append(Step(key, number, title, status, detail))
    return steps


def current_step(steps: list[Step]) -> Step | None:
    return next((s for s in steps if s.status == CURRENT), None)

"""Where a user stands on the path Data → Wizard → Train → Compare → Predict, and the workspace in numbers.

The Home page draws these; they are plain functions of a few facts so they can be tested without a page.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resnet_core.runs.store import RunRecord

# A step is done; or current (the first one not done: where to go next); or ready (open to use now,
# though an earlier step is still to do); or todo (needs an earlier step first).
DONE, CURRENT, READY, TODO = "done", "current", "ready", "todo"


@dataclass(frozen=True)
class Step:
    key: str  # the page key (ui.shared.PAGES)
    number: int
    title: str
    status: str  # done | current | ready | todo
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
    models: int = 0  # runs that kept a trained model, to predict with


def summarize(num_datasets: int, runs: Iterable[RunRecord], models: int | None = None) -> WorkspaceSummary:
    """models: how many runs kept a model (run_details.predictable_runs); by default the finished runs."""
    runs = list(runs)
    finished = [r for r in runs if r.is_ranked]
    best = max(finished, key=lambda r: (r.test_acc, -r.id), default=None)
    label = None
    if best is not None:
        label = f"{best.description or best.model} on {best.dataset}"
    return WorkspaceSummary(
        datasets=num_datasets, runs=len(runs), finished_runs=len(finished),
        active_runs=sum(1 for r in runs if r.is_active),
        best_test_acc=best.test_acc if best else None, best_run_id=best.id if best else None,
        best_run_label=label, models=len(finished) if models is None else models)


def journey(dataset: str | None, num_datasets: int, plan_made: bool, summary: WorkspaceSummary) -> list[Step]:
    """The five steps: done, current (the first one not done), ready (usable already) or still to do.

    Each step is judged by what exists, not by what this browser session did: datasets already in
    the workspace count for Data (every page offers them), and a kept model makes Predict usable.
    """
    runs, finished, active, models = summary.runs, summary.finished_runs, summary.active_runs, summary.models
    if dataset:
        data = (True, True, f"Working on '{dataset}'")
    elif num_datasets:
        data = (True, True, f"{num_datasets} dataset{'s' if num_datasets != 1 else ''} to pick from, "
                            "or add another")
    else:
        data = (False, True, "Upload a folder or a .zip, or try the built-in sample")
    wizard = (plan_made or runs > 0, num_datasets > 0,
              "Plan ready" if plan_made else "Get a model and settings for your data")
    if active:
        train = (finished > 0, num_datasets > 0, f"{active} run{'s' if active != 1 else ''} training or queued")
    elif finished:
        train = (True, True, f"{finished} finished run{'s' if finished != 1 else ''}")
    else:
        train = (False, num_datasets > 0, "Train in the background and watch the live charts")
    compare = (finished >= 2, finished > 0, "Rank runs by accuracy and training time" if finished < 2
               else f"{finished} runs ranked")
    predict = (False, models > 0, f"{models} trained model{'s' if models != 1 else ''} to try on single images"
               if models else "Needs a finished run")
    facts = [("data", "Data", data), ("wizard", "Wizard", wizard), ("train", "Train", train),
             ("compare", "Compare", compare), ("predict", "Predict", predict)]
    steps, current_found = [], False
    for number, (key, title, (done, usable, detail)) in enumerate(facts, 1):
        if done:
            status = DONE
        elif not current_found:
            status, current_found = CURRENT, True
        else:
            status = READY if usable else TODO
        steps.append(Step(key, number, title, status, detail))
    return steps


def likely_dataset(names: Sequence[str], selected: str | None, runs: Iterable[RunRecord],
                   created: dict[str, str] | None = None) -> str | None:
    """The dataset a person most likely means when a page needs one: the selected one, else the one
    of the newest run, else the newest dataset (by its creation time), else the first; None when
    there are none."""
    if not names:
        return None
    if selected in names:
        return selected
    newest_run = max((r for r in runs if r.dataset in names), key=lambda r: (r.created_at or "", r.id),
                     default=None)
    if newest_run is not None:
        return newest_run.dataset
    if created:
        return max(names, key=lambda n: (created.get(n) or "", n))
    return names[0]


def current_step(steps: list[Step]) -> Step | None:
    return next((s for s in steps if s.status == CURRENT), None)

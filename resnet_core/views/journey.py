"""Where a user stands on the path Data → Wizard → Train → Compare → Predict, and the workspace in numbers.

The Home page draws these; they are plain functions of a few facts so they can be tested without a page.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from resnet_core.runs.store import RunRecord
from resnet_core.status import RunStatus

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
class BestRun:
    """The run with the best test accuracy, and what that figure rests on."""
    run_id: int
    test_acc: float
    dataset: str
    num_test: int | None  # images in its test split (None for runs stored without it)
    label: str  # 'ResNet50 + fine-tuning + augmentation on pets'
    description: str

    def detail(self) -> str:
        """'Run #3 · ResNet18 + fine-tuning · dataset 'pets', 45 test images': a score on 7 test
        images of another dataset must not pass for this one's."""
        tests = f", {self.num_test:,} test image{'s' if self.num_test != 1 else ''}" if self.num_test else ""
        return f"Run #{self.run_id} · {self.description} · dataset '{self.dataset}'{tests}"


# The order Home lists the statuses in, and the words for each ('finished' is completed only).
_STATUS_WORDS = ((RunStatus.COMPLETED, "finished"), (RunStatus.CANCELLED, "cancelled"),
                 (RunStatus.FAILED, "failed"), (RunStatus.INTERRUPTED, "interrupted"))


@dataclass(frozen=True)
class WorkspaceSummary:
    datasets: int
    runs: int
    finished_runs: int  # completed; a cancelled, failed or interrupted run did not finish
    ranked_runs: int  # with a final test accuracy (completed, or cancelled after the last evaluation)
    active_runs: int
    best: BestRun | None
    status_counts: dict[str, int] = field(default_factory=dict)  # RunStatus -> runs
    models: int = 0  # runs that kept a trained model, to predict with

    def runs_breakdown(self) -> str:
        """'2 finished · 1 cancelled · 1 training or queued' (only the statuses there are)."""
        parts = [f"{self.status_counts[s]} {words}" for s, words in _STATUS_WORDS if self.status_counts.get(s)]
        if self.active_runs:
            parts.append(f"{self.active_runs} training or queued")
        return " · ".join(parts) or "No runs yet"


def summarize(num_datasets: int, runs: Iterable[RunRecord], models: int | None = None,
              dataset: str | None = None) -> WorkspaceSummary:
    """models: how many runs kept a model (run_details.predictable_runs); by default the ranked runs.
    The best accuracy is the selected dataset's when it has a ranked run (accuracies on different
    datasets' test splits do not compare), else the best over all datasets; it names which."""
    runs = list(runs)
    ranked = [r for r in runs if r.is_ranked]
    pool = [r for r in ranked if r.dataset == dataset] or ranked
    top = max(pool, key=lambda r: (r.test_acc, -r.id), default=None)
    best = None
    if top is not None:
        description = top.description or top.model
        best = BestRun(top.id, top.test_acc, top.dataset, top.num_test, f"{description} on {top.dataset}",
                       description)
    return WorkspaceSummary(
        datasets=num_datasets, runs=len(runs),
        finished_runs=sum(1 for r in runs if r.status == RunStatus.COMPLETED), ranked_runs=len(ranked),
        active_runs=sum(1 for r in runs if r.is_active), best=best,
        status_counts=dict(Counter(RunStatus(r.status) for r in runs if r.status in set(RunStatus))),
        models=len(ranked) if models is None else models)


def journey(dataset: str | None, num_datasets: int, plan_made: bool, summary: WorkspaceSummary) -> list[Step]:
    """The five steps: done, current (the first one not done), ready (usable already) or still to do.

    Each step is judged by what exists, not by what this browser session did: datasets already in
    the workspace count for Data (every page offers them), and a kept model makes Predict usable.
    """
    # Train and Compare count runs with results: completed, or cancelled after a final evaluation.
    runs, finished, active, models = summary.runs, summary.ranked_runs, summary.active_runs, summary.models
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
        train = (True, True, f"{finished} run{'s' if finished != 1 else ''} with results")
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

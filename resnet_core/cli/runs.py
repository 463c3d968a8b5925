"""`runs`: list the stored runs with their final scores and their rank within their dataset size."""
from __future__ import annotations

import argparse
from typing import Any

from resnet_core.cli import UserError, print_json, summary
from resnet_core.results.metrics import keep_known, run_scores
from resnet_core.results.ranking import RankedRun, ranked_rows, rows_by_run
from resnet_core.results.trust import RunTrust, run_intervals, trust_by_run, trust_json
from resnet_core.runs.recovery import startup
from resnet_core.runs.store import RunRecord, RunStore, StoreError
from resnet_core.status import NOT_COMPLETED, RunStatus
from resnet_core.text import format_duration
from resnet_core.workspace import Workspace


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("runs", help=summary("runs"),
                              description="List the stored training runs, newest first. Runs with a "
                                          "test accuracy are ranked among runs on the same dataset "
                                          "with the same number of training images.")
    p.add_argument("--dataset", metavar="NAME", help="only runs on this dataset")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    workspace = Workspace.default()
    try:
        store = RunStore(workspace)
    except StoreError as e:
        raise UserError(str(e)) from e
    try:
        # So a run whose process died does not show as running forever (and leftovers go).
        startup(workspace, store)
        runs = store.list_runs(dataset=args.dataset)
    finally:
        store.close()
    rows = ranked_rows(runs)
    ranks = rows_by_run(rows)  # a repeat's row is its configuration's
    trust = trust_by_run(rows, workspace)
    items = [run_dict(r, ranks.get(r.id), _own_trust(r.id, ranks.get(r.id), trust, workspace)) for r in runs]
    if args.json:
        print_json(items)
        return 0
    if not items:
        where = f" on dataset {args.dataset!r}" if args.dataset else ""
        print(f"No runs{where} yet. Train a first one with `python -m resnet_core train` "
              "(see `python -m resnet_core train --help`).")
        return 0
    print(format_table(items))
    return 0


def _own_trust(run_id: int, row: RankedRun | None, trust: dict[int, RunTrust],
               workspace: Workspace) -> RunTrust | None:
    """The run's intervals; the tie mark is its configuration's (a repeat shares its row's)."""
    if row is None or row.repeats == 1:
        return trust.get(run_id)
    shared = trust.get(row.run_id)
    return RunTrust(run_intervals(workspace, run_id), shared.tied_for_first if shared else None,
                    shared.p_vs_leader if shared else None)


def repeat_json(row: RankedRun | None) -> dict[str, Any]:
    """A run's configuration over its repeats with other seeds: how many runs, which, their mean and
    standard deviation (sd None for a single run; everything None for a run not ranked)."""
    return {
        "repeats": row.repeats if row else None,
        "repeat_runs": list(row.members) if row else None,
        "test_acc_mean": row.test_acc if row else None, "test_acc_sd": row.test_acc_sd if row else None,
        "balanced_acc_mean": row.balanced_acc if row else None,
        "balanced_acc_sd": row.balanced_acc_sd if row else None,
        "train_time_mean": row.train_time_s if row else None,
        "train_time_sd": row.train_time_sd if row else None,
    }


def run_dict(record: RunRecord, ranked: RankedRun | None, trust: RunTrust | None = None) -> dict[str, Any]:
    """One run as plain JSON-ready data; rank and pareto are None when it is not ranked.

    After the keys every version printed come the 95% intervals and the tie mark (trust_json), then
    the run's configuration over its repeats (repeat_of, repeat_json): rank and pareto are the
    configuration's, ranked by its mean.
    """
    return {
        "run_id": record.id,
        "dataset": record.dataset,
        "status": record.status,
        "status_text": status_text(record),
        "model": record.model,
        "description": record.description,
        "val_loss": record.val_loss,
        "val_acc": record.val_acc,
        "test_acc": record.test_acc,
        "train_time_s": record.train_time_s,
        "epoch_ended": record.epoch_ended,
        "best_epoch": record.best_epoch,
        "stopped_early": record.stopped_early,
        "num_images": record.num_images,
        "num_train": record.num_train,
        "num_val": record.num_val,
        "num_test": record.num_test,
        "rank": ranked.rank if ranked else None,
        "pareto": ranked.pareto if ranked else None,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "error": record.error,
        "notes": list(record.notes),
        # balanced_acc and macro_f1: from stored predictions, else from the test report's confusion matrix
        **keep_known(trust_json(trust), run_scores(record.final_metrics)),
        "repeat_of": record.repeat_of,
        **repeat_json(ranked),
        "name": record.name,
        "note": record.user_note,
    }


def status_text(record: RunRecord) -> str:
    """The status as the table shows it: an interrupted run says whether it had started at all."""
    if record.status == RunStatus.INTERRUPTED and record.started_at is None:
        return "interrupted (never started)"
    return record.status


_COLUMNS = (("id", "run_id"), ("name", "name"), ("dataset", "dataset"), ("train", "num_train"), ("model", "description"),
            ("status", "status_text"), ("val loss", "val_loss"), ("val acc", "val_acc"),
            ("test acc", "test_acc"), ("bal acc", "balanced_acc"), ("time", "train_time_s"), ("epochs", "epoch_ended"),
            ("rank", "rank"))


def format_table(items: list[dict[str, Any]]) -> str:
    """A plain aligned text table; '—' where a value is not known."""
    def cell(key: str, value: Any) -> str:
        if value is None:
            return "—"
        if key == "train_time_s":
            return format_duration(value)
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value)

    header = [title for title, _ in _COLUMNS]
    body = [[cell(key, item[key]) for _, key in _COLUMNS] for item in items]
    for row, item in zip(body, items):
        if item["repeats"] and item["repeats"] > 1:
            row[-1] += f" x{item['repeats']}"  # the rank of its configuration, by the mean of its runs
        if item["tied_for_first"]:
            row[-1] += " ="  # within noise of rank 1
        if item["pareto"]:
            row[-1] += " *"  # on the cost-performance front
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(text.ljust(w) for text, w in zip(row, widths)).rstrip() for row in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    text = "\n".join(lines) + ("\n\nrank: among runs on the same dataset with the same number of training images; "
                              "* no faster run is as accurate (cost-performance front); = tied for first "
                              "(within noise of rank 1 on the same test images); xN a configuration run with N seeds, "
                              "ranked by their mean.")
    if any(item["status"] in NOT_COMPLETED for item in items):
        text += ("\nA stopped run continues from its last saved epoch with `python -m resnet_core resume ID`; "
                 "`rerun ID` trains one again as a new run.")
    return text

"""`rerun ID`: train a new run with exactly the settings of an earlier one (same dataset and split);
with --seeds N, N new runs with other seeds, linked to the first run as repeats of its configuration."""
from __future__ import annotations

import argparse
import sys

from resnet_core.cli import UserError, print_json, summary
from resnet_core.cli.resume import get_record, open_workspace
from resnet_core.cli.train import (
    add_label_arguments,
    report_failure,
    train_and_summarise,
    train_in_foreground,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rerun", help=summary("rerun"),
        description="Start a new run with the settings of run ID, on the same dataset and its saved "
                    "split, in this process. The earlier run is kept as it is. With --seeds N, train "
                    "N runs with new seeds instead: `runs` and the Compare page then show the "
                    "configuration once, with the mean and standard deviation of its runs.")
    p.add_argument("run_id", metavar="ID", help="the run to repeat (see `runs`)")
    p.add_argument("--seeds", type=int, metavar="N",
                   help="repeat the configuration with N new seeds (one after another, in this process)")
    add_label_arguments(p)
    p.add_argument("--json", action="store_true", help="print the final result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from resnet_core.data.scan import DatasetError
    from resnet_core.runs.runner import create_run

    workspace, store = open_workspace()
    try:
        original = get_record(store, args.run_id)
        if args.seeds is not None:
            return _repeat(workspace, store, original, args.seeds, args.json, args.name, args.note)
        config = original.config
        try:
            run_id = create_run(config, workspace, store, name=args.name, note=args.note)
        except (DatasetError, ValueError) as e:
            raise UserError(f"cannot re-run run {original.id}: {e}") from e
        print(f"run {run_id}: re-run of run {original.id}, {config.describe()} on '{config.dataset}', "
              f"{config.epochs} epochs, batch {config.batch_size}, lr {config.learning_rate:g}, "
              f"{config.image_size}px", file=sys.stderr)
        return train_in_foreground(workspace, store, run_id, config, resume=False, as_json=args.json,
                                   extra={"rerun_of": original.id})
    finally:
        store.close()


def _repeat(workspace, store, original, count: int, as_json: bool, name: str = "", note: str = "") -> int:
    """Train `count` repeats of original's configuration; print each run, then the configuration.
    Every repeat gets the name and note given (the table shows the configuration once)."""
    from resnet_core.cli.runs import repeat_json
    from resnet_core.data.scan import DatasetError
    from resnet_core.results.ranking import ranked_rows, rows_by_run
    from resnet_core.runs.repeats import plan_repeats
    from resnet_core.runs.runner import create_run
    from resnet_core.status import RunStatus

    try:
        plan = plan_repeats(store, original, count)
        # Every run is created before the first trains: a dataset that cannot be trained on is
        # refused before any time is spent, and the runs are listed at once.
        run_ids = [create_run(config, workspace, store, repeat_of=plan.root, name=name, note=note)
                   for config in plan.configs]
    except (DatasetError, ValueError) as e:
        raise UserError(f"cannot repeat run {original.id}: {e}") from e
    print(f"runs {', '.join(map(str, run_ids))}: repeats of run {plan.root} ({original.description} on "
          f"'{original.dataset}') with seeds {', '.join(map(str, plan.seeds))}", file=sys.stderr)
    code, summaries = 0, []
    for n, (run_id, config) in enumerate(zip(run_ids, plan.configs)):
        result, summary_ = train_and_summarise(workspace, store, run_id, config, resume=False,
                                               extra={"rerun_of": original.id})
        if summary_ is None:  # Ctrl-C: the repeats not started are not left queued
            for later in run_ids[n + 1:]:
                store.finish_run(later, RunStatus.CANCELLED)
                store.add_note(later, "Not started: the repeats were stopped with Ctrl-C.")
            return result
        summaries.append(summary_)
        code = max(code, result)
        if not as_json:
            _print_run(summary_)
        report_failure(workspace, summary_)
    rows = rows_by_run(ranked_rows(store.list_runs(dataset=original.dataset)))
    row = rows.get(plan.root) or rows.get(run_ids[0])  # the first run may have been deleted
    configuration = {"repeat_of": plan.root, "seeds": plan.seeds, **repeat_json(row)}
    if as_json:
        print_json({"runs": summaries, "configuration": configuration})
    else:
        _print_configuration(configuration)
    return code


def _print_run(s: dict) -> None:
    acc = "—" if s["test_acc"] is None else f"{s['test_acc']:.2%}"
    print(f"run {s['run_id']} (seed {s['seed']}) {s['status']}: test accuracy {acc}")


def _print_configuration(c: dict) -> None:
    if not c["repeats"]:
        print("no run of this configuration has a test accuracy yet")
        return
    sd = "" if c["test_acc_sd"] is None else f" ± {c['test_acc_sd']:.2%}"
    print(f"configuration of run {c['repeat_of']} over {c['repeats']} runs "
          f"({', '.join(f'#{i}' for i in c['repeat_runs'])}): test accuracy {c['test_acc_mean']:.2%}{sd} "
          "(mean ± standard deviation)")

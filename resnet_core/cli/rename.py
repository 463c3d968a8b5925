"""`rename ID --name TEXT [--note TEXT]`: the user's own name and note for a run, as Compare edits them."""
from __future__ import annotations

import argparse

from resnet_core.cli import UserError, print_json, summary
from resnet_core.cli.resume import get_record, open_workspace


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rename", help=summary("rename"),
        description="Name a run and/or note why it was tried. Only the label changes: the run's settings, "
                    "scores and rank stay as they are. An empty text clears it (--name '').")
    p.add_argument("run_id", metavar="ID", help="the run to label (see `runs`)")
    p.add_argument("--name", help="the run's new name, such as 'baseline'")
    p.add_argument("--note", help="a note about the run; leave it out to keep the one it has")
    p.add_argument("--json", action="store_true", help="print the run's id, name and note as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.name is None and args.note is None:
        raise UserError("nothing to change: give --name TEXT and/or --note TEXT")
    _, store = open_workspace()
    try:
        record = get_record(store, args.run_id, need_config=False)
        try:
            store.label_run(record.id, name=args.name, note=args.note)
        except ValueError as e:
            raise UserError(str(e)) from e
        record = store.get_run(record.id)
    finally:
        store.close()
    if args.json:
        print_json({"run_id": record.id, "name": record.name, "note": record.user_note})
    else:
        note = f"; note: {record.user_note}" if record.user_note else ""
        print(f"run {record.id}: {record.name or '(no name)'}{note}")
    return 0

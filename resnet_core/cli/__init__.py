"""The command line: `python -m resnet_core COMMAND ...`.

Each command lives in its own module here with `register(subparsers)` (which sets `func`) and a
`run(args) -> int`. Errors a user can fix become a one-line message and exit status 2, never a
traceback; `--debug` (before or after the command) prints the traceback of a failure too.

Only the module of the command being run is imported (the others appear in `--help` by their
one-line summary from COMMANDS), so `--help` answers at once and `scan`, `import`, `recommend` and
`runs` never load torch. A command module that needs torch may import it at its top.

May import: every core package.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NamedTuple

from resnet_core.config import ConfigError
from resnet_core.fsutil import os_error_sentence
from resnet_core.runs.store import StoreError


class Command(NamedTuple):
    module: str  # the module of this package that defines it
    summary: str  # its line in `--help`


# Commands in the order `--help` lists them.
COMMANDS = {
    "scan": Command("scan", "check an image folder or dataset: classes, counts, skipped files, warnings"),
    "import": Command("import_", "copy a folder or a .zip of class subfolders into the workspace"),
    "check-labels": Command("check_labels", "list images that may be in the wrong class folder"),
    "recommend": Command("recommend", "which ResNet and settings the model cards advise, with reasons"),
    "train": Command("train", "train a ResNet on an image folder or imported dataset"),
    "resume": Command("resume", "continue an interrupted, cancelled or failed run from its last saved epoch"),
    "rerun": Command("rerun", "train a new run with the same settings as an earlier one"),
    "runs": Command("runs", "list training runs, their scores and ranks"),
    "rename": Command("rename", "give a run a name and a note of your own"),
    "predict": Command("predict", "classify images with a trained run"),
    "export": Command("export", "export a trained run to TorchScript or ONNX"),
    "bench": Command("bench", "time the plain PyTorch loop against this project's engine on the same data"),
    "sweep": Command("sweep", "the cost-performance study on your data: every configuration, ranked"),
    "repair": Command("repair", "rebuild a damaged run database from the run folders"),
}


class UserError(Exception):
    """A problem with the user's input; main() prints it as 'error: ...' and exits 2."""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with the full options of the command named in argv (if any) and every other
    command by its summary alone."""
    parser = argparse.ArgumentParser(
        prog="python -m resnet_core",
        description="ResNet Pilot: pick, train, compare and use ResNet image classifiers.",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")), None)
    for name, command in COMMANDS.items():
        if name == wanted:
            importlib.import_module(f"{__name__}.{command.module}").register(sub)
            # SUPPRESS: an absent flag here must not reset one given before the command.
            sub.choices[name].add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                           help=DEBUG_HELP)
        else:
            sub.add_parser(name, help=command.summary, description=command.summary)
    return parser


DEBUG_HELP = "print the full traceback of a failure (it is kept in a failed run's error.log anyway)"
_LOG_HANDLER = "resnet_pilot_cli"


def configure_logging(debug: bool) -> None:
    """The core logs failures with their traceback (for a server's log). Here they reach stderr only
    with --debug: otherwise the short message is printed and the details stay in error.log."""
    logger = logging.getLogger("resnet_pilot")
    for handler in [h for h in logger.handlers if h.get_name() == _LOG_HANDLER]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr) if debug else logging.NullHandler()
    handler.set_name(_LOG_HANDLER)
    logger.addHandler(handler)


def summary(name: str) -> str:
    """A command's `--help` line, for its module's own parser."""
    return COMMANDS[name].summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    configure_logging(args.debug)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        _print_traceback_if(args.debug)
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return 0
    except Exception as e:  # a bug or an environment problem: say what, keep the traceback out
        _print_traceback_if(args.debug)
        if isinstance(e, (ConfigError, ValueError, StoreError)):  # ours speak to the user already
            print(f"error: {e}", file=sys.stderr)
            return 2
        if isinstance(e, OSError):
            print(f"error: {os_error_sentence(e)}", file=sys.stderr)
            return 2
        print(f"error: an unexpected problem ({type(e).__name__}); run the command again with --debug for "
              "the details, and report it if it repeats", file=sys.stderr)
        return 1


def _print_traceback_if(debug: bool) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")

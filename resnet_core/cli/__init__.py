"""The command line: `python -m resnet_core COMMAND ...`.

Each command lives in its own module here with `register(subparsers)` (which sets `func`) and a
`run(args) -> int`. Errors a user can fix become a one-line message and exit status 2, never a
traceback.

May import: every core package. A command module imports what its command needs inside `run()`,
not at its top, because building the parser imports every command module: torch and the training
code load only for the commands that use them.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from resnet_core.config import ConfigError

# Commands in the order `--help` lists them; each name is a module of this package.
COMMANDS = ("scan", "import_", "recommend", "train", "resume", "rerun", "runs", "predict", "export",
            "bench", "sweep")


class UserError(Exception):
    """A problem with the user's input; main() prints it as 'error: ...' and exits 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m resnet_core",
        description="ResNet Pilot: pick, train, compare and use ResNet image classifiers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return 0
    except Exception as e:  # a bug or an environment problem: say what, keep the traceback out

        if isinstance(e, (ConfigError, FileNotFoundError, NotADirectoryError, ValueError)):
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"error: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        return 1


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")

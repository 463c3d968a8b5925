"""The race's regret on Fashion-MNIST: the race's pick, trained in full, against the study's best.

    python scripts/fashion_mnist_regret.py [--size 833] [--budget-s S] [--workspace DIR]
        [--study docs/study-results.md]

Uses the study's data and settings (scripts/fashion_mnist_study.py: the same balanced pool, split and
nested training subset, 32 px, batch 64, random initialisation, the wizard's epochs, learning rate
and patience), so the pick's test accuracy is comparable with the study table's rows. The race gets
the Wizard's default budget (15% of the recommended run's time, at least 30 s; the recommended run's
time is the study's for its configuration, or for the same one with standard augmentation where the
study did not run the cards' level) unless --budget-s is given. The study's time is the sum of its
eight training times at this size, read from the study's Markdown.

The clock (--clock study, the default) counts seconds of the study's machine (StudyClock): the race's
budget, the race and the pick's run are all charged at the study's measured rates, so the comparison
with the study's time holds however busy this machine is; --clock wall uses this machine's wall time.
Prints one Markdown row, and to stderr every trial and the wall times here.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resnet_core.data import fashion_mnist  # noqa: E402
from resnet_core.workspace import ENV_VAR, Workspace  # noqa: E402
from scripts.fashion_mnist_study import pool_per_class, write_pool  # noqa: E402

STUDY_SIZES = (833, 2280, 19104)  # the pool is the study's, sized for its largest size
BATCH_SIZE, IMAGE_SIZE = 64, 32  # the study's settings (docs/study-results.md, "How these tables were made")


def study_rows(markdown: str, size: int) -> dict[str, tuple[float, float, int]]:
    """{configuration: (test accuracy, training seconds, epochs run)} of the study's results table at
    `size`."""
    lines = markdown.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith(f"Model({size} images)"))
    rows = {}
    for line in lines[head + 2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5:
            break
        rows[cells[0]] = (float(cells[3]), seconds(cells[4]), int(cells[5]))
    return rows


def study_settings(markdown: str, size: int) -> dict[str, dict[str, float]]:
    """{model: {epochs, learning_rate, patience}} from the study's Settings table at `size`."""
    out: dict[str, dict[str, float]] = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 7 and cells[0] == str(size):
            model = cells[1].split(" ")[0].lower()
            out.setdefault(model, {"epochs": int(cells[2]), "learning_rate": float(cells[4]),
                                   "patience": int(cells[6])})
    return out


class StudyClock:
    """Seconds as the study's machine would spend them: each batch trained and each evaluation is
    charged at the rate the study measured for that configuration at this size (its training time over
    its epochs, shared between training and validation images, an evaluated image costing 1/EVAL_SPEEDUP
    of a trained one). A configuration the study did not run (another augmentation level) is charged as
    the same one with standard augmentation. Nothing here depends on what else runs on this machine."""

    def __init__(self, study: dict[str, tuple[float, float, int]], num_train: int, num_val: int):
        from resnet_core.advice.estimate import EVAL_SPEEDUP

        self.study, self.num_train, self.num_val, self.speedup = study, num_train, num_val, EVAL_SPEEDUP
        self.elapsed = 0.0

    def now(self) -> float:
        return self.elapsed

    def per_image(self, config) -> float:
        from resnet_core.config import describe_config

        name = config.describe()
        if name not in self.study:
            name = describe_config(config.model, config.fine_tune, "standard" if config.augmentation != "none"
                                   else "none")
        _, seconds, epochs = self.study[name]
        return seconds / epochs / (self.num_train + self.num_val / self.speedup)

    def callback(self):
        from resnet_core.training.callbacks import Callback

        clock = self

        class Meter(Callback):
            seen = 0

            def before_epoch(self, state) -> None:
                self.seen = 0

            def after_batch(self, state) -> None:
                clock.elapsed += (state.images_seen_epoch - self.seen) * clock.per_image(state.config)
                self.seen = state.images_seen_epoch

            def after_epoch(self, state) -> None:
                row = state.history[-1] if state.history else {}
                if row.get("epoch") == state.epoch and row.get("val_loss") is not None:
                    clock.elapsed += state.num_val * clock.per_image(state.config) / clock.speedup

        return Meter()


def seconds(text: str) -> float:
    """'1h 2m 3s', '2m 5s', '22s' → seconds."""
    parts = dict((unit, float(n)) for n, unit in re.findall(r"([\d.]+)\s*([hms])", text))
    return parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=833, choices=STUDY_SIZES)
    parser.add_argument("--budget-s", type=float, help="the race's budget (default: the Wizard's)")
    parser.add_argument("--workspace", help="workspace folder (default: the usual one)")
    parser.add_argument("--study", default=str(ROOT / "docs" / "study-results.md"))
    parser.add_argument("--source", default=str(fashion_mnist.DEFAULT_DIR))
    parser.add_argument("--clock", choices=("study", "wall"), default="study")
    args = parser.parse_args(argv)
    if args.workspace:
        os.environ[ENV_VAR] = str(Path(args.workspace).resolve())
    os.environ.setdefault("RESNET_PILOT_OFFLINE", "1")
    workspace = Workspace.default()
    markdown = Path(args.study).read_text(encoding="utf-8")
    study, settings = study_rows(markdown, args.size), study_settings(markdown, args.size)
    folder = write_pool(workspace, pool_per_class(max(STUDY_SIZES)), args.source)


    from resnet_core.advice.check_on_data import default_budget_s
    from resnet_core.advice.race import race_candidates, run_race
    from resnet_core.advice.recommend import recommend
    from resnet_core.config import describe_config
    from resnet_core.data.handle import open_dataset
    from resnet_core.data.prepare import prepare_data
    from resnet_core.training.engine import fit

    handle = open_dataset(str(folder), workspace)
    rec = recommend(args.size, len(handle.report.classes), None, dataset_images=handle.report.num_images,
                    weights="none", image_size=IMAGE_SIZE)
    own = settings[rec.model]
    rec = dataclasses.replace(rec, batch_size=BATCH_SIZE, epochs=own["epochs"], patience=own["patience"])

    def as_study(config):
        """The study's settings for this depth; a candidate's own learning rate when the race varies it."""
        own = settings[config.model]
        rate = config.learning_rate if config.learning_rate != rec.learning_rate else own["learning_rate"]
        return dataclasses.replace(config, batch_size=BATCH_SIZE, image_size=IMAGE_SIZE, device="cpu",
                                   max_train_images=args.size, epochs=own["epochs"], patience=own["patience"],
                                   learning_rate=rate)

    candidates = [dataclasses.replace(c, config=as_study(c.config))
                  for c in race_candidates(rec, handle.name, weights_available=False, device="cpu")]
    data = prepare_data(candidates[0].config, workspace, dataset=handle)
    meter = StudyClock(study, args.size, len(data.val_idx))
    clock = meter.now if args.clock == "study" else time.perf_counter
    recommended = describe_config(rec.model, rec.fine_tune, rec.augmentation)
    stand_in = recommended if recommended in study else describe_config(rec.model, rec.fine_tune, "standard")
    budget = args.budget_s or default_budget_s(study[stand_in][1])
    print(f"race: {len(candidates)} candidates, budget {budget:.0f} s ({args.clock} clock; the recommended "
          f"run, {recommended}, timed as the study's {stand_in}: {study[stand_in][1]:.0f} s)", file=sys.stderr)

    def metered(config, part, callbacks):
        return fit(config, dataclasses.replace(part, test_idx=part.test_idx[:0]), [meter.callback(), *callbacks])

    started, wall = clock(), time.perf_counter()
    # As the Wizard passes the probed rate of the recommended configuration (here, on the study's clock).
    rate = 1 / meter.per_image(candidates[0].config) if args.clock == "study" else None
    race = run_race(candidates, data, budget, clock=clock, trainer=metered, images_per_s=rate,
                    progress=lambda d, t, what: print(f"race {d}/{t}: {what}", file=sys.stderr, flush=True))
    race_s, race_wall = clock() - started, time.perf_counter() - wall
    for t in race.trials:
        print(f"  round {t.rung + 1}: {t.candidate:<62} {t.train_images:>5} images  "
              f"val loss {t.val_loss if t.val_loss is not None else float('nan'):.3f}  {t.seconds:.1f} s",
              file=sys.stderr)
    pick = race.winning
    if pick is None:
        print("the race measured nothing within its budget", file=sys.stderr)
        return 1
    print(f"pick: {pick.name}; training it in full ...", file=sys.stderr)
    started = clock()
    result = fit(pick.config, data, [meter.callback()])
    pick_s = clock() - started
    description = pick.config.describe()
    best_name, (best_acc, _, _) = max(study.items(), key=lambda kv: kv[1][0])
    study_s = sum(row[1] for row in study.values())
    gap = 100 * (best_acc - result.test_acc)
    total = race_s + pick_s
    print(f"race: {race_wall:.0f} s of wall time here; the pick's run: {result.train_time_s:.0f} s of wall time, "
          f"{result.epoch_ended} epochs; {args.clock} clock: race {race_s:.1f} s, pick {pick_s:.1f} s",
          file=sys.stderr)
    # The pick's own row of the study separates the race's choice from the noise of re-running it.
    in_study = f"{study[description][0]:.4f}" if description in study else "—"
    print("| Size | Race's pick | Its test acc | The pick in the study | Study's best | Gap (points) | Race + pick "
          "| Study | Share |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.size:,} | {description} ({pick.name}) | {result.test_acc:.4f} | {in_study} | {best_name} "
          f"({best_acc:.4f}) | {gap:.1f} | {race_s:.0f} s + {pick_s:.0f} s = {total:.0f} s | {study_s:.0f} s | "
          f"{total / study_s:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

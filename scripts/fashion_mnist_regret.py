"""The race's regret on Fashion-MNIST: the race's pick, trained in full, against the study's best.

    python scripts/fashion_mnist_regret.py [--size 833] [--budget-s S] [--workspace DIR]
        [--study docs/study-results.md]

Uses the study's data and settings (scripts/fashion_mnist_study.py: the same balanced pool, split and
nested training subset, 32 px, batch 64, random initialisation, the wizard's epochs, learning rate
and patience), so the pick's test accuracy is comparable with the study table's rows. The race gets
the Wizard's default budget (15% of the recommended run's estimated time, at least 30 s) unless
--budget-s is given. The study's time is the sum of its eight training times at this size, read from
the study's Markdown; the pick's configuration's own time there, against its time here, says how much
slower (or faster) this machine is now than when the study was measured. Prints one Markdown row.
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


def study_rows(markdown: str, size: int) -> dict[str, tuple[float, float]]:
    """{configuration: (test accuracy, training seconds)} of the study's results table at `size`."""
    lines = markdown.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith(f"Model({size} images)"))
    rows = {}
    for line in lines[head + 2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5:
            break
        rows[cells[0]] = (float(cells[3]), seconds(cells[4]))
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
    args = parser.parse_args(argv)
    if args.workspace:
        os.environ[ENV_VAR] = str(Path(args.workspace).resolve())
    os.environ.setdefault("RESNET_PILOT_OFFLINE", "1")
    workspace = Workspace.default()
    markdown = Path(args.study).read_text(encoding="utf-8")
    study, settings = study_rows(markdown, args.size), study_settings(markdown, args.size)
    folder = write_pool(workspace, pool_per_class(max(STUDY_SIZES)), args.source)

    from resnet_core.advice.check_on_data import default_budget_s
    from resnet_core.advice.estimate import estimate_training_time, probe_throughput
    from resnet_core.advice.race import race_candidates, run_race
    from resnet_core.advice.recommend import recommend
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
    rate = probe_throughput(rec.model, BATCH_SIZE, IMAGE_SIZE, rec.fine_tune, "cpu")
    recommended_s = estimate_training_time(rec, len(data.train_idx), len(data.val_idx), rate).seconds
    budget = args.budget_s or default_budget_s(recommended_s)
    print(f"race: {len(candidates)} candidates, budget {budget:.0f} s "
          f"(recommended run estimated at {recommended_s:.0f} s)", file=sys.stderr)
    started = time.perf_counter()
    race = run_race(candidates, data, budget, images_per_s=rate,
                    progress=lambda d, t, what: print(f"race {d}/{t}: {what}", file=sys.stderr, flush=True))
    race_s = time.perf_counter() - started
    for t in race.trials:
        print(f"  round {t.rung + 1}: {t.candidate:<62} {t.train_images:>5} images  "
              f"val loss {t.val_loss if t.val_loss is not None else float('nan'):.3f}  {t.seconds:.0f} s",
              file=sys.stderr)
    pick = race.winning
    if pick is None:
        print("the race measured nothing within its budget", file=sys.stderr)
        return 1
    print(f"pick: {pick.name}; training it in full ...", file=sys.stderr)
    result = fit(pick.config, data)
    description = pick.config.describe()
    best_name, (best_acc, _) = max(study.items(), key=lambda kv: kv[1][0])
    study_s = sum(s for _, s in study.values())
    gap = 100 * (best_acc - result.test_acc)
    total = race_s + result.train_time_s
    then = study.get(description, (None, None))[1]
    slowdown = f"{result.train_time_s / then:.1f}×" if then else "n/a"
    print("| Size | Race's pick | Its test acc | Study's best | Gap (points) | Race + pick | Study | Share | "
          "Pick here vs in the study |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.size:,} | {description} ({pick.name}) | {result.test_acc:.4f} | {best_name} ({best_acc:.4f}) | "
          f"{gap:.1f} | {race_s:.0f} s + {result.train_time_s:.0f} s = {total:.0f} s | {study_s:.0f} s | "
          f"{total / study_s:.0%} | {result.train_time_s:.0f} s vs {then:.0f} s ({slowdown}) |"
          if then else
          f"| {args.size:,} | {description} ({pick.name}) | {result.test_acc:.4f} | {best_name} ({best_acc:.4f}) | "
          f"{gap:.1f} | {race_s:.0f} s + {result.train_time_s:.0f} s = {total:.0f} s | {study_s:.0f} s | "
          f"{total / study_s:.0%} | not in the study |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

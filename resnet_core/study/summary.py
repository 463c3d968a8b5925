"""A study's results: one ranked table per size, the reference study's layout, and a written conclusion."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resnet_core.advice.wizard_pick import overridden_settings, wizard_pick_run
from resnet_core.results.metrics import BALANCED_ACC, MACRO_F1, keep_known
from resnet_core.results.ranking import RankedRun, format_study_table, ranked_rows
from resnet_core.results.trust import trust_by_run
from resnet_core.status import PENDING, RunStatus
from resnet_core.study.plan import StudyPlan, load_study
from resnet_core.study.run import completed_run, matching_runs
from resnet_core.text import format_duration, ordinal

# ----- results -----------------------------------------------------------------------------------

ROW_KEYS = ("config", "val_loss", "val_acc", "test_acc", "train_time_s", "epoch_ended", "rank")


def study_tables(plan: StudyPlan | str, store) -> list[dict[str, Any]]:
    """One table per size: {"num_images": N, "rows": [...]} with a row per configuration in the
    study's order; finished rows are ranked like the study (test acc, then val loss, then time).

    Each row: config, val_loss, val_acc, test_acc, train_time_s, epoch_ended, rank (None while not
    completed), balanced_acc and macro_f1 (every class counting the same; None while not completed
    or when the run kept no test report), plus status, run_id, model, fine_tune, augmentation, pareto
    and wizard_pick (the run is the wizard's pick: wizard_pick.is_wizard_pick, the rule the Wizard
    page uses too); and, for
    runs that kept their test predictions, test_acc_ci ([low, high], 95%) and tied_for_first (within
    noise of rank 1 on the same test images). Each table also says which of the wizard's tuned
    settings the study overrode ("overridden").
    """
    if isinstance(plan, str):
        plan = load_study(plan, store.workspace)
    runs = matching_runs(plan, store)
    tables = []
    for size in plan.sizes:
        entries = plan.entries_for(size)
        shown = {}
        for e in entries:
            records = runs.get(e.key, [])
            shown[e.key] = completed_run(records) or (records[0] if records else None)
        ranked_list = ranked_rows(r for r in shown.values() if r is not None and r.status == RunStatus.COMPLETED)
        ranked = {row.run_id: row for row in ranked_list}
        trust = trust_by_run(ranked_list, store.workspace)
        ranked_runs = sorted((r for r in shown.values() if r is not None and r.id in ranked),
                             key=lambda r: ranked[r.id].rank)
        advice = plan.wizard_advice(size)
        pick = wizard_pick_run(ranked_runs, advice) if advice is not None else None
        rows = []
        for e in entries:
            record = shown[e.key]
            ranked_row = ranked.get(record.id) if record is not None else None
            run_trust = trust.get(record.id) if ranked_row else None
            rows.append({
                "config": e.description, "model": e.config.model, "fine_tune": e.config.fine_tune,
                "augmentation": e.config.augmentation,
                "val_loss": record.val_loss if ranked_row else None,
                "val_acc": record.val_acc if ranked_row else None,
                "test_acc": record.test_acc if ranked_row else None,
                "train_time_s": record.train_time_s if ranked_row else None,
                "epoch_ended": record.epoch_ended if ranked_row else None,
                "rank": ranked_row.rank if ranked_row else None,
                **_class_fair_scores(ranked_row, run_trust),
                "pareto": ranked_row.pareto if ranked_row else False,
                "status": record.status if record is not None else PENDING,
                "run_id": record.id if record is not None else None,
                "wizard_pick": record is not None and record is pick,
                **_trust_keys(run_trust),
            })
        overridden = overridden_settings(entries[0].config) if entries else ()
        tables.append({"num_images": size, "rows": rows, "overridden": overridden})
    return tables


def _class_fair_scores(ranked_row: RankedRun | None, trust) -> dict[str, Any]:
    """Balanced accuracy and macro-F1 as Compare shows them: from the stored test predictions, the test
    report's confusion matrix filling in for a run stored without them."""
    if ranked_row is None:
        return dict.fromkeys((BALANCED_ACC, MACRO_F1))
    iv = trust.intervals if trust else None
    from_predictions = {BALANCED_ACC: iv.balanced_accuracy.value if iv else None,
                        MACRO_F1: iv.macro_f1.value if iv else None}
    return keep_known(from_predictions, {BALANCED_ACC: ranked_row.balanced_acc, MACRO_F1: ranked_row.macro_f1})


def _trust_keys(trust) -> dict[str, Any]:
    iv = trust.intervals if trust else None
    return {"test_acc_ci": iv.accuracy.as_list() if iv else None,
            "tied_for_first": trust.tied_for_first if trust else None}


def format_tables(tables: list[dict[str, Any]]) -> str:
    """The tables in the reference study's Markdown layout (compare.format_study_table)."""
    blocks = []
    for table in tables:
        n = table["num_images"]
        rows = [RankedRun(run_id=r.get("run_id"), dataset="", num_images=n,
                          description=r["config"] if r["rank"] is not None else f"{r['config']} ({r['status']})",
                          val_loss=r["val_loss"], val_acc=r["val_acc"], test_acc=r["test_acc"],
                          train_time_s=r["train_time_s"], epoch_ended=r["epoch_ended"], rank=r["rank"])
                for r in table["rows"]]
        blocks.append(format_study_table(rows, n))
    return "\n".join(blocks)


# Within this many points of the best test accuracy a configuration counts as "as good".
MATCH_POINTS = 1.0


def study_conclusion(tables: list[dict[str, Any]], wizard_pick: str | Mapping[int, str] | None = None) -> list[str]:
    """A short written conclusion from the numbers: the best configuration per size, the best value
    (test accuracy per minute of training among configurations within MATCH_POINTS of the best, so
    a fast run that learned nothing is no bargain), where the wizard's pick ranked, and whether more
    data still helps (the learning curve of the best test accuracy)."""
    out: list[str] = []
    best_by_size: list[tuple[int, dict[str, Any]]] = []
    for table in tables:
        n = table["num_images"]
        ranked = sorted((r for r in table["rows"] if r.get("rank") is not None), key=lambda r: r["rank"])
        if not ranked:
            out.append(f"{n:,} images: no configuration has finished yet.")
            continue
        best = ranked[0]
        best_by_size.append((n, best))
        tied = [r for r in ranked[1:] if r.get("tied_for_first")]
        if tied:
            # Within noise of each other on the same test images: no winner by a hair.
            names = ", ".join(f"{r['config']} ({_pct(r['test_acc'])})" for r in tied)
            sentence = (f"{n:,} images: tied for best were {best['config']} ({_pct(best['test_acc'])} in "
                        f"{format_duration(best['train_time_s'])}) and {names}: their differences on the same "
                        "test images are within noise, so the ranking between them is no real win")
        else:
            sentence = (f"{n:,} images: best was {best['config']} with {_pct(best['test_acc'])} test "
                        f"accuracy in {format_duration(best['train_time_s'])}")
        value = _best_value(ranked)
        if value is not None and value is not best:
            sentence += (f"; best value was {value['config']}, {_pct(value['test_acc'])} in "
                         f"{format_duration(value['train_time_s'])} ({_per_minute(value)} points per minute "
                         f"against {_per_minute(best)})")
        elif value is best:
            sentence += "; it was also the best value (accuracy per minute of training)"
        unfinished = len(table["rows"]) - len(ranked)
        if unfinished:
            sentence += f" ({len(ranked)} of {len(table['rows'])} configurations finished)"
        out.append(sentence + ".")
        pick = wizard_pick.get(n) if isinstance(wizard_pick, Mapping) else wizard_pick
        if pick:
            out.append(_wizard_sentence(n, pick, ranked, table.get("overridden", ())))
    if len(tables) < 2:
        out.append("Run the study at two or more sizes to see whether more data still helps.")
    out.extend(_learning_curve(best_by_size))
    return out


def _best_value(ranked: list[dict[str, Any]]) -> dict[str, Any] | None:
    top = ranked[0]["test_acc"]
    close = [r for r in ranked if (top - r["test_acc"]) * 100 <= MATCH_POINTS
             and r.get("train_time_s") and r["train_time_s"] > 0]
    if not close:
        return None
    return max(close, key=lambda r: (r["test_acc"] / r["train_time_s"], -r["rank"]))


def _wizard_sentence(n: int, pick: str, ranked: list[dict[str, Any]], overridden: tuple[str, ...] = ()) -> str:
    best = ranked[0]
    row = next((r for r in ranked if r.get("wizard_pick")), None)
    if row is None and overridden:
        words = ", ".join(s.replace("_", " ") for s in overridden)
        return (f"{n:,} images: the wizard's pick, {pick}, was not measured with the wizard's settings: this "
                f"study set the {words} itself, so no run here is the wizard's pick.")
    if row is None:
        return f"{n:,} images: the wizard's pick, {pick}, was not measured in this study."
    if row is best:
        if any(r.get("tied_for_first") for r in ranked[1:]):
            return f"{n:,} images: the wizard's pick, {pick}, ranked first, tied with others within noise."
        return f"{n:,} images: the wizard's pick, {pick}, was the winner."
    if row.get("tied_for_first"):
        return (f"{n:,} images: the wizard's pick, {pick}, ranked {ordinal(row['rank'])} of {len(ranked)} "
                f"but is tied for first with {best['config']}: the difference is within noise.")
    gap = (best["test_acc"] - row["test_acc"]) * 100
    if gap < 0.05:  # same accuracy: ranked lower on validation loss or time
        return (f"{n:,} images: the wizard's pick, {pick}, ranked {ordinal(row['rank'])} of {len(ranked)}, "
                f"with the same test accuracy as {best['config']} (which won on validation loss or time).")
    return (f"{n:,} images: the wizard's pick, {pick}, ranked {ordinal(row['rank'])} of {len(ranked)}; "
            f"{best['config']} was {gap:.1f} points better.")


def _learning_curve(best_by_size: list[tuple[int, dict[str, Any]]]) -> list[str]:
    if len(best_by_size) < 2:
        return []
    (n0, b0), (n1, b1) = best_by_size[-2], best_by_size[-1]
    gain = (b1["test_acc"] - b0["test_acc"]) * 100
    curve = ", ".join(f"{_pct(b['test_acc'])} at {n:,}" for n, b in best_by_size)
    if gain > MATCH_POINTS:
        verdict = (f"More data still helps: going from {n0:,} to {n1:,} training images added "
                   f"{gain:.1f} points, so collecting more images is likely to pay off.")
    elif gain >= -MATCH_POINTS:
        verdict = (f"The learning curve has flattened: {n0:,} to {n1:,} training images changed the best "
                   f"test accuracy by {gain:+.1f} points, so more images of the same kind will add "
                   "little; a larger model, pretrained weights or cleaner labels may help more.")
    else:
        verdict = (f"More data did not help here: the best test accuracy fell by {-gain:.1f} points from "
                   f"{n0:,} to {n1:,} training images (same test images), which points to training "
                   "settings (epochs, learning rate) rather than data.")
    return [f"Best test accuracy by size: {curve}.", verdict]


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _per_minute(row: Mapping[str, Any]) -> str:
    return f"{row['test_acc'] * 100 / (row['train_time_s'] / 60):.1f}"

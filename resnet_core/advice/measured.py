"""The wizard that learns: what the runs measured on a dataset say about the card-based advice.

A pure function over stored runs. Runs compete only at the same number of training images (as in
the study); the advice speaks about the largest size measured with two or more configurations, the
one closest to training on everything.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from resnet_core.advice.wizard_pick import is_wizard_pick, overridden_settings, wizard_pick_run
from resnet_core.config import MODEL_LABELS, describe_config
from resnet_core.runs.store import RunRecord
from resnet_core.status import RunStatus
from resnet_core.text import ordinal

# Within this many points of test accuracy two configurations count as a match.
MATCH_POINTS = 1.0
# A configuration is "cheaper" when it needs at most this share of the other's training time.
CHEAPER_SHARE = 0.75


def measured_advice(dataset: str, runs: Any, recommendation: Any = None) -> list[str]:
    """Sentences comparing measured runs on `dataset` with the wizard's advice.

    runs: RunRecords, or a run store (its runs are read). recommendation: anything with model,
    fine_tune and augmentation (a recommend.Recommendation or a TrainConfig), or None. Empty when
    no completed run of the dataset has a test accuracy.
    """
    records = runs.list_runs(dataset=dataset) if hasattr(runs, "list_runs") else runs
    scored = [r for r in records if r.dataset == dataset and _scored(r)]
    if not scored:
        return []
    n, group = _group_to_discuss(scored)
    ranked = sorted(_best_per_config(group, recommendation), key=_order_key)
    best = ranked[0]
    where = f"On your data ({n:,} training images, {len(ranked)} configuration{'s' * (len(ranked) != 1)})"
    out: list[str] = []

    pick = _pick(recommendation, ranked)
    if recommendation is not None and pick is None:
        wanted = describe_config(recommendation.model, recommendation.fine_tune, recommendation.augmentation)
        out.append(f"{where} the wizard's pick, {wanted}, has not been measured with the wizard's settings "
                   "yet; the best measured "
                   f"is {best.description} with {_pct(best.test_acc)} test accuracy.")
    elif pick is best:
        out.append(f"{where} the wizard's pick, {best.description}, ranked 1st of {len(ranked)} "
                   f"with {_pct(best.test_acc)}: the measurement agrees with the model cards.")
    elif pick is not None:
        rank = ranked.index(pick) + 1
        gap = _points(best.test_acc - pick.test_acc)
        winner = best.description
        if winner == pick.description:  # the same configuration, with settings changed by hand
            winner = (f"run #{best.id}, the same configuration with its "
                      f"{', '.join(s.replace('_', ' ') for s in overridden_settings(best.config))} changed,")
        better = (f"{winner} was {gap:.1f} points better" if gap >= 0.05 else
                  f"{winner} had the same test accuracy and won on validation loss or time")
        out.append(f"{where} the wizard's pick, {pick.description}, ranked {ordinal(rank)} of "
                   f"{len(ranked)}; {better}{_time_clause(best, pick)}.")
    else:
        out.append(f"{where} the best was {best.description} with {_pct(best.test_acc)} test accuracy.")

    cheaper = _cheaper_match(best, ranked)
    if cheaper is not None:
        gap = _points(best.test_acc - cheaper.test_acc)
        how = "matched" if gap < 0.05 else f"came within {gap:.1f} points of"
        out.append(f"{cheaper.description} {how} {best.description} at "
                   f"{_share_words(cheaper.train_time_s / best.train_time_s)} of the time.")
    out.extend(_depth_sentence(ranked, recommendation))
    out.extend(_effect_sentences(ranked, recommendation))
    return out


@dataclass(frozen=True)
class MeasuredRanking:
    """The measured configurations measured_advice speaks about, for a page to list beside it."""

    num_train: int  # the training-set size discussed
    runs: tuple[RunRecord, ...]  # the best run of each configuration at that size, best first
    pick: RunRecord | None  # the measured configuration the wizard advised (exact or closest), if any

    @property
    def verdict(self) -> str:
        """'agrees' (the pick ranked first), 'close' (within MATCH_POINTS of the best), 'disagrees',
        or 'unmeasured' (no pick given, or not measured)."""
        if self.pick is None:
            return "unmeasured"
        if self.pick is self.runs[0]:
            return "agrees"
        gap = _points(self.runs[0].test_acc - self.pick.test_acc)
        return "close" if gap <= MATCH_POINTS else "disagrees"


def measured_ranking(dataset: str, runs: Any, recommendation: Any = None) -> MeasuredRanking | None:
    """The ranking behind measured_advice: same size chosen, same order; None without measured runs."""
    records = runs.list_runs(dataset=dataset) if hasattr(runs, "list_runs") else runs
    scored = [r for r in records if r.dataset == dataset and _scored(r)]
    if not scored:
        return None
    n, group = _group_to_discuss(scored)
    ranked = sorted(_best_per_config(group, recommendation), key=_order_key)
    return MeasuredRanking(n, tuple(ranked), _pick(recommendation, ranked))


def _scored(r: RunRecord) -> bool:
    return (r.status == RunStatus.COMPLETED and r.config is not None and r.test_acc is not None
            and math.isfinite(r.test_acc))


def _group_to_discuss(runs: list[RunRecord]) -> tuple[int, list[RunRecord]]:
    groups: dict[int, list[RunRecord]] = {}
    for r in runs:
        groups.setdefault(r.num_train or 0, []).append(r)
    several = [n for n, g in groups.items() if len({_config_of(r) for r in g}) >= 2]
    n = max(several) if several else max(groups)
    return n, groups[n]


def _config_of(r: RunRecord) -> tuple[str, bool, str]:
    return r.config.model, r.config.fine_tune, r.config.augmentation


def _order_key(r: RunRecord) -> tuple:
    # As compare.ranked_rows: test accuracy, then validation loss, then time, then the older run.
    return (-r.test_acc, _inf(r.val_loss), _inf(r.train_time_s), r.id)


def _inf(value: float | None) -> float:
    return math.inf if value is None or not math.isfinite(value) else value


def _best_per_config(runs: list[RunRecord], recommendation: Any = None) -> list[RunRecord]:
    """The best run of each configuration; runs that are the wizard's pick count apart from runs of
    the same configuration with settings changed by hand, so the pick is never one of those."""
    best: dict[tuple, RunRecord] = {}
    for r in sorted(runs, key=_order_key):
        best.setdefault((_config_of(r), is_wizard_pick(r.config, recommendation)), r)
    return list(best.values())


def _pick(recommendation: Any, ranked: list[RunRecord]) -> RunRecord | None:
    """The measured run that is the wizard's pick (wizard_pick: the one rule the Study page uses too)."""
    return None if recommendation is None else wizard_pick_run(ranked, recommendation)


def _time_clause(best: RunRecord, other: RunRecord) -> str:
    if not best.train_time_s or not other.train_time_s:
        return ""
    ratio = best.train_time_s / other.train_time_s
    if 0.9 <= ratio <= 1.1:
        return " in about the same time"
    if ratio > 1:
        return f" but took {ratio:.1f}× as long"
    return f" in {_share_words(ratio)} of the time"


def _cheaper_match(best: RunRecord, ranked: list[RunRecord]) -> RunRecord | None:
    """The fastest other configuration within MATCH_POINTS of the best at under CHEAPER_SHARE of its time."""
    if not best.train_time_s:
        return None
    close = [r for r in ranked[1:] if _points(best.test_acc - r.test_acc) <= MATCH_POINTS
             and r.train_time_s and r.train_time_s <= CHEAPER_SHARE * best.train_time_s]
    return min(close, key=lambda r: (r.train_time_s, _order_key(r))) if close else None


def _depth_sentence(ranked: list[RunRecord], recommendation: Any) -> list[str]:
    """Best of each depth measured; said when the advised depth was not the better one."""
    best_by_model: dict[str, RunRecord] = {}
    for r in ranked:
        best_by_model.setdefault(r.config.model, r)
    if len(best_by_model) < 2 or recommendation is None or recommendation.model not in best_by_model:
        return []
    advised = best_by_model[recommendation.model]
    winner = ranked[0]
    if winner.config.model == recommendation.model:
        return []
    gap = _points(winner.test_acc - advised.test_acc)
    label, other = MODEL_LABELS[recommendation.model], MODEL_LABELS[winner.config.model]
    if gap <= MATCH_POINTS:
        closeness = "reached the same accuracy" if gap < 0.05 else f"were within {gap:.1f} points of each other"
        return [f"{other} and {label} {closeness} here, so the cards' choice of {label} costs little."]
    return [f"The cards advise {label}, but on your data {other} was {gap:.1f} points better at its best; "
            f"consider {other} for this dataset."]


def _effect_sentences(ranked: list[RunRecord], recommendation: Any) -> list[str]:
    """Average effect of augmentation and of fine-tuning over configurations that differ only in it."""
    by_config: dict[tuple, RunRecord] = {}
    for r in ranked:  # best first: a configuration measured twice counts with its best run
        by_config.setdefault(_config_of(r), r)
    out = []
    aug_diffs = [_points(r.test_acc - by_config[(m, ft, "none")].test_acc)
                 for (m, ft, aug), r in by_config.items() if aug != "none" and (m, ft, "none") in by_config]
    if aug_diffs:
        mean = sum(aug_diffs) / len(aug_diffs)
        advised = recommendation is not None and recommendation.augmentation != "none"
        if mean > MATCH_POINTS:
            out.append(f"Augmentation helped{' as the cards advise' if advised else ''}: "
                       f"{mean:+.1f} points on average over {_pairs(len(aug_diffs))}.")
        elif mean < -MATCH_POINTS:
            out.append(f"Augmentation cost {-mean:.1f} points on average over {_pairs(len(aug_diffs))}"
                       f"{', although the cards advise it' if advised else ''}; more epochs may be "
                       "needed for it to pay off.")
        else:
            out.append(f"Augmentation made little difference ({mean:+.1f} points on average over "
                       f"{_pairs(len(aug_diffs))}).")
    ft_diffs = [_points(r.test_acc - by_config[(m, False, aug)].test_acc)
                for (m, ft, aug), r in by_config.items() if ft and (m, False, aug) in by_config]
    if ft_diffs:
        mean = sum(ft_diffs) / len(ft_diffs)
        if mean > MATCH_POINTS:
            out.append(f"Fine-tuning beat a frozen backbone by {mean:.1f} points on average over "
                       f"{_pairs(len(ft_diffs))}.")
        elif mean < -MATCH_POINTS:
            out.append(f"A frozen backbone beat fine-tuning by {-mean:.1f} points on average over "
                       f"{_pairs(len(ft_diffs))}, although the cards advise fine-tuning.")
        else:
            out.append(f"Fine-tuning and a frozen backbone scored alike ({mean:+.1f} points on average "
                       f"over {_pairs(len(ft_diffs))}).")
    return out


def _pairs(n: int) -> str:
    return "1 pair" if n == 1 else f"{n} pairs"


def _points(diff: float) -> float:
    return diff * 100


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _share_words(share: float) -> str:
    """0.33 → 'a third', 0.5 → 'half', 0.27 → 'a quarter', 0.6 → '60%'."""
    for value, words in ((1 / 2, "half"), (1 / 3, "a third"), (1 / 4, "a quarter"), (1 / 5, "a fifth")):
        if abs(share - value) <= 0.03:
            return words
    return f"{share:.0%}"

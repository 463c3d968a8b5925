"""The race's table: furthest round and lowest loss first, the winner marked, unmeasured last; its progress
line, whose time left never passes the budget, and what a cancel says; the budget offered before it starts."""
from __future__ import annotations

import dataclasses

from resnet_core.advice import estimate
from resnet_core.advice.race import Candidate, RaceResult, Trial
from resnet_core.advice.race_job import RACE_STAGE, RaceJobSnapshot
from resnet_core.advice.recommend import recommend
from resnet_core.config import TrainConfig
from resnet_core.views.race_view import (
    MAX_MINUTES,
    UNMEASURED_MINUTES,
    budget_caption,
    cancelled_text,
    race_budget,
    race_progress_text,
    race_rows,
)


def test_rows_put_the_furthest_and_best_first_and_mark_the_winner():
    base = TrainConfig(dataset="d")
    cands = [Candidate(n, {}, f"card says {n}", dataclasses.replace(base, seed=i)) for i, n in enumerate("abcd")]
    key = {c.name: c.key for c in cands}
    trials = [Trial("a", key["a"], 0, 10, 3, 0.9, 0.5, 1.0), Trial("b", key["b"], 0, 10, 3, 0.5, 0.8, 1.0),
              Trial("c", key["c"], 0, 10, 3, 0.7, 0.6, 1.0), Trial("b", key["b"], 1, 20, 3, 0.4, 0.9, 1.0),
              Trial("c", key["c"], 1, 20, 3, 0.45, 0.85, 1.0)]
    result = RaceResult(candidates=cands + [Candidate("e", {}, "x", dataclasses.replace(base, seed=9))],
                        trials=trials, winner_key=key["b"])
    rows = race_rows(result)
    assert [r["Candidate"] for r in rows] == ["b", "c", "a", "d", "e"][:3] + ["d", "e"]
    assert rows[0]["Pick"] == "★" and all(r["Pick"] == "" for r in rows[1:])
    assert rows[0]["Round"] == 2 and rows[0]["Images"] == 20 and rows[0]["From"] == "card says b"
    assert rows[3]["Val loss"] is None and rows[3]["Round"] is None


def racing(done: int, total: int, stage_seconds: float, budget_s: float = 300.0) -> RaceJobSnapshot:
    return RaceJobSnapshot("running", budget_s, RACE_STAGE, done, total, now="round 1: ResNet18",
                           seconds=stage_seconds + 30, stage_seconds=stage_seconds)


def test_the_time_left_goes_by_the_trials_pace_within_the_budget():
    # 2 of 10 trials in 40 s: 160 s more at that pace, and 260 s of the budget are left.
    assert race_progress_text(racing(2, 10, 40.0)) == \
        "Race: 2 of 10 trials done · now round 1: ResNet18 · about 2 min 40 s left of the 5-minute budget"
    # 1 of 10 in 250 s: the pace says 37 min, but the race stops when its budget is spent.
    assert race_progress_text(racing(1, 10, 250.0)).endswith("about 50 s left of the 5-minute budget")
    # before a trial has finished there is no pace: the budget is the bound
    assert race_progress_text(racing(0, 10, 15.0, budget_s=90.0)).endswith(
        "about 1 min 15 s left of the 1.5-minute budget")
    assert race_progress_text(racing(0, 10, 0.0, budget_s=30.0)).endswith("of the 30-second budget")


def test_reading_the_images_goes_by_its_own_pace_before_the_budget_starts():
    decoding = RaceJobSnapshot("running", 300.0, "decoding", 1280, 5120, seconds=40.0, stage_seconds=40.0)
    assert race_progress_text(decoding) == "Decoding the images at the race's size: 1,280 of 5,120 · about 2 min left"
    assert race_progress_text(RaceJobSnapshot("running", 300.0, seconds=3.0)) == "Starting the race… · 3.0s so far"
    measuring = RaceJobSnapshot("running", 300.0, "measuring", seconds=45.0, stage_seconds=2.0)
    assert race_progress_text(measuring) == "Measuring this machine's speed for the race… · 45s so far"


def test_a_cancel_says_whether_anything_was_measured():
    cand = Candidate("a", {}, "card", TrainConfig(dataset="d"))
    measured = RaceResult(candidates=[cand], trials=[Trial("a", cand.key, 0, 10, 3, 0.9, 0.5, 1.0)], cancelled=True)
    assert "below is what it measured before the cancel" in cancelled_text(measured)
    assert "before any trial finished" in cancelled_text(RaceResult(candidates=[cand], cancelled=True))
    assert "before any trial finished" in cancelled_text(None)


def test_the_race_budget_is_a_share_of_the_recommended_runs_measured_time(monkeypatch):
    rec = recommend(2000, 10, None, weights="none")
    asked = []

    def cached(model, batch_size, image_size, fine_tune, device, steps=3):
        asked.append((model, batch_size, image_size, fine_tune, device))
        return 2.0

    monkeypatch.setattr(estimate, "cached_throughput", cached)
    budget = race_budget(rec, 1400, 300, 300, "cpu")
    seconds = estimate.estimate_training_time(rec, 1400, 300, 2.0, num_test=300).seconds
    assert asked == [(rec.model, rec.batch_size, rec.image_size, rec.fine_tune, "cpu")]
    assert budget.recommended_s == seconds
    assert budget.minutes == round(0.15 * seconds / 60, 1) and budget.minutes > 0.5  # above the floor


def test_a_fast_machine_gets_the_races_floor_and_an_unmeasured_one_five_minutes(monkeypatch):
    rec = recommend(2000, 10, None, weights="none")
    monkeypatch.setattr(estimate, "cached_throughput", lambda *a, **k: 1e9)
    assert race_budget(rec, 1400, 300, 300, "cpu").minutes == 0.5  # the 30 s floor
    monkeypatch.setattr(estimate, "cached_throughput", lambda *a, **k: None)
    unmeasured = race_budget(rec, 1400, 300, 300, "cpu")
    assert unmeasured.minutes == UNMEASURED_MINUTES == 5.0 and unmeasured.recommended_s is None


def test_a_day_long_recommended_run_gets_at_most_the_boxs_four_hours(monkeypatch):
    rec = recommend(2000, 10, None, weights="none")
    monkeypatch.setattr(estimate, "cached_throughput", lambda *a, **k: 0.01)  # ResNet-101 on a slow CPU
    budget = race_budget(rec, 1400, 300, 300, "cpu")
    assert budget.recommended_s > 240 * 60 / 0.15  # 15% of it would be more than four hours
    assert budget.minutes == MAX_MINUTES == 240.0


def test_the_budget_caption_states_the_time_and_its_share_before_the_race():
    assert budget_caption(3.5, 1400.0) == ("The race gets about 3m 30s (15% of the recommended run's "
                                           "estimated 23m 20s).")
    unmeasured = budget_caption(5.0, None)
    assert unmeasured.startswith("The race gets about 5m 0s.") and "Measure the training time" in unmeasured
